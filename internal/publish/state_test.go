package publish

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/wsca/wsca/internal/atomicfile"
	"github.com/wsca/wsca/internal/cadir"
)

// startServer runs a publisher with cfg on loopback, ready, until the returned stop is called.
func startServer(t testing.TB, cfg Config) (srv *Server, url string, stop func()) {
	t.Helper()
	srv, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln, "", "") }()
	select {
	case <-srv.Ready():
	case <-time.After(5 * time.Second):
		t.Fatal("publisher not ready after 5s")
	}
	return srv, "http://" + ln.Addr().String(), func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	}
}

// TestRollbackRefusedAcrossRestart: the highest CRL number survives a restart of the publisher (issue 10 §2),
// so a stale crl.pem put back while it was down is refused by the next publisher too: nothing is served until
// wsca crl publishes a CRL at least as new.
func TestRollbackRefusedAcrossRestart(t *testing.T) {
	f := newFixture(t)
	state := filepath.Join(t.TempDir(), "publish.state.json")
	old, err := os.ReadFile(f.d.File(cadir.CRLFile))
	if err != nil {
		t.Fatal(err)
	}
	f.crl()
	newer, _ := os.ReadFile(f.d.File(cadir.CRLFile))

	_, url, stop := startServer(t, Config{Dir: f.d, StatePath: state})
	if body := getBody(t, url+"/crl.pem"); !bytes.Equal(body, newer) {
		t.Fatal("the first publisher does not serve the newer crl.pem")
	}
	stop()
	if _, err := os.Stat(state); err != nil {
		t.Fatalf("no state file after the first publisher: %v", err)
	}

	if err := atomicfile.Write(f.d.File(cadir.CRLFile), old, 0o644); err != nil {
		t.Fatal(err)
	}
	second, url, stop := startServer(t, Config{Dir: f.d, StatePath: state})
	defer stop()
	if n := second.metrics.crlRefused.Load(); n != 1 {
		t.Fatalf("the restarted publisher refused %d crl.pem versions, want 1 (the stale one)", n)
	}
	resp, err := http.Get(url + "/crl.pem")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("the stale crl.pem after a restart: HTTP %d, want 503 (nothing served)", resp.StatusCode)
	}

	f.crl() // a new CRL, numbered above the mark, is published
	waitFor(t, "the new crl.pem", func() bool { return second.crl.Load().pem != nil })
	if bytes.Equal(second.crl.Load().pem, old) {
		t.Fatal("the stale crl.pem is served")
	}
}

func getBody(t *testing.T, url string) []byte {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return body
}

// TestStateFileCorrupt: a state file that does not parse stops the publisher rather than forgetting the mark.
func TestStateFileCorrupt(t *testing.T) {
	f := newFixture(t)
	state := filepath.Join(t.TempDir(), "publish.state.json")
	if err := os.WriteFile(state, []byte("{not json"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := New(Config{Dir: f.d, StatePath: state}); err == nil {
		t.Fatal("New accepted a corrupt state file")
	}
}
