// Package cadir is the on-disk CA directory: it knows the file layout (root.crt, intermediate.key, wsca.db,
// crl.pem, …) and runs the workflows that join the pure packages ca, store and crl — init, issue, sign,
// revoke, crl, verify — with the ordering rules that keep them safe: a certificate is committed to the
// database before any of its files is written, secrets are written exclusively with mode 0600, and
// replaceable public files are written atomically.
package cadir

import (
	"crypto"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/wsca/wsca/ca"
	"github.com/wsca/wsca/store"
)

// File names inside the CA directory. docs/layout.md documents them for operators.
const (
	RootCertFile         = "root.crt"
	RootKeyFile          = "root.key"
	IntermediateCertFile = "intermediate.crt"
	IntermediateKeyFile  = "intermediate.key"
	BundleFile           = "ca.crt"
	CRLFile              = "crl.pem"
	RootCRLFile          = "root-crl.pem"
	DBFile               = "wsca.db"
	AnchorFile           = DBFile + store.AnchorSuffix // the database's head, kept outside it (store/anchor.go)
)

// Sentinel errors for decisions the command layer turns into hints.
var (
	// ErrNotInitialized means the directory holds no CA (run wsca init).
	ErrNotInitialized = errors.New("no CA in this directory")
	// ErrAlreadyInitialized means wsca init found an existing CA and changed nothing.
	ErrAlreadyInitialized = errors.New("a CA already exists in this directory")
	// ErrRootKeyOffline means an operation needs the root key, which is not in the directory.
	ErrRootKeyOffline = errors.New("the root key is offline (not in the CA directory)")
)

// PassphraseFunc returns the CA key passphrase. The directory calls it only when an encrypted key must be
// opened, so commands that need no key never prompt.
type PassphraseFunc func() ([]byte, error)

// Dir is a CA directory. Its fields are the workflow's dependencies: tests set Rand and Now; the command
// layer sets User (recorded in the database and audit log) and LockTimeout.
type Dir struct {
	Path        string
	Rand        io.Reader
	Now         func() time.Time
	User        string
	LockTimeout time.Duration
	Passphrase  PassphraseFunc
}

// File returns the path of name inside the directory.
func (d *Dir) File(name string) string { return filepath.Join(d.Path, name) }

func (d *Dir) now() time.Time { return d.Now().UTC() }

// Initialized reports whether the directory already holds any part of a CA.
func (d *Dir) Initialized() bool {
	for _, f := range []string{RootCertFile, IntermediateCertFile, IntermediateKeyFile, DBFile} {
		if _, err := os.Lstat(d.File(f)); err == nil {
			return true
		}
	}
	return false
}

// OpenStore opens the issuance database with the directory's lock timeout.
func (d *Dir) OpenStore(readOnly bool) (*store.Store, error) {
	// A restore killed after its commit point is finished before anything reads the database (swap.go).
	if err := d.RecoverSwap(); err != nil {
		return nil, err
	}
	return d.OpenStoreOnly(readOnly)
}

// OpenStoreOnly is OpenStore without finishing an interrupted restore: for the restore itself, which holds
// the directory lock that RecoverSwap would wait for.
func (d *Dir) OpenStoreOnly(readOnly bool) (*store.Store, error) {
	if _, err := os.Stat(d.File(DBFile)); errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%s: %w", d.Path, ErrNotInitialized)
	}
	return store.Open(d.File(DBFile), store.Options{Timeout: d.LockTimeout, ReadOnly: readOnly})
}

// Chain returns the CA certificates, intermediate first then root, as read from the directory.
func (d *Dir) Chain() (inter, root *x509.Certificate, err error) {
	root, err = d.readCert(RootCertFile)
	if err != nil {
		return nil, nil, err
	}
	inter, err = d.readCert(IntermediateCertFile)
	if err != nil {
		return nil, nil, err
	}
	if err := inter.CheckSignatureFrom(root); err != nil {
		return nil, nil, fmt.Errorf("%s is not signed by %s: %w", d.File(IntermediateCertFile), d.File(RootCertFile), err)
	}
	return inter, root, nil
}

func (d *Dir) readCert(name string) (*x509.Certificate, error) {
	p := d.File(name)
	data, err := os.ReadFile(p)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("reading %s: %w", p, ErrNotInitialized)
		}
		return nil, fmt.Errorf("reading %s: %w", p, err)
	}
	certs, err := ca.ParseCertificates(data)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", p, err)
	}
	return certs[0], nil
}

// Intermediate loads the intermediate CA with its key, asking for the passphrase only if the key is
// encrypted, and checks that the key matches the certificate.
func (d *Dir) Intermediate() (ca.Authority, error) {
	a, _, err := d.issuer()
	return a, err
}

// issuer is Intermediate plus the chain a leaf's bundle carries above the leaf: intermediate then root, the CA
// only once in a single-CA directory (see SingleCA). The CA certificates are read once.
func (d *Dir) issuer() (ca.Authority, []*x509.Certificate, error) {
	inter, root, err := d.Chain()
	if err != nil {
		return ca.Authority{}, nil, err
	}
	key, err := d.loadKey(d.File(IntermediateKeyFile), inter)
	if err != nil {
		return ca.Authority{}, nil, err
	}
	chain := []*x509.Certificate{inter}
	if !root.Equal(inter) {
		chain = append(chain, root)
	}
	return ca.Authority{Cert: inter, Key: key}, chain, nil
}

// Root loads the root CA with its key. It returns an error wrapping ErrRootKeyOffline when root.key is absent.
func (d *Dir) Root() (ca.Authority, error) {
	root, err := d.readCert(RootCertFile)
	if err != nil {
		return ca.Authority{}, err
	}
	p := d.File(RootKeyFile)
	if _, err := os.Stat(p); errors.Is(err, fs.ErrNotExist) {
		return ca.Authority{Cert: root}, fmt.Errorf("%s: %w", p, ErrRootKeyOffline)
	}
	key, err := d.loadKey(p, root)
	if err != nil {
		return ca.Authority{}, err
	}
	return ca.Authority{Cert: root, Key: key}, nil
}

// RootKeyAvailable reports whether root.key is in the directory.
func (d *Dir) RootKeyAvailable() bool {
	_, err := os.Stat(d.File(RootKeyFile))
	return err == nil
}

func (d *Dir) loadKey(path string, cert *x509.Certificate) (crypto.Signer, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading CA key %s: %w", path, err)
	}
	key, err := ca.ParseKey(data, nil)
	if errors.Is(err, ca.ErrPassphraseRequired) {
		if d.Passphrase == nil {
			return nil, fmt.Errorf("opening CA key %s: %w", path, err)
		}
		pass, perr := d.Passphrase()
		if perr != nil {
			return nil, fmt.Errorf("opening CA key %s: %w", path, perr)
		}
		key, err = ca.ParseKey(data, pass)
	}
	if err != nil {
		return nil, fmt.Errorf("opening CA key %s: %w", path, err)
	}
	if err := ca.CheckKeyMatches(key, cert); err != nil {
		return nil, fmt.Errorf("CA key %s: %w", path, err)
	}
	return key, nil
}
