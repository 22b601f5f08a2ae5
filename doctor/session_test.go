package doctor

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"math/big"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wsca/wsca/crl"
)

// clientTLS trusts the test root and always presents cert.
func clientTLS(p *testPKI, cert *tls.Certificate) *tls.Config {
	pool := x509.NewCertPool()
	pool.AddCert(p.h.Root.Cert)
	cfg := &tls.Config{RootCAs: pool}
	if cert != nil {
		cfg.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return cert, nil }
	}
	return cfg
}

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
	p := getPKI(t)
	addr := startRelay(t, false)
	var got echoes
	err := Session(context.Background(), "wss://"+addr+"/secure", SessionOptions{TLS: clientTLS(p, &p.alice),
		Message: "hello from alice", OnMessage: got.add})
	if err != nil {
		t.Fatal(err)
	}
	if m := got.all(); len(m) != 1 || m[0] != "hello from alice" {
		t.Fatalf("echoes %q", m)
	}
}

func TestSessionRepeatsForABoundedTime(t *testing.T) {
	p := getPKI(t)
	addr := startRelay(t, false)
	var got echoes
	start := time.Now()
	err := Session(context.Background(), "wss://"+addr+"/secure", SessionOptions{TLS: clientTLS(p, &p.alice),
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
	p := getPKI(t)
	addr := startRelay(t, false)
	tests := []struct {
		name string
		cert *tls.Certificate
		path string
		want string
	}{
		{"no certificate", nil, "/secure", "the server refused the WebSocket upgrade: 403 Forbidden: client certificate required"},
		{"revoked at the handshake", &p.bob, "/secure", "the server refused the client certificate (TLS alert bad_certificate)"},
		{"backend down", &p.alice, "/down", "the server refused the WebSocket upgrade: 502 Bad Gateway: backend unavailable"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := Session(context.Background(), "wss://"+addr+tt.path, SessionOptions{TLS: clientTLS(p, tt.cert), Message: "x"})
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
	p := getPKI(t)
	dir := t.TempDir()
	p.writeServerFiles(t, dir)
	writeCRL(t, p, filepath.Join(dir, "crl.pem"), 10) // carol not revoked yet
	addr := startRelayIn(t, dir, false)

	var got echoes
	done := make(chan error, 1)
	start := time.Now()
	go func() {
		done <- Session(context.Background(), "wss://"+addr+"/secure", SessionOptions{TLS: clientTLS(p, &p.carol),
			Message: "carol here", Every: 100 * time.Millisecond, For: 20 * time.Second, OnMessage: got.add})
	}()
	for len(got.all()) == 0 {
		if time.Since(start) > 5*time.Second {
			t.Fatal("no echo before the revocation")
		}
		time.Sleep(20 * time.Millisecond)
	}
	revokedAt := time.Now()
	writeCRL(t, p, filepath.Join(dir, "crl.pem"), 11, p.carol.Leaf.SerialNumber, p.bobSerial)
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

// writeCRL replaces crl.pem atomically (as wsca crl does) with an intermediate CRL listing serials, plus the
// root CRL.
func writeCRL(t *testing.T, p *testPKI, path string, number int64, serials ...*big.Int) {
	t.Helper()
	now := time.Now()
	var entries []crl.Entry
	for _, s := range serials {
		entries = append(entries, crl.Entry{Serial: s, RevokedAt: now, Reason: crl.ReasonKeyCompromise})
	}
	inter, err := crl.Build(crl.Template{Number: big.NewInt(number), ThisUpdate: now.Add(-time.Second), NextUpdate: now.Add(time.Hour),
		Issuer: p.h.Intermediate.Cert, Signer: p.h.Intermediate.Key}, slices.Values(entries))
	if err != nil {
		t.Fatal(err)
	}
	root, err := crl.Build(crl.Template{Number: big.NewInt(number), ThisUpdate: now.Add(-time.Second), NextUpdate: now.Add(time.Hour),
		Issuer: p.h.Root.Cert, Signer: p.h.Root.Key}, slices.Values([]crl.Entry{}))
	if err != nil {
		t.Fatal(err)
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, crl.EncodePEM(inter, root), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}
