package relay

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// TestReloadReauthorizesSessions is issue #10 §3: after a configuration change each open WebSocket is
// re-authorized against the route that now matches its path; the ones no longer allowed are closed with 1008
// and the reason within the same second and logged, the others keep relaying; a reload that changes nothing
// cuts nothing.
func TestReloadReauthorizesSessions(t *testing.T) {
	for _, tc := range []struct {
		name   string
		edit   func(string) string
		victim string // "alice" or "anon" (a session without a certificate on /public)
		reason string
		both   bool // bob (same route as alice) is cut too
	}{
		{"allow_cn", func(s string) string {
			return strings.Replace(s, "  - path: /secure\n", "  - path: /secure\n    allow_cn: [bob]\n", 1)
		}, "alice", ReasonCNNotAllowed, false},
		{"allow_ou", func(s string) string {
			return strings.Replace(s, "  - path: /secure\n", "  - path: /secure\n    allow_ou: [ops]\n", 1)
		}, "alice", ReasonOUNotAllowed, false},
		{"allow_cidr", func(s string) string {
			return strings.Replace(s, "  - path: /secure\n", "  - path: /secure\n    allow_cidr: [10.0.0.0/8]\n", 1)
		}, "alice", ReasonIPNotAllowed, true},
		{"require_client_cert", func(s string) string {
			return strings.Replace(s, "    require_client_cert: false\n", "", 1) // the first one: /public
		}, "anon", ReasonNoCertificate, false},
		{"route removed", func(s string) string {
			s = strings.Replace(s, "  - path: /secure\n    backend: ws://", "  - path: /elsewhere\n    backend: ws://", 1)
			return s[:strings.LastIndex(s, "  - path: /\n")]
		}, "alice", ReasonRouteRemoved, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, nil)
			alice := e.mustDial("/secure", &e.pki.alice)
			bob := e.mustDial("/secure", &e.pki.bob)
			anon := e.mustDial("/public", nil)
			victim, keep := alice, []*websocket.Conn{bob, anon}
			cut := 1
			switch {
			case tc.victim == "anon":
				victim, keep = anon, []*websocket.Conn{alice, bob}
			case tc.both:
				keep, cut = []*websocket.Conn{anon}, 2
			}
			echoOnce(t, victim, "before")

			cfgPath := filepath.Join(e.dir, "relay.yaml")
			data, err := os.ReadFile(cfgPath)
			if err != nil {
				t.Fatal(err)
			}
			// A reload that changes nothing (a comment) cuts nothing.
			writeAtomic(t, cfgPath, append(data, "# touched\n"...))
			if err := e.srv.Reload(); err != nil {
				t.Fatal(err)
			}
			e.waitLog("relay reloaded", "sessions_cut=0")
			echoOnce(t, victim, "after a no-op reload")

			done := readErr(victim)
			writeAtomic(t, cfgPath, []byte(tc.edit(string(data))))
			start := time.Now()
			if err := e.srv.Reload(); err != nil {
				t.Fatal(err)
			}
			select {
			case err := <-done:
				took := time.Since(start)
				var ce websocket.CloseError
				if websocket.CloseStatus(err) != websocket.StatusPolicyViolation || took > time.Second {
					t.Fatalf("session ended with %v after %v, want close 1008 within 1 s", err, took)
				}
				if asCloseError(err, &ce) && !strings.Contains(ce.Reason, tc.reason) {
					t.Errorf("close reason %q does not name %s", ce.Reason, tc.reason)
				}
				t.Logf("cut %v after the reload: %v", took.Round(time.Millisecond), err)
			case <-time.After(3 * time.Second):
				t.Fatal("session still open 3 s after the policy change")
			}
			e.waitLog("session closed: no longer allowed by the relay configuration", "reason="+tc.reason)
			e.waitLog("relay reloaded", "sessions_cut="+strconv.Itoa(cut))
			e.waitMetric(`relay_sessions_cut_total{reason="` + tc.reason + `"} ` + strconv.Itoa(cut))
			for _, c := range keep {
				echoOnce(t, c, "still allowed")
			}
		})
	}
}

func asCloseError(err error, ce *websocket.CloseError) bool { return errors.As(err, ce) }
