package interop_test

import (
	"context"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/wsca/wsca/ca"
	"github.com/wsca/wsca/store"
)

// fleetPublisher is a `wsca publish` process on the CA directory of p, on a fixed loopback address so that it can
// be stopped and started again where the relays look for it.
type fleetPublisher struct {
	t    *testing.T
	p    *pki
	addr string
	proc *proc
}

func (pb *fleetPublisher) start(state string) {
	pb.t.Helper()
	pb.proc = startProc(pb.t, nil, wscaBin, "--dir", pb.p.caDir, "publish", "--listen", pb.addr, "--state", state)
	pb.proc.waitListening(pb.t, pb.addr)
}

func (pb *fleetPublisher) url() string { return "http://" + pb.addr + "/crl.pem" }

// member is one relay of the fleet and the file where it caches the CRL in force.
type member struct {
	*relayServer
	cache, config string
}

// fleetRelay is a `wsca serve --config` process whose crl: is the publisher's URL, relaying /ws (WebSocket echo) and / (the request's headers) to backend.
func fleetRelay(t *testing.T, p *pki, crlURL, backend string) member {
	t.Helper()
	dir := t.TempDir()
	addr := "127.0.0.1:" + itoa(freePort(t))
	// crl_poll_interval 1s: the retry after a failed fetch (the publisher down), so that recovery is quick.
	yaml := fmt.Sprintf("listen: %s\ntls: {cert: %s, key: %s}\nclient_ca: %s\ncrl: %s\nstate_dir: %s\n"+
		"crl_poll_interval: 1s\nshutdown_grace: 1s\nroutes:\n  - path: /ws\n    backend: %s\n  - path: /\n    backend: %s\n",
		addr, p.file("srv.crt"), p.file("srv.key"), p.caFile("ca.crt"), crlURL, filepath.Join(dir, "state"),
		strings.Replace(backend, "http://", "ws://", 1), backend)
	cfg := filepath.Join(dir, "relay.yaml")
	writeFile(t, cfg, yaml)
	pr := startProc(t, nil, wscaBin, "serve", "--config", cfg)
	pr.waitListening(t, addr)
	return member{&relayServer{proc: pr, addr: addr}, filepath.Join(dir, "state", "crl-cache.pem"), cfg}
}

// holds reports whether the relay's CRL in force (its cache) is crl.
func (m member) holds(crl []byte) bool {
	data, err := os.ReadFile(m.cache)
	return err == nil && string(data) == string(crl)
}

// TestRelaysFedOverHTTP is the fleet of issue #10 ("Real components in the tests"), all real processes of the
// built binary: one `wsca publish` and three `wsca serve` whose crl: is its URL, each with open WebSockets of
// alice and bob.
//   - `wsca revoke bob` → bob's sessions on all three closed (1008) within 1 s of revoke returning; alice's echo.
//   - publisher killed → the relays keep serving with the last good CRL and log the failed fetches, and refuse
//     everyone once that CRL expires (4 s validity here).
//   - publisher back with a fresh CRL → the relays recover.
//   - an older CRL served (the CA host's crl.pem and the publisher's state both restored from an old backup)
//     → refused by every relay, which keeps refusing bob.
//   - publisher gone for good → a relay restarted from its state directory serves from its cached CRL.
func TestRelaysFedOverHTTP(t *testing.T) {
	p := newPKI(t, "Interop fleet")
	older, err := os.ReadFile(p.caFile("crl.pem")) // the CRL before bob's revocation
	if err != nil {
		t.Fatal(err)
	}
	backend := newBackend(t)
	pub := &fleetPublisher{t: t, p: p, addr: "127.0.0.1:" + itoa(freePort(t))}
	pub.start(filepath.Join(t.TempDir(), "publish.state.json"))
	var relays []member
	for range 3 {
		relays = append(relays, fleetRelay(t, p, pub.url(), backend.URL))
	}
	type sessions struct{ alice, bob *wsConn }
	var open []sessions
	for _, r := range relays {
		var s sessions
		for name, dst := range map[string]**wsConn{"alice": &s.alice, "bob": &s.bob} {
			c, err := r.client(p, name).dialWS("/ws")
			if err != nil {
				t.Fatalf("%s on %s: %v\n%s", name, r.addr, err, r.proc.logText())
			}
			t.Cleanup(func() { c.CloseNow() }) //nolint:errcheck
			*dst = c
		}
		open = append(open, s)
	}
	closed := make([]chan error, len(open))
	for i, s := range open {
		closed[i] = make(chan error, 1)
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), readyTimeout)
			defer cancel()
			_, _, err := s.bob.Read(ctx)
			closed[i] <- err
		}()
	}

	p.wsca("revoke", "bob") // publishes crl.pem at once; nothing else
	returned := time.Now()
	for i, s := range open {
		err := <-closed[i]
		took := time.Since(returned)
		if websocket.CloseStatus(err) != websocket.StatusPolicyViolation {
			t.Fatalf("relay %d: bob's session ended with %v, want close 1008", i, err)
		}
		if took > time.Second {
			t.Errorf("relay %d: bob's session cut %v after wsca revoke returned, want within 1 s", i, took)
		}
		t.Logf("relay %d: bob's session closed by %v after wsca revoke returned", i, took.Round(time.Millisecond))
		if got, err := echo(s.alice, "alice"); err != nil || !strings.Contains(got, "alice") {
			t.Fatalf("relay %d: alice's session: %q %v", i, got, err)
		}
	}
	for _, r := range relays {
		r.waitLog(t, "session closed", "reason=revoked", "cn=bob")
	}

	// A CRL valid for 4 s reaches the fleet; then the publisher dies.
	short := publishShortCRL(t, p, 4*time.Second)
	for _, r := range relays {
		waitFor(t, "the short CRL on "+r.addr, func() bool { return r.holds(short) })
	}
	_ = pub.proc.cmd.Process.Kill()
	<-pub.proc.done
	for i, r := range relays {
		r.waitLog(t, "CRL fetch failed, keeping the last good CRL")
		if err := r.client(p, "alice").accepted("/"); err != nil {
			t.Fatalf("relay %d with the publisher down, CRL still valid: alice: %v", i, err)
		}
		if err := r.client(p, "bob").rejected("/"); err != nil {
			t.Fatalf("relay %d with the publisher down: bob: %v", i, err)
		}
		if got, err := echo(open[i].alice, "alice"); err != nil || !strings.Contains(got, "alice") {
			t.Fatalf("relay %d with the publisher down: alice's open session: %q %v", i, got, err)
		}
	}
	for i, r := range relays {
		r.waitLog(t, "CRL expired: every new client certificate is refused")
		if err := r.client(p, "alice").rejected("/"); err != nil {
			t.Fatalf("relay %d with an expired CRL: alice: %v", i, err)
		}
	}

	// The publisher back, with a CRL signed meanwhile: every relay admits alice again, still not bob.
	p.wsca("crl")
	pub.start(filepath.Join(t.TempDir(), "publish.state.json"))
	for i, r := range relays {
		waitFor(t, fmt.Sprintf("relay %d to admit alice again", i), func() bool { return r.client(p, "alice").accepted("/") == nil })
		if err := r.client(p, "bob").rejected("/"); err != nil {
			t.Fatalf("relay %d after the publisher came back: bob: %v", i, err)
		}
	}

	// An older CRL served: the CA host restored from a backup taken before bob's revocation, publisher state
	// included, so the publisher itself cannot tell. Every relay refuses it and keeps refusing bob.
	pub.proc.stop(t)
	writeFile(t, p.caFile("crl.pem"), string(older))
	pub.start(filepath.Join(t.TempDir(), "publish.state.json"))
	for i, r := range relays {
		r.waitLog(t, "CRL rollback refused")
		if err := r.client(p, "bob").rejected("/"); err != nil {
			t.Fatalf("relay %d after an older CRL was served: bob: %v", i, err)
		}
		if err := r.client(p, "alice").accepted("/"); err != nil {
			t.Fatalf("relay %d after an older CRL was served: alice: %v", i, err)
		}
	}

	// The publisher gone for good: a relay restarted from its state directory starts from its cached CRL.
	pub.proc.stop(t)
	for _, s := range open {
		s.alice.Close(websocket.StatusNormalClosure, "") //nolint:errcheck // else the stop waits shutdown_grace
	}
	relays[0].proc.stop(t)
	pr := startProc(t, nil, wscaBin, "serve", "--config", relays[0].config)
	pr.waitListening(t, relays[0].addr)
	again := &relayServer{proc: pr, addr: relays[0].addr}
	again.waitLog(t, "using the cached CRL")
	if err := again.client(p, "bob").rejected("/"); err != nil {
		t.Fatalf("bob on a relay restarted without its publisher: %v", err)
	}
	if err := again.client(p, "alice").accepted("/"); err != nil {
		t.Fatalf("alice on a relay restarted without its publisher: %v", err)
	}
}

func readCRLFile(t *testing.T, p *pki) []byte {
	t.Helper()
	data, err := os.ReadFile(p.caFile("crl.pem"))
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// publishShortCRL replaces crl.pem with a copy of the intermediate's current CRL (same revoked entries) that is
// valid for validity only — shorter than wsca crl allows (1 min) — numbered one above, signed with the
// intermediate's key; the root's CRL stays. The number is recorded in wsca.db as an imported CA's last CRL
// would be, so the next wsca crl numbers above it.
func publishShortCRL(t *testing.T, p *pki, validity time.Duration) []byte {
	t.Helper()
	pemData := readCRLFile(t, p)
	block, rest := pem.Decode(pemData)
	cur, err := x509.ParseRevocationList(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	certs, err := ca.ParseCertificates(readFileT(t, p.caFile("intermediate.crt")))
	if err != nil {
		t.Fatal(err)
	}
	key, err := ca.ParseKey(readFileT(t, p.caFile("intermediate.key")), []byte("interop test passphrase"))
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	num := new(big.Int).Add(cur.Number, big.NewInt(1))
	der, err := x509.CreateRevocationList(rand.Reader, &x509.RevocationList{Number: num, ThisUpdate: now.Add(-time.Second),
		NextUpdate: now.Add(validity), RevokedCertificateEntries: cur.RevokedCertificateEntries}, certs[0], key)
	if err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(p.caFile("wsca.db"), store.Options{Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	err = st.RecordCRL(store.ScopeIntermediate, num, now, now.Add(validity))
	if cerr := st.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		t.Fatal(err)
	}
	out := append(pem.EncodeToMemory(&pem.Block{Type: "X509 CRL", Bytes: der}), rest...)
	tmp := p.caFile("crl.pem.tmp") // renamed into place: the publisher must not read half a file
	writeFile(t, tmp, string(out))
	if err := os.Rename(tmp, p.caFile("crl.pem")); err != nil {
		t.Fatal(err)
	}
	return out
}

func readFileT(t *testing.T, name string) []byte {
	t.Helper()
	data, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	return data
}
