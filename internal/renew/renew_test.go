package renew

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/x509"
	"errors"
	"io"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"software.sslmate.com/src/go-pkcs12"

	"github.com/wsca/wsca/ca"
	"github.com/wsca/wsca/internal/cadir"
	"github.com/wsca/wsca/internal/enroll"
	"github.com/wsca/wsca/store"
)

func TestDue(t *testing.T) {
	nb := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	c := &x509.Certificate{NotBefore: nb, NotAfter: nb.Add(90 * time.Minute)}
	for i := 0; i < 50; i++ {
		due := Due(c, rand.Reader)
		if due.After(nb.Add(60*time.Minute)) || due.Before(nb.Add(51*time.Minute)) {
			t.Fatalf("due %s, want within [51m, 60m] after NotBefore", due.Sub(nb))
		}
	}
}

// setup is a CA with a running wsca enroll and alice's files in a directory.
func setup(t *testing.T, validity time.Duration) (*cadir.Dir, *Client) {
	t.Helper()
	root := t.TempDir()
	d := &cadir.Dir{Path: filepath.Join(root, "pki"), Rand: rand.Reader, Now: time.Now, User: "test", LockTimeout: time.Second}
	if _, err := d.Init(cadir.InitRequest{Hierarchy: ca.HierarchyRequest{Name: "Test"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Issue(cadir.IssueRequest{Name: "est", Kind: ca.KindServer, IPs: []string{"127.0.0.1"}, OutDir: root}); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Issue(cadir.IssueRequest{Name: "alice", Validity: validity, OutDir: root, P12: true, P12Password: "bundle-pw"}); err != nil {
		t.Fatal(err)
	}
	issuer, err := d.LoadIssuer()
	if err != nil {
		t.Fatal(err)
	}
	srv, err := enroll.New(issuer, enroll.Files{Cert: filepath.Join(root, "est.crt"), Key: filepath.Join(root, "est.key"),
		ClientCA: d.File(cadir.BundleFile), CRL: d.File(cadir.CRLFile)}, time.Now, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewUnstartedServer(srv.Handler())
	hs.TLS = srv.TLSConfig()
	hs.StartTLS()
	t.Cleanup(hs.Close)
	pool := x509.NewCertPool()
	inter, rootCert, _ := d.Chain()
	pool.AddCert(inter)
	pool.AddCert(rootCert)
	return d, &Client{CertFile: filepath.Join(root, "alice.crt"), KeyFile: filepath.Join(root, "alice.key"),
		P12File: filepath.Join(root, "alice.p12"), P12Password: "bundle-pw", P12Format: ca.P12Legacy,
		URL: hs.URL, RootCAs: pool, Rand: rand.Reader}
}

func TestRenewRekeyWritesFiles(t *testing.T) {
	_, c := setup(t, time.Hour)
	c.Rekey = true
	old, oldKey, err := c.Load()
	if err != nil {
		t.Fatal(err)
	}
	renewed, err := c.Renew(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	cur, _, err := c.Load()
	if err != nil {
		t.Fatalf("the written files do not belong together: %v", err)
	}
	if !cur.Equal(renewed) || cur.SerialNumber.Cmp(old.SerialNumber) == 0 {
		t.Error("alice.crt is not the renewed certificate")
	}
	if ca.CheckKeyMatches(oldKey, cur) == nil {
		t.Error("--rekey kept the old key")
	}
	if st, _ := os.Stat(c.KeyFile); st.Mode().Perm() != 0o600 {
		t.Errorf("key mode %o", st.Mode().Perm())
	}
	data, err := os.ReadFile(c.P12File)
	if err != nil {
		t.Fatal(err)
	}
	p12Key, p12Cert, chain, err := pkcs12.DecodeChain(data, "bundle-pw")
	if err != nil {
		t.Fatalf("the bundle does not open with its password: %v", err)
	}
	signer, ok := p12Key.(crypto.Signer)
	if !p12Cert.Equal(cur) || !ok || ca.CheckKeyMatches(signer, cur) != nil || len(chain) != 2 {
		t.Errorf("bundle: certificate %v, chain %d", p12Cert.SerialNumber, len(chain))
	}
}

// TestRunStopsWhenRevoked: the daemon renews, and after a revocation stops with an error that says so.
func TestRunStopsWhenRevoked(t *testing.T) {
	d, c := setup(t, 3*time.Second)
	c.P12File = ""
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ev := &events{renewed: make(chan *x509.Certificate, 10)}
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx, ev, nil) }()
	var first *x509.Certificate
	select {
	case first = <-ev.renewed:
	case err := <-done:
		t.Fatalf("Run ended before renewing: %v", err)
	case <-ctx.Done():
		t.Fatal("no renewal within 30s")
	}
	// Revoke the certificate now in alice.crt (recorded only: enforced by wsca.db at once).
	st, err := d.OpenStore(false)
	if err != nil {
		t.Fatal(err)
	}
	_, err = st.Revoke(first.SerialNumber, store.Revocation{At: time.Now(), Reason: store.KeyCompromise, By: "test"})
	st.Close()
	if err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if !Revoked(err) || !strings.Contains(err.Error(), "revoked") {
			t.Fatalf("Run ended with %v, want a revocation", err)
		}
	case <-ctx.Done():
		t.Fatal("Run kept going after the revocation")
	}
}

type events struct {
	mu      sync.Mutex
	renewed chan *x509.Certificate
	fails   []error
}

func (e *events) Waiting(*x509.Certificate, time.Time) {}
func (e *events) Renewed(_, n *x509.Certificate)       { e.renewed <- n }
func (e *events) Failed(err error, _ time.Duration) {
	e.mu.Lock()
	e.fails = append(e.fails, err)
	e.mu.Unlock()
}

func TestRefusedPermanent(t *testing.T) {
	for reason, want := range map[string]bool{"revoked": true, "certificate_rejected": true, "internal": false, "rate_limited": false} {
		err := error(&RefusedError{Status: 403, Reason: reason})
		var r *RefusedError
		if !errors.As(err, &r) || r.Permanent() != want || !errors.Is(err, ErrRefused) {
			t.Errorf("%s: permanent %v, want %v", reason, r.Permanent(), want)
		}
	}
}
