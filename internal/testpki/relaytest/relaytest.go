// Package relaytest runs wsca's relay in-process for the tests of its clients (doctor, wsclient), on the
// testpki hierarchy. It is a package of its own so that testpki stays importable by relay's own tests.
package relaytest

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wsca/wsca/internal/testpki"
	"github.com/wsca/wsca/relay"
)

const relayConfig = `listen: 127.0.0.1:0
tls: {cert: CERT, key: server.key}
client_ca: ca.crt
crl: crl.pem
shutdown_grace: 200ms
routes:
  - path: /secure
    backend: ws://ECHO
  - path: /alice-only
    backend: ws://ECHO
    allow_cn: [alice]
  - path: /down
    backend: ws://DEAD
`

// Start runs `wsca serve`'s relay in-process (relay.New + Serve) on the test PKI's server files, in front of an
// echo backend, and returns its address; it stops when t ends. With leafOnly its certificate file holds only
// the server certificate, without the intermediate. The routes: /secure (any client of the test CA),
// /alice-only (CN alice), /down (a backend where nothing listens).
func Start(t *testing.T, leafOnly bool) string {
	t.Helper()
	dir := t.TempDir()
	testpki.Get(t).WriteServerFiles(t, dir)
	return StartIn(t, dir, leafOnly)
}

// StartIn starts the relay on the server files already written into dir (testpki.PKI.WriteServerFiles).
func StartIn(t *testing.T, dir string, leafOnly bool) string {
	t.Helper()
	echo := httptest.NewServer(relay.EchoBackend())
	t.Cleanup(echo.Close)
	cert := "server.crt"
	if leafOnly {
		cert = "leaf.crt"
	}
	yml := strings.NewReplacer("CERT", cert, "ECHO", echo.Listener.Addr().String(), "DEAD", testpki.DeadAddr(t)).Replace(relayConfig)
	cfgPath := filepath.Join(dir, "relay.yaml")
	if err := os.WriteFile(cfgPath, []byte(yml), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := relay.LoadConfig(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	logs := &testpki.Buffer{}
	srv, err := relay.New(cfg, slog.New(slog.NewTextHandler(logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			t.Errorf("relay shutdown: %v", err)
		}
		if err := <-done; !errors.Is(err, relay.ErrServerClosed) {
			t.Errorf("relay Serve: %v", err)
		}
		if t.Failed() {
			t.Logf("relay log:\n%s", logs.String())
		}
	})
	return ln.Addr().String()
}
