package interop_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestApacheIdleWebSocket runs the block wsca config apache prints under an httpd.conf whose Timeout is 5 s
// (the test's stand-in for the 60 s default that cut quiet sessions without a close frame): a WebSocket idle
// for longer still echoes, because the printed ProxyPass carries its own tunnel timeout. It also uncomments
// the printed per-path example and checks that Apache accepts it where it stands and enforces it.
func TestApacheIdleWebSocket(t *testing.T) {
	p := newPKI(t, "Interop apache idle")
	backend := newBackend(t)
	port := freePort(t)
	block := p.wsca("config", "apache", "--cert", p.file("srv.crt"),
		"--listen", fmt.Sprintf("127.0.0.1:%d", port), "--backend", backend.URL)
	example := "    # <Location /ops>\n    #     Require expr \"%{SSL_CLIENT_S_DN_OU} == 'ops'\"\n    # </Location>\n"
	if !strings.Contains(block, example) {
		t.Fatalf("the printed block lacks the per-path example:\n%s", block)
	}
	block = strings.Replace(block, example, strings.ReplaceAll(example, "    # ", "    "), 1)
	srv := startApache(t, block, port)
	alice := client{addr: srv.addr, roots: p.roots(), cert: p.cert("alice")}

	ws := mustDialWS(t, alice, "alice")
	wantEcho(t, ws, "alice", "hello", "alice: hello")
	const idle = 7 * time.Second // > Timeout 5 of startApache's httpd.conf
	time.Sleep(idle)
	wantEcho(t, ws, "alice after an idle "+idle.String(), "still there?", "alice: still there?")

	if err := alice.accepted("/headers"); err != nil {
		t.Fatalf("alice on /: %v", err)
	}
	if r := alice.get("/ops/headers", nil); r.err != nil || r.status != http.StatusForbidden {
		t.Fatalf("alice (no OU ops) on /ops with the per-path rule: %v; want 403", r)
	}
}
