package doctor

import (
	"os"
	"testing"
	"time"

	"github.com/wsca/wsca/ca"
	"github.com/wsca/wsca/internal/cadir"
)

// TestCheckOCSPSigner: with an OCSP URL the signer must exist and be current; it is an error when it is
// missing or expired (wsca publish then answers tryLater and OCSP-checking servers refuse everybody), a
// warning close to its end, ok otherwise. Without an OCSP URL there is nothing to check.
func TestCheckOCSPSigner(t *testing.T) {
	d := newCADir(t, ca.HierarchyRequest{})
	opts := CheckOptions{Passphrase: passFunc(testPass)}
	for _, f := range Check(d.Path, opts) {
		if f.Check == CheckOCSPSigner {
			t.Fatalf("a CA without an OCSP URL: %v", f)
		}
	}
	if err := d.SetOCSPURL("http://127.0.0.1:8080/ocsp"); err != nil {
		t.Fatal(err)
	}
	if fs := Check(d.Path, opts); !hasFinding(fs, SeverityError, CheckOCSPSigner, "no OCSP signer", "tryLater") {
		t.Fatalf("missing signer not reported:\n%s", dump(fs))
	}
	res, err := d.EnsureOCSPSigner(0)
	if err != nil || !res.Issued {
		t.Fatalf("EnsureOCSPSigner: %v %+v", err, res)
	}
	if fs := Check(d.Path, opts); !hasFinding(fs, SeverityOK, CheckOCSPSigner, "valid until") {
		t.Fatalf("current signer not reported ok:\n%s", dump(fs))
	}
	at := func(tm time.Time) CheckOptions { o := opts; o.Now = func() time.Time { return tm }; return o }
	if fs := Check(d.Path, at(res.NotAfter.Add(-time.Hour))); !hasFinding(fs, SeverityWarning, CheckOCSPSigner, "expires at", "not renewed") {
		t.Fatalf("signer an hour from its end not reported:\n%s", dump(fs))
	}
	fs := Check(d.Path, at(res.NotAfter.Add(time.Hour)))
	if !hasFinding(fs, SeverityError, CheckOCSPSigner, "expired at", res.NotAfter.UTC().Format(time.RFC3339)) {
		t.Fatalf("expired signer not reported:\n%s", dump(fs))
	}
	for _, f := range fs {
		if f.Check == CheckOCSPSigner && f.Fix == "" {
			t.Errorf("finding without a fix: %v", f)
		}
	}

	// A signer from another CA (a copied directory, a restore gone wrong) is an error too.
	other := newCADir(t, ca.HierarchyRequest{Name: "Other"})
	if err := other.SetOCSPURL("http://127.0.0.1:8080/ocsp"); err != nil {
		t.Fatal(err)
	}
	if _, err := other.EnsureOCSPSigner(0); err != nil {
		t.Fatal(err)
	}
	foreign, err := os.ReadFile(other.File(cadir.OCSPSignerCertFile))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(d.File(cadir.OCSPSignerCertFile), foreign, 0o644); err != nil {
		t.Fatal(err)
	}
	if fs := Check(d.Path, opts); !hasFinding(fs, SeverityError, CheckOCSPSigner, "not issued by this CA's intermediate") {
		t.Fatalf("foreign signer not reported:\n%s", dump(fs))
	}
}
