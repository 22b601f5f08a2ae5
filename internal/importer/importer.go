// Package importer reads a CA run by other tooling — `openssl ca` (index.txt, newcerts/, crlnumber) or
// easy-rsa 3 (a pki/ directory) — into the form internal/cadir imports: the issuing CA's certificate and
// key, its root when it is not self-signed, and one store.Record per certificate in the old database with
// its revocation date and reason, so users keep their certificates when the CA moves to wsca.
//
// It only reads. Every certificate named in index.txt must be found as a file (its DER is part of the
// record), must carry the serial and expiry the index gives, and must be signed by the CA being imported;
// any mismatch is an error naming the line, because an import that silently skipped a revoked certificate
// would let it back in.
package importer

import (
	"bytes"
	"crypto"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/big"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/wsca/wsca/ca"
	"github.com/wsca/wsca/crl"
	"github.com/wsca/wsca/internal/cadir"
	"github.com/wsca/wsca/store"
)

// Sentinel errors for decisions the command layer turns into hints.
var (
	// ErrCertMissing means index.txt names a certificate whose file is not in the certificates directory.
	ErrCertMissing = errors.New("certificate file not found")
	// ErrCertMismatch means a certificate file does not match its index line (serial, expiry) or was not
	// signed by the imported CA.
	ErrCertMismatch = errors.New("certificate does not match the index")
	// ErrNotCA means the CA certificate cannot issue certificates (not CA:TRUE, no keyCertSign, no subject
	// key identifier).
	ErrNotCA = errors.New("not a usable CA certificate")
	// ErrOldKey means the old CA key could not be opened (it wraps the ca package's reason, such as
	// ca.ErrWrongPassphrase): its passphrase comes from --ca-key-passphrase-file, not wsca's own.
	ErrOldKey = errors.New("cannot open the old CA key")
	// ErrRootCRLRequired means the issuing CA has a separate root but no root CRL was given: wsca does not
	// take the root key, so it cannot sign one, and servers checking the whole chain need it.
	ErrRootCRLRequired = errors.New("a CRL of the root is required")
)

// maxFileSize bounds every certificate, key and CRL file read, so a wrong path (a disk image) fails fast.
const maxFileSize = 64 << 20

// ImportedBy is recorded as IssuedBy and Revocation.By of imported records, with the source tool.
const ImportedBy = cadir.ImportedBy

// CA is an existing CA read from disk, ready for cadir.Dir.Import.
type CA struct {
	Source string // "openssl" or "easy-rsa"
	Issuer *x509.Certificate
	Key    crypto.Signer
	// Root is the issuer's root CA when the issuer is not self-signed; nil when it is its own root.
	Root *x509.Certificate
	// RootCRL is the root's current CRL (PEM or DER) when Root is set.
	RootCRL []byte
	// Records are the certificates of index.txt in file order.
	Records []store.Record
	// LastCRLNumber is the highest CRL number the old CA used (from crlnumber, which holds the next
	// number, and from its last CRL); wsca's next CRL gets a higher one. Zero when unknown.
	LastCRLNumber *big.Int
	// OldCRL is the old CA's last CRL as parsed, or nil when none was given.
	OldCRL *crl.CRL
	// Warnings are things the operator should know that do not stop the import.
	Warnings []string
}

// Revoked returns how many records are revoked.
func (c *CA) Revoked() int {
	n := 0
	for _, r := range c.Records {
		if r.Revocation != nil {
			n++
		}
	}
	return n
}

// OpenSSLSource names the files of an `openssl ca` setup.
type OpenSSLSource struct {
	CACert   string // the issuing CA certificate (PEM)
	CAKey    string // its private key (PEM; PKCS#8, PKCS#1 or SEC 1; encrypted PKCS#8 with KeyPassphrase)
	RootCert string // optional: the root when CACert is not self-signed
	RootCRL  string // the root's current CRL; required with RootCert
	Index    string // index.txt
	CertsDir string // new_certs_dir (newcerts/): SERIAL.pem; default: "newcerts" next to Index
	// CRLNumber is the crlnumber file (hex: the next number openssl ca would use); optional.
	CRLNumber string
	// CRL is the old CA's last CRL; optional. Its number counts, and its entries are cross-checked.
	CRL           string
	KeyPassphrase []byte // passphrase of an encrypted CAKey
}

// LoadOpenSSL reads an `openssl ca` CA. It fails with a *LineError for bad index lines, ErrCertMissing,
// ErrCertMismatch, ErrNotCA, ErrRootCRLRequired, ca.ErrWrongPassphrase / ca.ErrPassphraseRequired /
// ca.ErrKeyMismatch for the key, or an error naming the file that could not be read.
func LoadOpenSSL(src OpenSSLSource) (*CA, error) {
	c := &CA{Source: "openssl"}
	if err := c.loadCA(src.CACert, src.CAKey, src.KeyPassphrase, src.RootCert, src.RootCRL); err != nil {
		return nil, err
	}
	certsDir := src.CertsDir
	if certsDir == "" {
		certsDir = filepath.Join(filepath.Dir(src.Index), "newcerts")
	}
	find := func(e IndexEntry) []string {
		var paths []string
		for _, s := range serialNames(e.SerialText) {
			paths = append(paths, filepath.Join(certsDir, s+".pem"))
		}
		if e.File != "" && e.File != "unknown" && !strings.ContainsRune(e.File, 0) {
			paths = append(paths, filepath.Join(certsDir, filepath.Base(e.File)))
		}
		return paths
	}
	if err := c.loadIndex(src.Index, find); err != nil {
		return nil, err
	}
	if err := c.loadCRLNumber(src.CRLNumber, false); err != nil {
		return nil, err
	}
	if src.CRL != "" {
		if err := c.loadOldCRL(src.CRL); err != nil {
			return nil, err
		}
	}
	return c, nil
}

// LoadEasyRSA reads an easy-rsa 3 PKI directory: ca.crt, private/ca.key, index.txt, the certificates
// from certs_by_serial/SERIAL.pem, revoked/certs_by_serial/SERIAL.crt (where `easyrsa revoke` moves
// them), renewed/certs_by_serial/ or issued/CN.crt, crlnumber (when the configuration kept one) and
// crl.pem. Its errors are LoadOpenSSL's.
func LoadEasyRSA(pkiDir string, keyPassphrase []byte) (*CA, error) {
	c := &CA{Source: "easy-rsa"}
	p := func(parts ...string) string { return filepath.Join(append([]string{pkiDir}, parts...)...) }
	if err := c.loadCA(p("ca.crt"), p("private", "ca.key"), keyPassphrase, "", ""); err != nil {
		return nil, err
	}
	find := func(e IndexEntry) []string {
		var paths []string
		for _, s := range serialNames(e.SerialText) {
			paths = append(paths,
				p("certs_by_serial", s+".pem"),
				p("revoked", "certs_by_serial", s+".crt"), p("revoked", "certs_by_serial", s+".pem"),
				p("renewed", "certs_by_serial", s+".crt"), p("renewed", "certs_by_serial", s+".pem"))
		}
		// issued/NAME.crt is named after the request, usually the CN; the serial check below makes a
		// wrong guess harmless.
		if cn := cnFromDN(e.Subject); cn != "" && !strings.ContainsAny(cn, `/\`) && cn != "." && cn != ".." {
			paths = append(paths, p("issued", cn+".crt"))
		}
		return paths
	}
	if err := c.loadIndex(p("index.txt"), find); err != nil {
		return nil, err
	}
	if err := c.loadCRLNumber(p("crlnumber"), true); err != nil {
		return nil, err
	}
	if _, err := os.Stat(p("crl.pem")); err == nil {
		if err := c.loadOldCRL(p("crl.pem")); err != nil {
			return nil, err
		}
	}
	return c, nil
}

// serialNames returns the spellings a certificate file may be named after: as in the index, upper- and
// lower-case.
func serialNames(s string) []string {
	names := []string{s}
	for _, v := range []string{strings.ToUpper(s), strings.ToLower(s)} {
		if !slices.Contains(names, v) {
			names = append(names, v)
		}
	}
	return names
}

// cnFromDN returns the CN of an OpenSSL one-line DN ("/C=DE/CN=alice"), or "".
func cnFromDN(dn string) string {
	cn := ""
	for _, rdn := range strings.Split(dn, "/") {
		if v, ok := strings.CutPrefix(rdn, "CN="); ok {
			cn = v
		}
	}
	return cn
}

func readFile(path, what string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("reading %s %s: %w", what, path, err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("reading %s %s: %w", what, path, err)
	}
	if len(data) > maxFileSize {
		return nil, fmt.Errorf("reading %s %s: larger than %d MiB", what, path, maxFileSize>>20)
	}
	return data, nil
}

// firstCertificate returns the first CERTIFICATE block of a PEM file. Unlike ca.ParseCertificates it
// skips text around the block: `openssl ca` writes newcerts/*.pem with a text dump before the PEM unless
// -notext was given.
func firstCertificate(data []byte) (*x509.Certificate, error) {
	rest := data
	for {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		if block.Type == "CERTIFICATE" {
			return x509.ParseCertificate(block.Bytes)
		}
	}
	if c, err := x509.ParseCertificate(bytes.TrimSpace(data)); err == nil {
		return c, nil // DER
	}
	return nil, errors.New("no PEM CERTIFICATE block")
}

func readCert(path, what string) (*x509.Certificate, error) {
	data, err := readFile(path, what)
	if err != nil {
		return nil, err
	}
	c, err := firstCertificate(data)
	if err != nil {
		return nil, fmt.Errorf("reading %s %s: %w", what, path, err)
	}
	return c, nil
}

// checkCA checks that cert can go on issuing: a CA with keyCertSign and cRLSign and a subject key
// identifier (wsca puts it into every certificate and CRL as the authority key identifier, RFC 5280
// 4.2.1.1, and crypto/x509 needs it to sign CRLs).
func checkCA(cert *x509.Certificate, path string) error {
	switch {
	case !cert.BasicConstraintsValid || !cert.IsCA:
		return fmt.Errorf("%s (%s): %w: basicConstraints CA:TRUE is missing", path, cert.Subject, ErrNotCA)
	case cert.KeyUsage != 0 && cert.KeyUsage&x509.KeyUsageCertSign == 0:
		return fmt.Errorf("%s (%s): %w: keyUsage lacks keyCertSign", path, cert.Subject, ErrNotCA)
	case cert.KeyUsage != 0 && cert.KeyUsage&x509.KeyUsageCRLSign == 0:
		return fmt.Errorf("%s (%s): %w: keyUsage lacks cRLSign, so it cannot sign CRLs", path, cert.Subject, ErrNotCA)
	case len(cert.SubjectKeyId) == 0:
		return fmt.Errorf("%s (%s): %w: no subject key identifier", path, cert.Subject, ErrNotCA)
	}
	return nil
}

func selfSigned(c *x509.Certificate) bool {
	return bytes.Equal(c.RawIssuer, c.RawSubject) && c.CheckSignatureFrom(c) == nil
}

func (c *CA) loadCA(certPath, keyPath string, pass []byte, rootPath, rootCRLPath string) error {
	issuer, err := readCert(certPath, "CA certificate")
	if err != nil {
		return err
	}
	if err := checkCA(issuer, certPath); err != nil {
		return err
	}
	keyPEM, err := readFile(keyPath, "CA key")
	if err != nil {
		return err
	}
	key, err := ca.ParseKey(keyPEM, pass)
	if err != nil {
		return fmt.Errorf("%w %s: %w", ErrOldKey, keyPath, err)
	}
	if err := ca.CheckKeyMatches(key, issuer); err != nil {
		return fmt.Errorf("CA key %s does not belong to %s: %w", keyPath, certPath, err)
	}
	c.Issuer, c.Key = issuer, key
	switch {
	case selfSigned(issuer) && rootPath != "":
		c.Warnings = append(c.Warnings, fmt.Sprintf("%s is self-signed: it is its own root, --root-cert %s is ignored", certPath, rootPath))
	case selfSigned(issuer):
	case rootPath == "":
		return fmt.Errorf("%s (%s) is not self-signed: pass its root CA with --root-cert (and the root's CRL with --root-crl)", certPath, issuer.Subject)
	default:
		root, err := readCert(rootPath, "root certificate")
		if err != nil {
			return err
		}
		if !selfSigned(root) {
			return fmt.Errorf("%s (%s) is not a self-signed root", rootPath, root.Subject)
		}
		if err := issuer.CheckSignatureFrom(root); err != nil {
			return fmt.Errorf("%s is not signed by %s: %w", certPath, rootPath, err)
		}
		if rootCRLPath == "" {
			return fmt.Errorf("%w: the root key stays with the old root, so pass its current CRL with --root-crl", ErrRootCRLRequired)
		}
		data, err := readFile(rootCRLPath, "root CRL")
		if err != nil {
			return err
		}
		if _, err := crl.Parse(data, []*x509.Certificate{root}); err != nil {
			return fmt.Errorf("root CRL %s: %w", rootCRLPath, err)
		}
		c.Root, c.RootCRL = root, data
	}
	return nil
}

// loadIndex parses index.txt and turns each line into a record, reading the certificate from the first of
// find's paths that exists.
func (c *CA) loadIndex(path string, find func(IndexEntry) []string) error {
	data, err := readFile(path, "index")
	if err != nil {
		return err
	}
	entries, err := ParseIndex(bytes.NewReader(data), path)
	if err != nil {
		return err
	}
	var errs []error
	for _, e := range entries {
		rec, err := c.record(e, find(e))
		if err != nil {
			if len(errs) < maxLineErrors {
				errs = append(errs, &LineError{File: path, Line: e.Line, Err: err})
			}
			continue
		}
		c.Records = append(c.Records, rec)
	}
	if len(errs) == 0 {
		c.warnNoClientAuth()
	}
	return errors.Join(errs...)
}

// warnNoClientAuth lists the valid client certificates without an explicit clientAuth extended key usage
// (openssl ca without an extensions section writes none): Go and OpenSSL accept them for any purpose, also as
// a server certificate, which wsca never issues. The import keeps them; the operator should renew them.
func (c *CA) warnNoClientAuth() {
	var names []string
	for _, r := range c.Records {
		if r.Kind != ca.KindClient || r.Revocation != nil {
			continue
		}
		if cert, err := x509.ParseCertificate(r.DER); err == nil && cadir.WithoutClientAuthEKU(cert) {
			names = append(names, fmt.Sprintf("%q (serial %s)", r.Name, ca.SerialUpper(r.Serial)))
		}
	}
	if len(names) > 0 {
		c.Warnings = append(c.Warnings, fmt.Sprintf("%d client certificate(s) have no explicit clientAuth extended key usage "+
			"and are accepted for any purpose: %s; renew them after the import with wsca issue NAME --renew",
			len(names), strings.Join(names, ", ")))
	}
}

func (c *CA) record(e IndexEntry, paths []string) (store.Record, error) {
	var cert *x509.Certificate
	var tried []string
	for _, p := range paths {
		data, err := readFile(p, "certificate")
		if errors.Is(err, fs.ErrNotExist) {
			tried = append(tried, p)
			continue
		}
		if err != nil {
			return store.Record{}, err
		}
		if cert, err = firstCertificate(data); err != nil {
			return store.Record{}, fmt.Errorf("%s: %w", p, err)
		}
		if cert.SerialNumber.Cmp(e.Serial) == 0 {
			break
		}
		// issued/NAME.crt may belong to a newer certificate of the same name: keep looking.
		tried = append(tried, p+" (serial "+ca.SerialUpper(cert.SerialNumber)+")")
		cert = nil
	}
	if cert == nil {
		return store.Record{}, fmt.Errorf("serial %s (%s): %w (looked for %s)", e.SerialText, e.Subject, ErrCertMissing, strings.Join(tried, ", "))
	}
	if !cert.NotAfter.Equal(e.Expiry) {
		return store.Record{}, fmt.Errorf("serial %s: %w: the index says it expires %s, the certificate %s", e.SerialText, ErrCertMismatch,
			e.Expiry.Format(time.RFC3339), cert.NotAfter.UTC().Format(time.RFC3339))
	}
	if err := cert.CheckSignatureFrom(c.Issuer); err != nil {
		return store.Record{}, fmt.Errorf("serial %s: %w: not signed by the CA being imported (%s): %w", e.SerialText, ErrCertMismatch, c.Issuer.Subject, err)
	}
	fp := sha256.Sum256(cert.Raw)
	rec := store.Record{
		Serial:            new(big.Int).Set(cert.SerialNumber),
		Name:              recordName(cert),
		Kind:              kindOf(cert),
		Subject:           cert.Subject.String(),
		NotBefore:         cert.NotBefore,
		NotAfter:          cert.NotAfter,
		FingerprintSHA256: hex.EncodeToString(fp[:]),
		DER:               cert.Raw,
		// The old tooling recorded no issuance time; NotBefore is the closest it gives.
		IssuedAt: cert.NotBefore,
		IssuedBy: ImportedBy + c.Source,
	}
	if e.Revoked {
		rec.Revocation = &store.Revocation{At: e.RevokedAt, Reason: e.Reason, By: ImportedBy + c.Source}
	}
	return rec, nil
}

// recordName is the name a certificate is listed under: its CN when that is usable as a wsca name,
// otherwise its serial.
func recordName(cert *x509.Certificate) string {
	cn := cert.Subject.CommonName
	if cn == "" || len(cn) > 64 || strings.ContainsAny(cn, "/\\\x00") || cn == "." || cn == ".." || strings.HasPrefix(cn, "-") {
		return "serial-" + ca.SerialHex(cert.SerialNumber)
	}
	return cn
}

// kindOf classifies an imported certificate the way wsca's records do: "server" for serverAuth without
// clientAuth, "subca" for a CA certificate (listed only with wsca list --all; its revocation goes on the
// issuing CA's CRL like any other), otherwise "client".
func kindOf(cert *x509.Certificate) ca.Kind {
	if cert.IsCA {
		return ca.KindSubCA
	}
	server := ca.HasServerAuth(cert)
	client := ca.HasClientAuth(cert)
	if server && !client {
		return ca.KindServer
	}
	return ca.KindClient
}

// loadCRLNumber reads a crlnumber file: the hex number openssl ca will put into its next CRL. The last
// number used is one less. optional: a missing file is not an error (easy-rsa 3.1 keeps none).
func (c *CA) loadCRLNumber(path string, optional bool) error {
	if path == "" {
		return nil
	}
	data, err := readFile(path, "CRL number")
	if err != nil {
		if optional && errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		return err
	}
	s := strings.TrimSpace(string(data))
	n, ok := new(big.Int).SetString(s, 16)
	if !ok || n.Sign() < 0 || n.BitLen() > 159 || strings.ContainsAny(s, "+-xX_") {
		return &LineError{File: path, Line: 1, Err: fmt.Errorf("%q is not a hex CRL number", s)}
	}
	if n.Sign() > 0 {
		n.Sub(n, big.NewInt(1))
	}
	c.raiseCRLNumber(n)
	return nil
}

func (c *CA) raiseCRLNumber(n *big.Int) {
	if c.LastCRLNumber == nil || n.Cmp(c.LastCRLNumber) > 0 {
		c.LastCRLNumber = new(big.Int).Set(n)
	}
}

// loadOldCRL parses the old CA's last CRL: its number counts towards LastCRLNumber, and any serial it
// lists that the index does not have revoked is reported as a warning (the index is what is imported).
func (c *CA) loadOldCRL(path string) error {
	data, err := readFile(path, "CRL")
	if err != nil {
		return err
	}
	crls, err := crl.Parse(data, []*x509.Certificate{c.Issuer})
	if err != nil {
		return fmt.Errorf("old CRL %s: %w", path, err)
	}
	old := crls[0]
	c.OldCRL = old
	if old.Number != nil {
		c.raiseCRLNumber(old.Number)
	}
	revoked := map[string]bool{}
	for _, r := range c.Records {
		if r.Revocation != nil {
			revoked[ca.SerialHex(r.Serial)] = true
		}
	}
	for serial := range old.Revoked.All() {
		s := ca.SerialHex(new(big.Int).SetBytes(serial))
		if !revoked[s] {
			c.Warnings = append(c.Warnings, fmt.Sprintf("%s lists serial %s, which index.txt does not have revoked: it will not be on wsca's CRL", path, strings.ToUpper(s)))
		}
	}
	return nil
}
