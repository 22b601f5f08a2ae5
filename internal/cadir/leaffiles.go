package cadir

import (
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/wsca/wsca/ca"
	"github.com/wsca/wsca/internal/atomicfile"
)

// The files one issued certificate leaves in its output directory: NAME.crt, NAME.key, NAME.p12.

// ErrOutputExists means a file to be written exists already: wsca never overwrites a certificate or key.
var ErrOutputExists = errors.New("already exists")

// ErrNoOutputDir means the output directory of a certificate does not exist (cadir does not create it: a typo
// would scatter keys).
var ErrNoOutputDir = errors.New("does not exist")

// outputs returns the paths issuing r will create.
func outputs(r *IssueRequest) (crt, key, p12 string) {
	dir := r.OutDir
	if dir == "" {
		dir = "."
	}
	crt, key = filepath.Join(dir, r.Name+".crt"), filepath.Join(dir, r.Name+".key")
	if r.P12 && !r.Pickup {
		p12 = filepath.Join(dir, r.Name+".p12")
	}
	return crt, key, p12
}

// checkAbsent refuses to go on when path exists: wsca never overwrites a certificate or key.
func checkAbsent(path string) error {
	if _, err := os.Lstat(path); err == nil {
		return fmt.Errorf("%s %w", path, ErrOutputExists)
	}
	return nil
}

// checkOutputs refuses a request whose output directory is missing or whose files exist, unless it renews
// the certificate in NAME.crt: then the previous files are planned to move aside (planArchive).
func checkOutputs(r *IssueRequest) error {
	crt, _, _ := outputs(r)
	dir := filepath.Dir(crt)
	if st, err := os.Stat(dir); err != nil || !st.IsDir() {
		return fmt.Errorf("output directory %s %w", dir, ErrNoOutputDir)
	}
	plan, err := planArchive(r)
	if err != nil {
		return err
	}
	r.archive = plan
	return nil
}

// addLeafFiles adds the certificate (for a server: leaf + intermediate, the chain a server must send), the
// key and the PKCS#12 bundle to batch; the key and bundle with mode 0600.
func addLeafFiles(batch *atomicfile.Batch, d *Dir, p pendingLeaf, chain []*x509.Certificate) (*IssueResult, error) {
	crtPath, keyPath, p12Path := outputs(p.req)
	res := &IssueResult{Record: p.rec, CertPath: crtPath, KeyPath: keyPath, Warnings: p.req.warnings, Carried: p.req.carried}
	moved, err := p.req.archive.run()
	res.Archived = moved
	if err != nil {
		return nil, err
	}
	certPEM := ca.EncodeCertificates(p.cert)
	if p.req.Kind == ca.KindServer {
		certPEM = ca.EncodeCertificates(p.cert, chain[0])
	}
	keyPEM, err := ca.MarshalKey(p.key)
	if err != nil {
		return nil, err
	}
	if p.req.Pickup {
		// No key file and no bundle file: the bundle goes to the pickup store (pickup.go).
		res.KeyPath, keyPath, p12Path = "", "", ""
		res.pickupTTL = p.req.PickupTTL
		res.pickupBundle, err = encodeBundle(d, p, chain, res)
		if err != nil {
			return nil, err
		}
	}
	// The key goes first so that a certificate file never exists without its key.
	if keyPath != "" {
		if err := batch.Add(keyPath, keyPEM, 0o600); err != nil {
			return nil, err
		}
	}
	if err := batch.Add(crtPath, certPEM, 0o644); err != nil {
		return nil, err
	}
	if p12Path != "" {
		bundle, err := encodeBundle(d, p, chain, res)
		if err != nil {
			return nil, fmt.Errorf("encoding %s: %w", p12Path, err)
		}
		if err := batch.Add(p12Path, bundle, 0o600); err != nil {
			return nil, err
		}
		res.P12Path = p12Path
	}
	return res, nil
}

// encodeBundle makes the PKCS#12 bundle with the request's password or a generated one (then set in res
// for the caller to show once).
func encodeBundle(d *Dir, p pendingLeaf, chain []*x509.Certificate, res *IssueResult) ([]byte, error) {
	pass := p.req.P12Password
	if pass == "" {
		var err error
		if pass, err = ca.GeneratePassword(d.Rand); err != nil {
			return nil, err
		}
		res.P12Password, res.PasswordMade = pass, true
	}
	return ca.EncodePKCS12(d.Rand, p.key, p.cert, chain, p.req.Name, pass, p.req.P12Format)
}
