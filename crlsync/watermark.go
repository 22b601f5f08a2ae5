package crlsync

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"os"
	"sync"

	"github.com/wsca/wsca/crl"
	"github.com/wsca/wsca/internal/atomicfile"
)

// ErrRollback is wrapped by every *RollbackError.
var ErrRollback = errors.New("CRL rollback refused")

// RollbackError reports a CRL older than one already accepted from the same issuer: a lower CRL number, or the
// same number with different content (two different CRLs cannot both be number N, RFC 5280 §5.2.3).
type RollbackError struct {
	Issuer string   // the issuing CA's subject
	Have   *big.Int // the highest CRL number accepted so far
	Got    *big.Int // the number of the refused CRL (nil: it carries none)
}

// Error names the issuer and both numbers.
func (e *RollbackError) Error() string {
	got := "none"
	if e.Got != nil {
		got = e.Got.String()
	}
	if e.Got != nil && e.Got.Cmp(e.Have) == 0 {
		return fmt.Sprintf("%v: CRL number %s from %q has different content than the CRL %s already accepted",
			ErrRollback, got, e.Issuer, e.Have)
	}
	return fmt.Sprintf("%v: CRL number %s from %q is lower than %s, already accepted", ErrRollback, got, e.Issuer, e.Have)
}

// Unwrap returns ErrRollback.
func (e *RollbackError) Unwrap() error { return ErrRollback }

// Watermark remembers, per issuing CA, the highest CRL number accepted and the digest of that CRL, so that a stale
// crl.pem (a sync job, a restored backup, a replayed download) cannot un-revoke anybody. With a path it persists to
// a small JSON file, replaced atomically on every advance, so the rule survives a restart. It is safe for
// concurrent use.
type Watermark struct {
	path string
	mu   sync.Mutex
	m    map[string]mark
}

// mark is one issuer's entry; Number is decimal (CRL numbers may be 20 octets).
type mark struct {
	Subject string `json:"subject"`
	Number  string `json:"number"`
	SHA256  string `json:"sha256"`
}

type watermarkFile struct {
	Version int             `json:"version"`
	Issuers map[string]mark `json:"issuers"`
}

// maxStateFile bounds what OpenWatermark reads: a few CAs take a few hundred bytes.
const maxStateFile = 1 << 20

// OpenWatermark loads the watermark kept at path (a missing file is an empty watermark). An empty path keeps the
// watermark in memory only. A file that exists but does not parse is an error: silently starting from nothing
// would re-open the door the watermark closes.
func OpenWatermark(path string) (*Watermark, error) {
	w := &Watermark{path: path, m: make(map[string]mark)}
	if path == "" {
		return w, nil
	}
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return w, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading CRL state %s: %w", path, err)
	}
	if len(data) > maxStateFile {
		return nil, fmt.Errorf("CRL state %s: larger than %d bytes", path, maxStateFile)
	}
	var f watermarkFile
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&f); err != nil || f.Version != 1 {
		if err == nil {
			err = fmt.Errorf("unsupported version %d", f.Version)
		}
		return nil, fmt.Errorf("CRL state %s: %w (remove it only if you trust the CRL now in place)", path, err)
	}
	for k, v := range f.Issuers {
		if _, ok := new(big.Int).SetString(v.Number, 10); !ok {
			return nil, fmt.Errorf("CRL state %s: issuer %q: bad number %q", path, v.Subject, v.Number)
		}
		w.m[k] = v
	}
	return w, nil
}

// Path returns the state file, "" when the watermark lives in memory only.
func (w *Watermark) Path() string { return w.path }

// issuerKey identifies a CA by subject and key, as crl.Bundle does.
func issuerKey(c *crl.CRL) string {
	h := sha256.New()
	h.Write(c.Issuer.RawSubject)
	h.Write(c.Issuer.RawSubjectPublicKeyInfo)
	return hex.EncodeToString(h.Sum(nil)[:16])
}

func digest(c *crl.CRL) string {
	d := sha256.Sum256(c.Raw)
	return hex.EncodeToString(d[:])
}

// Check returns a *RollbackError for the first CRL of crls that goes backwards: a number lower than the highest
// accepted from its issuer, the same number with other content, or no number at all once a numbered CRL was
// accepted. CRLs from issuers not seen before pass.
func (w *Watermark) Check(crls []*crl.CRL) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, c := range crls {
		have, ok := w.m[issuerKey(c)]
		if !ok {
			continue
		}
		hn, _ := new(big.Int).SetString(have.Number, 10)
		rb := &RollbackError{Issuer: c.Issuer.Subject.String(), Have: hn, Got: c.Number}
		switch {
		case c.Number == nil:
			return rb
		case c.Number.Cmp(hn) < 0:
			return rb
		case c.Number.Cmp(hn) == 0 && digest(c) != have.SHA256:
			return rb
		}
	}
	return nil
}

// Advance records crls as accepted (call it after Check passed and the CRLs are in use) and, when a number
// moved, rewrites the state file atomically. CRLs without a number are not recorded. A write error is returned
// after the in-memory watermark has advanced: the rule still holds until the process ends.
func (w *Watermark) Advance(crls []*crl.CRL) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	changed := false
	for _, c := range crls {
		if c.Number == nil {
			continue
		}
		k := issuerKey(c)
		if have, ok := w.m[k]; ok {
			if hn, _ := new(big.Int).SetString(have.Number, 10); c.Number.Cmp(hn) < 0 {
				continue // never lower the mark, whatever the caller passes
			}
		}
		nm := mark{Subject: c.Issuer.Subject.String(), Number: c.Number.String(), SHA256: digest(c)}
		if w.m[k] != nm {
			w.m[k] = nm
			changed = true
		}
	}
	if !changed || w.path == "" {
		return nil
	}
	data, err := json.MarshalIndent(watermarkFile{Version: 1, Issuers: w.m}, "", "  ")
	if err != nil {
		return err
	}
	if err := atomicfile.Write(w.path, append(data, '\n'), 0o644); err != nil {
		return fmt.Errorf("saving CRL state: %w", err)
	}
	return nil
}
