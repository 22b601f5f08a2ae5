package relay

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestMetricsAtZeroFromStart (§8): every counter with known label values is exported from the start, at 0, so
// that an increase() alert fires on the first event.
func TestMetricsAtZeroFromStart(t *testing.T) {
	e := newEnv(t, nil)
	for _, series := range []string{
		`relay_reloads_total{result="error"}`, `relay_reloads_total{result="ok"}`,
		`relay_sessions_cut_total{reason="revoked"}`, `relay_sessions_cut_total{reason="expired"}`,
		`relay_sessions_cut_total{reason="idle_timeout"}`, `relay_sessions_cut_total{reason="shutdown"}`,
		`relay_handshakes_total{outcome="rejected",reason="revoked"}`,
		`relay_handshakes_total{outcome="rejected",reason="crl_expired"}`,
		`relay_handshakes_total{outcome="rejected",reason="wrong_eku"}`,
		`relay_policy_rejections_total{reason="no_certificate"}`,
		`relay_connections_refused_total{limit="per_address"}`, `relay_connections_refused_total{limit="reserved"}`,
		`relay_connections_refused_total{limit="anonymous_idle"}`,
	} {
		if n := metricValue(t, e, series); n != 0 {
			t.Errorf("%s = %d at start, want 0", series, n)
		}
	}
}

// TestCRLExpiryErrorLine (§8): one ERROR line at the moment the CRL passes its nextUpdate (without crl_grace: it
// has expired; with it: grace begins) and one when the grace ends, without any client connecting.
func TestCRLExpiryErrorLine(t *testing.T) {
	for _, grace := range []string{"", "crl_grace: 1s\n"} {
		t.Run("grace="+strings.TrimSpace(grace), func(t *testing.T) {
			e := newEnv(t, func(s string) string { return grace + s })
			next := time.Now().Add(1200 * time.Millisecond)
			writeAtomic(t, filepath.Join(e.dir, "crl.pem"), e.pki.crlPEMAt(t, time.Now().Add(-time.Minute), next))
			if err := e.srv.Reload(); err != nil {
				t.Fatal(err)
			}
			if grace != "" {
				line := e.waitLog("level=ERROR", "CRL passed its nextUpdate", "grace_ends=")
				if time.Now().Before(next.Truncate(time.Second)) { // a CRL's times have whole seconds
					t.Errorf("grace line before nextUpdate: %s", line)
				}
			}
			line := e.waitLog("level=ERROR", "CRL expired: every new client certificate is refused")
			if strings.Count(e.logs.String(), "CRL expired: every new") != 1 {
				t.Errorf("expiry logged more than once:\n%s", e.logs.String())
			}
			t.Log(line)
		})
	}
}

// TestAccessLogFields (§8): access lines carry duration_ms as a number, the method and the User-Agent, and
// rejection lines the same identity key (cn) as access lines.
func TestAccessLogFields(t *testing.T) {
	e := newEnv(t, nil)
	if _, _, err := e.get("/headers", &e.pki.alice, http.Header{"User-Agent": {"probe/1.0"}}); err != nil {
		t.Fatal(err)
	}
	line := e.waitLog("msg=access", "route=/headers")
	for _, re := range []string{`cn=alice`, `method=GET`, `user_agent=probe/1.0`, `duration_ms=\d+(\.\d+)? `} {
		if !regexp.MustCompile(re).MatchString(line) {
			t.Errorf("access line lacks %s: %s", re, line)
		}
	}
	c, _, err := e.dial("/alice-only", &e.pki.bob, nil)
	if err == nil {
		c.CloseNow() //nolint:errcheck
	}
	e.waitLog("client rejected", "reason=cn_not_allowed", "cn=bob")
	if c, _, err := e.dial("/secure", &e.pki.dave, nil); err == nil {
		c.CloseNow() //nolint:errcheck
	}
	e.waitLog("client rejected", "reason=revoked", "cn=dave")

	// JSON: duration_ms is a JSON number.
	var buf syncBuffer
	s := &Server{log: slog.New(slog.NewJSONHandler(&buf, nil))}
	r := httptest.NewRequest(http.MethodPost, "/x", nil)
	r.Header.Set("User-Agent", "probe/2.0")
	s.access(r, nil, nil, http.StatusOK, time.Now().Add(-1500*time.Microsecond), 0, 0)
	var rec map[string]any
	if err := json.Unmarshal([]byte(buf.String()), &rec); err != nil {
		t.Fatal(err)
	}
	if ms, ok := rec["duration_ms"].(float64); !ok || ms < 1.5 || rec["method"] != "POST" || rec["user_agent"] != "probe/2.0" {
		t.Errorf("JSON access line: %s", buf.String())
	}
}

// TestRestartOnlySettingReported (§8): a reload that changes a restart-only setting names it, with the file's old
// and new values and the value still in effect.
func TestRestartOnlySettingReported(t *testing.T) {
	e := newEnv(t, func(s string) string { return "max_connections: 40\n" + s })
	cfgPath := filepath.Join(e.dir, "relay.yaml")
	data, err := os.ReadFile(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	data = bytes.Replace(data, []byte("max_connections: 40\n"), []byte("max_connections: 80\ntimeouts: {anonymous_idle: 2s}\n"), 1)
	writeAtomic(t, cfgPath, data)
	if err := e.srv.Reload(); err != nil {
		t.Fatal(err)
	}
	e.waitLog("level=WARN", "changes only on restart", "setting=max_connections", "from=40", "to=80", "in_effect=40")
	e.waitLog("level=WARN", "changes only on restart", "setting=timeouts.anonymous_idle", "from=5s", "to=2s", "in_effect=5s")
	if strings.Contains(e.logs.String(), "setting=listen") {
		t.Errorf("an unchanged setting was reported:\n%s", e.logs.String())
	}
}

// TestMalformedChunkedBodyIs400 (§8): a request whose chunked body is malformed is the client's fault: 400, not
// 502 "backend unavailable".
func TestMalformedChunkedBodyIs400(t *testing.T) {
	e := newEnv(t, nil)
	c, err := tls.Dial("tcp", e.addr, e.clientTLS(&e.pki.alice))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second)) //nolint:errcheck
	fmt.Fprint(c, "POST /headers HTTP/1.1\r\nHost: relay\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\nzz\r\n")
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("malformed chunked body answered %d, want 400", resp.StatusCode)
	}
	e.waitLog("request refused", "malformed request body")
	if strings.Contains(e.logs.String(), "backend unavailable") {
		t.Error("a malformed request body was logged as a backend failure")
	}
}
