package doctor

import (
	"crypto/x509"
	"errors"
	"io/fs"
	"os"
	"sort"
	"strings"

	"github.com/wsca/wsca/ca"
	"github.com/wsca/wsca/internal/cadir"
)

// passphrase asks the caller's function once per run.
func (c *checker) passphrase() ([]byte, error) {
	if !c.passAsked {
		c.passAsked = true
		c.pass, c.passErr = c.opts.Passphrase()
	}
	return c.pass, c.passErr
}

func (c *checker) checkKeys() {
	skipped := []string{}
	for _, k := range []struct {
		keyFile string
		cert    *x509.Certificate
	}{{cadir.IntermediateKeyFile, c.inter}, {cadir.RootKeyFile, c.root}} {
		data, err := os.ReadFile(c.file(k.keyFile))
		if err != nil {
			if !errors.Is(err, fs.ErrNotExist) {
				c.add(SeverityError, CheckKeyMatch, "", "cannot read %s: %v", c.file(k.keyFile), err)
			}
			continue
		}
		key, err := ca.ParseKey(data, nil)
		if errors.Is(err, ca.ErrPassphraseRequired) {
			if c.opts.Passphrase == nil {
				skipped = append(skipped, k.keyFile)
				continue
			}
			pass, perr := c.passphrase()
			if perr != nil {
				c.add(SeverityWarning, CheckKeyMatch, "check --passphrase-file or WSCA_PASSPHRASE_FILE",
					"skipped: cannot read the passphrase: %v", perr)
				return
			}
			key, err = ca.ParseKey(data, pass)
		} else if err == nil {
			c.add(SeverityWarning, CheckKeyEncrypted, "encrypt it: openssl pkcs8 -topk8 -v2 aes-256-cbc -v2prf hmacWithSHA256 -in KEY -out KEY.enc, then replace it",
				"%s is not encrypted: anyone who copies the file can sign certificates", c.file(k.keyFile))
		}
		switch {
		case errors.Is(err, ca.ErrWrongPassphrase):
			c.add(SeverityError, CheckKeyMatch, "check the passphrase (--passphrase-file or WSCA_PASSPHRASE_FILE)",
				"cannot open %s: wrong passphrase", c.file(k.keyFile))
			continue
		case err != nil:
			c.add(SeverityError, CheckKeyMatch, "restore the key from a backup", "cannot parse %s: %v", c.file(k.keyFile), err)
			continue
		}
		if k.cert == nil {
			continue
		}
		if err := ca.CheckKeyMatches(key, k.cert); err != nil {
			c.add(SeverityError, CheckKeyMatch, "restore the key that belongs to this certificate from your backup; "+
				"until then wsca cannot issue certificates or sign CRLs",
				"%s does not match %s (%s): the key belongs to another certificate", c.file(k.keyFile), k.cert.Subject,
				certFileFor(k.keyFile))
			continue
		}
		c.add(SeverityOK, CheckKeyMatch, "", "%s matches its certificate %s", k.keyFile, k.cert.Subject)
	}
	if len(skipped) > 0 {
		c.add(SeverityInfo, CheckKeyMatch, "pass --passphrase-file or set WSCA_PASSPHRASE_FILE to check them",
			"skipped: no passphrase to open %s", strings.Join(skipped, " and "))
	}
	c.checkLeafKeys()
}

func certFileFor(keyFile string) string {
	switch keyFile {
	case cadir.IntermediateKeyFile:
		return cadir.IntermediateCertFile
	case cadir.RootKeyFile:
		return cadir.RootCertFile
	}
	return strings.TrimSuffix(keyFile, ".key") + ".crt"
}

// checkLeafKeys matches NAME.key with NAME.crt for certificates issued into the CA directory (--out DIR).
// Leaf keys are unencrypted; encrypted ones are left alone.
func (c *checker) checkLeafKeys() {
	entries, err := os.ReadDir(c.dir)
	if err != nil {
		return
	}
	for _, e := range entries {
		name := e.Name()
		if !strings.HasSuffix(name, ".key") || name == cadir.IntermediateKeyFile || name == cadir.RootKeyFile {
			continue
		}
		crtName := certFileFor(name)
		certData, err1 := os.ReadFile(c.file(crtName))
		keyData, err2 := os.ReadFile(c.file(name))
		if err1 != nil || err2 != nil {
			continue
		}
		certs, err := ca.ParseCertificates(certData)
		if err != nil {
			continue
		}
		key, err := ca.ParseKey(keyData, nil)
		if err != nil {
			continue
		}
		if ca.CheckKeyMatches(key, certs[0]) != nil {
			c.add(SeverityError, CheckKeyMatch, "reissue the certificate (wsca issue NAME --renew) or restore the matching key",
				"%s does not match %s (%s): a client or server using this pair fails the TLS handshake",
				c.file(name), c.file(crtName), certs[0].Subject)
		}
	}
}

// leafCertFiles returns the certificate files in the directory other than the CA's own.
func (c *checker) leafCertFiles() []string {
	entries, err := os.ReadDir(c.dir)
	if err != nil {
		return nil
	}
	var out []string
	for _, e := range entries {
		n := e.Name()
		if e.Type().IsRegular() && (strings.HasSuffix(n, ".crt") || strings.HasSuffix(n, ".pem")) &&
			n != cadir.RootCertFile && n != cadir.IntermediateCertFile && n != cadir.BundleFile &&
			n != cadir.CRLFile && n != cadir.RootCRLFile {
			out = append(out, n)
		}
	}
	sort.Strings(out)
	return out
}
