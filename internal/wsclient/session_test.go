package wsclient

import (
	"context"
	"crypto/tls"
	"errors"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wsca/wsca/internal/testpki"
	"github.com/wsca/wsca/internal/testpki/relaytest"
)

// echoes collects the messages a Session receives.
type echoes struct {
	mu   sync.Mutex
	msgs []string
}

func (e *echoes) add(m []byte) { e.mu.Lock(); e.msgs = append(e.msgs, string(m)); e.mu.Unlock() }
func (e *echoes) all() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return slices.Clone(e.msgs)
}

func TestSessionEchoOnce(t *testing.T) {
	p := testpki.Get(t)
	addr := relaytest.Start(t, false)
	var got echoes
	err := Session(context.Background(), "wss://"+addr+"/secure", SessionOptions{TLS: p.ClientTLS(&p.Alice),
		Message: "hello from alice", OnMessage: got.add})
	if err != nil {
		t.Fatal(err)
	}
	if m := got.all(); len(m) != 1 || m[0] != "hello from alice" {
		t.Fatalf("echoes %q", m)
	}
}

func TestSessionRepeatsForABoundedTime(t *testing.T) {
	p := testpki.Get(t)
	addr := relaytest.Start(t, false)
	var got echoes
	start := time.Now()
	err := Session(context.Background(), "wss://"+addr+"/secure", SessionOptions{TLS: p.ClientTLS(&p.Alice),
		Message: "tick", Every: 50 * time.Millisecond, For: 400 * time.Millisecond, OnMessage: got.add})
	if err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d < 400*time.Millisecond || d > 3*time.Second {
		t.Errorf("session lasted %s, want about 400ms", d)
	}
	if n := len(got.all()); n < 4 {
		t.Errorf("%d echoes in 400ms at 50ms intervals", n)
	}
}

func TestSessionRefused(t *testing.T) {
	p := testpki.Get(t)
	addr := relaytest.Start(t, false)
	tests := []struct {
		name string
		cert *tls.Certificate
		path string
		want string
	}{
		{"no certificate", nil, "/secure", "the server refused the WebSocket upgrade: 403 Forbidden: client certificate required"},
		{"revoked at the handshake", &p.Bob, "/secure", "the server refused the client certificate (TLS alert bad_certificate)"},
		{"backend down", &p.Alice, "/down", "the server refused the WebSocket upgrade: 502 Bad Gateway: backend unavailable"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := Session(context.Background(), "wss://"+addr+tt.path, SessionOptions{TLS: p.ClientTLS(tt.cert), Message: "x"})
			if !errors.Is(err, ErrClosedByServer) || err.Error() != tt.want {
				t.Fatalf("error %v, want %q (wrapping ErrClosedByServer)", err, tt.want)
			}
		})
	}
}

func TestSessionOptions(t *testing.T) {
	for _, o := range []SessionOptions{{Every: time.Second}, {For: -time.Second}} {
		if err := Session(context.Background(), "wss://127.0.0.1:1/", o); err == nil || errors.Is(err, ErrClosedByServer) {
			t.Errorf("%+v: error %v", o, err)
		}
	}
}

// TestSessionCutOnRevocation is the demo's story: a session is open, the CRL on disk changes to list the
// client, and the relay cuts it; Session names the close code and reason.
func TestSessionCutOnRevocation(t *testing.T) {
	p := testpki.Get(t)
	dir := t.TempDir()
	p.WriteServerFiles(t, dir)
	p.WriteCRL(t, filepath.Join(dir, "crl.pem"), 10) // carol not revoked yet
	addr := relaytest.StartIn(t, dir, false)

	var got echoes
	done := make(chan error, 1)
	start := time.Now()
	go func() {
		done <- Session(context.Background(), "wss://"+addr+"/secure", SessionOptions{TLS: p.ClientTLS(&p.Carol),
			Message: "carol here", Every: 100 * time.Millisecond, For: 20 * time.Second, OnMessage: got.add})
	}()
	for len(got.all()) == 0 {
		if time.Since(start) > 5*time.Second {
			t.Fatal("no echo before the revocation")
		}
		time.Sleep(20 * time.Millisecond)
	}
	revokedAt := time.Now()
	p.WriteCRL(t, filepath.Join(dir, "crl.pem"), 11, p.Carol.Leaf.SerialNumber, p.BobSerial)
	select {
	case err := <-done:
		var ce *ClosedError
		if !errors.As(err, &ce) || ce.Code != 1008 || !strings.HasPrefix(err.Error(), "the relay closed the session: 1008 ") {
			t.Fatalf("error %v, want a close 1008", err)
		}
		if d := time.Since(revokedAt); d > 2*time.Second {
			t.Errorf("cut after %s", d)
		}
		t.Logf("%v after %s", err, time.Since(revokedAt).Round(time.Millisecond))
	case <-time.After(10 * time.Second):
		t.Fatal("the session of a revoked client was not cut")
	}
}
