package cadir

import (
	"crypto/x509"
	"errors"
	"math/big"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/wsca/wsca/ca"
	"github.com/wsca/wsca/crl"
	"github.com/wsca/wsca/store"
)

// TestRevoke: what a revoke request means (by name, by serial, several with All, a hold lifted), what it
// refuses (ambiguous, already revoked, only expired, a CA certificate, unknown), and that with Publish the
// revoked serial is in crl.pem at once while without it crl.pem is listed as not enforced.
func TestRevoke(t *testing.T) {
	type ca3 struct {
		d     *Dir
		clock *time.Time
		alice *IssueResult // alice has two valid certificates (the second a renewal)
		bob   *IssueResult
	}
	tests := []struct {
		name    string
		req     func(c ca3) RevokeRequest
		before  func(t *testing.T, c ca3)
		wantErr error
		revoked int
	}{
		{name: "by name", req: func(c ca3) RevokeRequest { return RevokeRequest{Target: "bob", Publish: true} }, revoked: 1},
		{name: "by serial", revoked: 1,
			req: func(c ca3) RevokeRequest {
				return RevokeRequest{Target: ca.SerialHex(c.alice.Record.Serial), Publish: true}
			}},
		{name: "name with two valid", wantErr: ErrAmbiguous,
			req: func(c ca3) RevokeRequest { return RevokeRequest{Target: "alice", Publish: true} }},
		{name: "all of a name", revoked: 2,
			req: func(c ca3) RevokeRequest { return RevokeRequest{Target: "alice", All: true, Publish: true} }},
		{name: "unpublished", revoked: 1,
			req: func(c ca3) RevokeRequest { return RevokeRequest{Target: "bob", Reason: store.KeyCompromise} }},
		{name: "already revoked", wantErr: store.ErrAlreadyRevoked,
			req: func(c ca3) RevokeRequest { return RevokeRequest{Target: "bob", Publish: true} },
			before: func(t *testing.T, c ca3) {
				if _, err := c.d.Revoke(RevokeRequest{Target: "bob"}); err != nil {
					t.Fatal(err)
				}
			}},
		{name: "only expired", wantErr: ErrNothingToRevoke,
			req:    func(c ca3) RevokeRequest { return RevokeRequest{Target: "bob", Publish: true} },
			before: func(t *testing.T, c ca3) { *c.clock = c.clock.Add(2 * DefaultValidity) }},
		{name: "a CA certificate", wantErr: ErrCACertificate,
			req: func(c ca3) RevokeRequest {
				inter, _, _ := c.d.Chain()
				return RevokeRequest{Target: ca.SerialHex(inter.SerialNumber), Publish: true}
			}},
		{name: "unknown", wantErr: store.ErrNotFound,
			req: func(c ca3) RevokeRequest { return RevokeRequest{Target: "nobody", Publish: true} }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d, clock := clockDir(t)
			c := ca3{d: d, clock: clock}
			var err error
			if c.bob, err = d.Issue(IssueRequest{Name: "bob", OutDir: t.TempDir()}); err != nil {
				t.Fatal(err)
			}
			if c.alice, err = d.Issue(IssueRequest{Name: "alice", OutDir: t.TempDir()}); err != nil {
				t.Fatal(err)
			}
			if _, err := d.Issue(IssueRequest{Name: "alice", Renew: true, OutDir: t.TempDir()}); err != nil {
				t.Fatal(err)
			}
			if tc.before != nil {
				tc.before(t, c)
			}
			crlBefore, _ := os.ReadFile(d.File(CRLFile))
			req := tc.req(c)
			res, err := d.Revoke(req)
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("Revoke(%+v) = %v, want %v", req, err, tc.wantErr)
				}
				if after, _ := os.ReadFile(d.File(CRLFile)); string(after) != string(crlBefore) {
					t.Fatal("a refused revoke changed crl.pem")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(res.Records) != tc.revoked {
				t.Fatalf("%d records revoked, want %d", len(res.Records), tc.revoked)
			}
			for _, r := range res.Records {
				if r.Revocation == nil || r.Revocation.Reason != req.Reason || r.Revocation.By != d.User {
					t.Fatalf("%s: revocation %+v", r.Name, r.Revocation)
				}
				if onCRL(t, d, r.Serial) != req.Publish {
					t.Fatalf("%s on crl.pem: %v, published %v", r.Name, !req.Publish, req.Publish)
				}
			}
			if req.Publish != (res.Published != nil) || req.Publish == (len(res.NotEnforced) > 0) {
				t.Fatalf("published %v, not enforced %q", res.Published != nil, res.NotEnforced)
			}
		})
	}
}

// onCRL reports whether serial is on the intermediate's CRL in crl.pem.
func onCRL(t *testing.T, d *Dir, serial *big.Int) bool {
	t.Helper()
	data, err := os.ReadFile(d.File(CRLFile))
	if err != nil {
		t.Fatal(err)
	}
	inter, root, err := d.Chain()
	if err != nil {
		t.Fatal(err)
	}
	crls, err := crl.Parse(data, []*x509.Certificate{inter, root})
	if err != nil {
		t.Fatal(err)
	}
	_, ok := crls[0].Revoked.Lookup(serial.Bytes())
	return ok
}

// TestHoldAndLift: a certificateHold is lifted (only a hold), and with publish the serial leaves crl.pem.
func TestHoldAndLift(t *testing.T) {
	d, _ := clockDir(t)
	bob, err := d.Issue(IssueRequest{Name: "bob", OutDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	serial := bob.Record.Serial
	if _, err := d.LiftHold("bob", true); !errors.Is(err, store.ErrNotOnHold) {
		t.Fatalf("lifting a valid certificate: %v", err)
	}
	if _, err := d.Revoke(RevokeRequest{Target: "bob", Reason: store.CertificateHold, Publish: true}); err != nil {
		t.Fatal(err)
	}
	if !onCRL(t, d, serial) {
		t.Fatal("held certificate not on crl.pem")
	}
	res, err := d.LiftHold("bob", true)
	if err != nil || len(res.Records) != 1 || res.Records[0].Revocation != nil || res.Published == nil {
		t.Fatalf("LiftHold: %+v, %v", res, err)
	}
	if onCRL(t, d, serial) {
		t.Fatal("lifted certificate still on crl.pem")
	}
	if _, err := d.Revoke(RevokeRequest{Target: "bob", Reason: store.KeyCompromise}); err != nil {
		t.Fatal(err)
	}
	if _, err := d.LiftHold("bob", false); !errors.Is(err, store.ErrNotOnHold) || !strings.Contains(err.Error(), "certificateHold") {
		t.Fatalf("lifting a key compromise: %v", err)
	}
}

// TestRevokeIntermediate: revoking the intermediate needs the root key, re-signs the root CRL and puts the
// intermediate on it.
func TestRevokeIntermediate(t *testing.T) {
	d, clock := clockDir(t)
	*clock = clock.Add(time.Second)
	offline := *d
	key := d.File(RootKeyFile)
	data, err := os.ReadFile(key)
	if err != nil {
		t.Fatal(err)
	}
	takeRootOffline(t, &offline)
	if _, err := offline.Revoke(RevokeRequest{Intermediate: true}); !errors.Is(err, ErrRootKeyOffline) {
		t.Fatalf("without the root key: %v", err)
	}
	if err := os.WriteFile(key, data, 0o600); err != nil {
		t.Fatal(err)
	}
	res, err := d.Revoke(RevokeRequest{Intermediate: true, Reason: store.CACompromise})
	if err != nil || res.Published == nil || !res.Published.RootResigned {
		t.Fatalf("Revoke intermediate: %+v, %v", res, err)
	}
	root, err := d.storedRootCRL()
	if err != nil {
		t.Fatal(err)
	}
	inter, _, _ := d.Chain()
	if _, ok := root.Revoked.Lookup(inter.SerialNumber.Bytes()); !ok || root.Revoked.Len() != 1 {
		t.Fatalf("root CRL has %d entries, want the intermediate %v", root.Revoked.Len(), inter.SerialNumber)
	}
}
