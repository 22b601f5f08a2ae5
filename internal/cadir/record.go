package cadir

import (
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"time"

	"github.com/wsca/wsca/ca"
	"github.com/wsca/wsca/store"
)

// recordFor builds the database record of a certificate.
func recordFor(cert *x509.Certificate, name string, kind ca.Kind, now time.Time, user string) store.Record {
	fp := sha256.Sum256(cert.Raw)
	return store.Record{
		Serial:            cert.SerialNumber,
		Name:              name,
		Kind:              kind,
		Subject:           cert.Subject.String(),
		NotBefore:         cert.NotBefore,
		NotAfter:          cert.NotAfter,
		FingerprintSHA256: hex.EncodeToString(fp[:]),
		DER:               cert.Raw,
		IssuedAt:          now,
		IssuedBy:          user,
	}
}

// validByName returns the newest valid certificate recorded for name, or nil.
func validByName(st *store.Store, name string, now time.Time) (*store.Record, error) {
	recs, err := st.ByName(name)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var newest *store.Record
	for i := range recs {
		if recs[i].Status(now) == "valid" && (newest == nil || recs[i].NotBefore.After(newest.NotBefore)) {
			newest = &recs[i]
		}
	}
	return newest, nil
}
