package crlsync

import (
	"bytes"
	"crypto/x509"
	"errors"
	"fmt"
	"io/fs"
	"os"

	"github.com/wsca/wsca/crl"
	"github.com/wsca/wsca/internal/atomicfile"
)

// StateSuffix is appended to a CRL copy's file name to name the watermark kept next to it.
const StateSuffix = ".state.json"

// FileSync keeps a CRL file (what Apache SSLCARevocationFile, nginx ssl_crl or HAProxy crl-file read) equal to
// the newest verified CRL offered to it. It is the sidecar half of `wsca crl fetch`.
type FileSync struct {
	Out       string              // the CRL file, replaced atomically (mode 0644)
	CAs       []*x509.Certificate // the client CA bundle the CRLs must verify against
	Watermark *Watermark
	// OnChange, if set, runs after Out was replaced (a server reload). Its error is returned by Offer; the
	// file stays replaced, and the next Offer runs OnChange again even if nothing changed since.
	OnChange func() error

	hookPending bool
}

// Offer verifies body, applies the rollback rule and, when body differs from Out's content, replaces Out and
// advances the watermark. It reports whether Out changed. On any error Out is left as it was.
func (f *FileSync) Offer(body []byte) (changed bool, err error) {
	crls, err := Verify(body, f.CAs)
	if err != nil {
		return false, fmt.Errorf("refusing the downloaded CRL: %w", err)
	}
	if err := f.Watermark.Check(crls); err != nil {
		return false, err
	}
	cur, err := os.ReadFile(f.Out)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return false, fmt.Errorf("reading %s: %w", f.Out, err)
	}
	changed = !bytes.Equal(cur, body)
	if changed {
		if err := atomicfile.Write(f.Out, body, 0o644); err != nil {
			return false, err
		}
		f.hookPending = f.OnChange != nil
	}
	if err := f.Watermark.Advance(crls); err != nil {
		return changed, err
	}
	if f.hookPending {
		if err := f.OnChange(); err != nil {
			return changed, err
		}
		f.hookPending = false
	}
	return changed, nil
}

// Current returns the verified CRLs in Out, or nil when Out is missing or does not verify (a first run).
func (f *FileSync) Current() []*crl.CRL {
	data, err := os.ReadFile(f.Out)
	if err != nil {
		return nil
	}
	crls, err := Verify(data, f.CAs)
	if err != nil {
		return nil
	}
	return crls
}
