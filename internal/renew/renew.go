// Package renew is the holder's side of wsca enroll (`wsca renew`): it renews a client certificate over EST
// simplereenroll, authenticated by the certificate itself, at 2/3 of its lifetime, writes the new files
// atomically and, in daemon mode, keeps doing so with backoff on errors until the CA refuses for good.
package renew

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/wsca/wsca/ca"
	"github.com/wsca/wsca/internal/atomicfile"
	"github.com/wsca/wsca/internal/pkcs7"
)

// Client renews one certificate. The zero value is not usable: set CertFile, KeyFile and URL.
type Client struct {
	CertFile, KeyFile string
	// P12File, if set, is rewritten with the new key and certificate, protected by P12Password (the
	// bundle's current password: the holder's imports keep working) in P12Format.
	P12File     string
	P12Password string
	P12Format   ca.P12Format
	URL         string         // base URL of wsca enroll, e.g. https://ca.example:8444
	RootCAs     *x509.CertPool // trust for the enroll server's certificate; nil: the system's
	Rekey       bool           // make a new key (of the same type) instead of certifying the current one again
	Rand        io.Reader
	Now         func() time.Time
	Timeout     time.Duration // per HTTP exchange; default 30s
}

// ErrRefused is wrapped by every *RefusedError.
var ErrRefused = errors.New("the CA refused the renewal")

// RefusedError is an answer of wsca enroll other than a certificate: status, reason (enroll.Reason*) and
// message.
type RefusedError struct {
	Status  int
	Reason  string
	Message string
}

func (e *RefusedError) Error() string {
	return fmt.Sprintf("the CA refused the renewal (HTTP %d, %s): %s", e.Status, e.Reason, e.Message)
}

// Unwrap lets errors.Is(err, ErrRefused) match.
func (e *RefusedError) Unwrap() error { return ErrRefused }

// Permanent reports whether trying again cannot help: the certificate is revoked, unknown to the CA,
// rejected (expired, another CA) or the request names another identity.
func (e *RefusedError) Permanent() bool {
	switch e.Reason {
	case "revoked", "unknown_certificate", "certificate_rejected", "identity", "no_certificate":
		return true
	}
	return false
}

// Revoked reports whether err says the certificate has been revoked.
func Revoked(err error) bool {
	var r *RefusedError
	return errors.As(err, &r) && r.Reason == "revoked"
}

// Due returns when cert should be renewed: at 2/3 of its lifetime, earlier by a random jitter of up to a
// tenth of the lifetime so that certificates issued together do not all come back in the same second.
func Due(cert *x509.Certificate, rnd io.Reader) time.Time {
	life := cert.NotAfter.Sub(cert.NotBefore)
	due := cert.NotBefore.Add(life * 2 / 3)
	var b [8]byte
	if span := int64(life / 10); span > 0 {
		if _, err := io.ReadFull(rnd, b[:]); err == nil {
			n := int64(0)
			for _, c := range b {
				n = n<<8 | int64(c)
			}
			if n < 0 {
				n = -n
			}
			due = due.Add(-time.Duration(n % span))
		}
	}
	return due
}

// Load reads the current certificate and key and checks that they belong together.
func (c *Client) Load() (*x509.Certificate, crypto.Signer, error) {
	data, err := os.ReadFile(c.CertFile)
	if err != nil {
		return nil, nil, fmt.Errorf("reading certificate: %w", err)
	}
	certs, err := ca.ParseCertificates(data)
	if err != nil {
		return nil, nil, fmt.Errorf("reading certificate %s: %w", c.CertFile, err)
	}
	keyPEM, err := os.ReadFile(c.KeyFile)
	if err != nil {
		return nil, nil, fmt.Errorf("reading key: %w", err)
	}
	key, err := ca.ParseKey(keyPEM, nil)
	if err != nil {
		return nil, nil, fmt.Errorf("reading key %s: %w", c.KeyFile, err)
	}
	if err := ca.CheckKeyMatches(key, certs[0]); err != nil {
		return nil, nil, fmt.Errorf("%s and %s: %w", c.CertFile, c.KeyFile, err)
	}
	return certs[0], key, nil
}

// Renew renews now: a CSR for the current subject (with the current key, or a new one with Rekey) is
// posted to simplereenroll over TLS authenticated by the current certificate; the answer must certify the
// requested key. The key (if new), the certificate and the bundle are then replaced atomically, key first.
func (c *Client) Renew(ctx context.Context) (*x509.Certificate, error) {
	cur, key, err := c.Load()
	if err != nil {
		return nil, err
	}
	newKey := key
	if c.Rekey {
		kt, ok := ca.KeyTypeOf(key.Public())
		if !ok {
			kt = ca.DefaultKeyType
		}
		if newKey, err = ca.GenerateKey(c.rand(), kt); err != nil {
			return nil, fmt.Errorf("making the new key: %w", err)
		}
	}
	csr, err := x509.CreateCertificateRequest(c.rand(), &x509.CertificateRequest{RawSubject: cur.RawSubject}, newKey)
	if err != nil {
		return nil, fmt.Errorf("making the certificate request: %w", err)
	}
	hc := c.httpClient(tls.Certificate{Certificate: [][]byte{cur.Raw}, PrivateKey: key, Leaf: cur})
	defer hc.CloseIdleConnections()
	certs, err := c.post(ctx, hc, "/.well-known/est/simplereenroll", csr)
	if err != nil {
		return nil, err
	}
	issued := certs[0]
	if err := ca.CheckKeyMatches(newKey, issued); err != nil {
		return nil, fmt.Errorf("the CA's answer does not certify the requested key: %w", err)
	}
	if err := c.write(ctx, hc, newKey, issued); err != nil {
		return nil, err
	}
	return issued, nil
}

func (c *Client) rand() io.Reader {
	if c.Rand != nil {
		return c.Rand
	}
	return rand.Reader
}

func (c *Client) httpClient(cert tls.Certificate) *http.Client {
	timeout := c.Timeout
	if timeout == 0 {
		timeout = 30 * time.Second
	}
	return &http.Client{Timeout: timeout, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: c.RootCAs,
			Certificates: []tls.Certificate{cert}},
		TLSHandshakeTimeout: timeout,
	}}
}

// post sends a base64 CSR and decodes the certs-only answer, or returns a *RefusedError.
func (c *Client) post(ctx context.Context, hc *http.Client, path string, csr []byte) ([]*x509.Certificate, error) {
	url := strings.TrimSuffix(c.URL, "/") + path
	body := base64.StdEncoding.EncodeToString(csr)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, strings.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("renewal URL %q: %w", c.URL, err)
	}
	req.Header.Set("Content-Type", "application/pkcs10")
	req.Header.Set("Content-Transfer-Encoding", "base64")
	return c.do(hc, req)
}

func (c *Client) do(hc *http.Client, req *http.Request) ([]*x509.Certificate, error) {
	resp, err := hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("contacting %s: %w", req.URL.Redacted(), err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, pkcs7.MaxSize*2))
	if err != nil {
		return nil, fmt.Errorf("reading the answer of %s: %w", req.URL.Redacted(), err)
	}
	if resp.StatusCode != http.StatusOK {
		line := strings.TrimSpace(string(data))
		if i := strings.IndexByte(line, '\n'); i >= 0 {
			line = line[:i]
		}
		reason, msg, ok := strings.Cut(line, ": ")
		if !ok {
			reason, msg = "unknown", line
		}
		return nil, &RefusedError{Status: resp.StatusCode, Reason: reason, Message: ca.SafeText(msg)}
	}
	der, err := base64.StdEncoding.DecodeString(string(bytes.Join(bytes.Fields(data), nil)))
	if err != nil {
		return nil, fmt.Errorf("the answer of %s is not base64: %w", req.URL.Redacted(), err)
	}
	return pkcs7.DecodeCertsOnly(der)
}

// write replaces the key (when new), the certificate and the bundle.
func (c *Client) write(ctx context.Context, hc *http.Client, key crypto.Signer, cert *x509.Certificate) error {
	if c.Rekey {
		keyPEM, err := ca.MarshalKey(key)
		if err != nil {
			return err
		}
		// The key first: a crash between the two renames leaves a new key with the old certificate, which
		// Load reports, rather than a certificate whose key is gone.
		if err := atomicfile.Write(c.KeyFile, keyPEM, 0o600); err != nil {
			return fmt.Errorf("writing the new key: %w", err)
		}
	}
	if err := atomicfile.Write(c.CertFile, ca.EncodeCertificates(cert), 0o644); err != nil {
		return fmt.Errorf("writing the new certificate: %w", err)
	}
	if c.P12File == "" {
		return nil
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimSuffix(c.URL, "/")+"/.well-known/est/cacerts", nil)
	if err != nil {
		return err
	}
	chain, err := c.do(hc, req)
	if err != nil {
		return fmt.Errorf("fetching the CA chain for %s: %w", c.P12File, err)
	}
	bundle, err := ca.EncodePKCS12(c.rand(), key, cert, chain, cert.Subject.CommonName, c.P12Password, c.P12Format)
	if err != nil {
		return fmt.Errorf("encoding %s: %w", c.P12File, err)
	}
	if err := atomicfile.Write(c.P12File, bundle, 0o600); err != nil {
		return fmt.Errorf("writing %s: %w", c.P12File, err)
	}
	return nil
}
