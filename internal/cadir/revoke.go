package cadir

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/wsca/wsca/store"
)

// ErrAmbiguous means a name has several valid certificates and the caller must pick one (or all).
var ErrAmbiguous = errors.New("has several valid certificates")

// ErrNothingToRevoke means the name has no certificate that can still be revoked.
var ErrNothingToRevoke = errors.New("has no valid certificate to revoke")

// Find resolves a NAME or a hex SERIAL to its records. A name is tried first; a string that is not a
// known name but parses as hex is taken as a serial.
func (d *Dir) Find(target string) ([]store.Record, error) {
	st, err := d.OpenStore(true)
	if err != nil {
		return nil, err
	}
	defer st.Close()
	return find(st, target)
}

func find(st *store.Store, target string) ([]store.Record, error) {
	recs, err := st.ByName(target)
	if err == nil && len(recs) > 0 {
		return recs, nil
	}
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return nil, err
	}
	if serial, ok := SerialOf(target); ok {
		rec, err := st.Get(serial)
		if err == nil {
			return []store.Record{rec}, nil
		}
		if !errors.Is(err, store.ErrNotFound) {
			return nil, err
		}
	}
	return nil, fmt.Errorf("no certificate named or with serial %q (wsca list shows what was issued): %w", target, store.ErrNotFound)
}

// RevokeRequest names what to revoke and why.
type RevokeRequest struct {
	Target       string // NAME or SERIAL; ignored with Intermediate
	Reason       store.Reason
	All          bool // every valid certificate of the name
	Intermediate bool // revoke the intermediate CA (needs the root key; re-signs the root CRL)
}

// Revoke records revocations in the database. It does not touch crl.pem, except for an intermediate,
// whose revocation is useless until the root CRL says so: then the CRLs are regenerated at once.
func (d *Dir) Revoke(req RevokeRequest) ([]store.Record, error) {
	if req.Intermediate {
		return d.revokeIntermediate(req.Reason)
	}
	st, err := d.OpenStore(false)
	if err != nil {
		return nil, err
	}
	defer st.Close()
	recs, err := find(st, req.Target)
	if err != nil {
		return nil, err
	}
	targets, err := pickRevocable(req, recs, d.now())
	if err != nil {
		return nil, err
	}
	var out []store.Record
	for _, r := range targets {
		if r.Kind == "root" || r.Kind == "intermediate" {
			return out, fmt.Errorf("%s is the %s CA certificate: use wsca revoke --intermediate", req.Target, r.Kind)
		}
		rev, err := st.Revoke(r.Serial, store.Revocation{At: d.now(), Reason: req.Reason, By: d.User})
		if err != nil {
			return out, err
		}
		out = append(out, rev)
	}
	return out, nil
}

// pickRevocable chooses the records a revoke request means.
func pickRevocable(req RevokeRequest, recs []store.Record, now time.Time) ([]store.Record, error) {
	_, bySerial := SerialOf(req.Target)
	if len(recs) == 1 && (bySerial && recs[0].Name != req.Target) {
		if recs[0].Revocation != nil {
			return nil, alreadyRevoked(recs[0])
		}
		return recs, nil
	}
	var valid, revoked []store.Record
	for _, r := range recs {
		switch {
		case r.Revocation != nil:
			revoked = append(revoked, r)
		case r.NotAfter.After(now):
			valid = append(valid, r)
		}
	}
	switch {
	case len(valid) == 1 || (len(valid) > 1 && req.All):
		return valid, nil
	case len(valid) > 1:
		var serials []string
		for _, r := range valid {
			serials = append(serials, store.SerialHex(r.Serial))
		}
		return nil, fmt.Errorf("%q %w (%s): pass a serial, or --all", req.Target, ErrAmbiguous, strings.Join(serials, ", "))
	case len(revoked) > 0:
		return nil, alreadyRevoked(revoked[len(revoked)-1])
	default:
		return nil, fmt.Errorf("%q %w: its certificates have expired", req.Target, ErrNothingToRevoke)
	}
}

func alreadyRevoked(r store.Record) error {
	return fmt.Errorf("certificate %s (%s) was revoked on %s (%s): %w", store.SerialHex(r.Serial), r.Name,
		r.Revocation.At.Format("2006-01-02 15:04:05Z07:00"), r.Revocation.Reason, store.ErrAlreadyRevoked)
}

func (d *Dir) revokeIntermediate(reason store.Reason) ([]store.Record, error) {
	if d.SingleCA() {
		return nil, errors.New("this CA was imported and is its own root: there is no intermediate to revoke; " +
			"to retire it, create a new CA with wsca init in another directory and reissue")
	}
	// Load the root key first: revoking the intermediate without re-signing the root CRL would leave
	// a database that says "revoked" and servers that still trust it.
	if _, err := d.Root(); err != nil {
		return nil, fmt.Errorf("revoking the intermediate needs the root key: %w", err)
	}
	inter, _, err := d.Chain()
	if err != nil {
		return nil, err
	}
	st, err := d.OpenStore(false)
	if err != nil {
		return nil, err
	}
	rec, err := st.Revoke(inter.SerialNumber, store.Revocation{At: d.now(), Reason: reason, By: d.User})
	st.Close()
	if err != nil {
		return nil, err
	}
	if _, err := d.GenerateCRL(CRLOptions{}); err != nil {
		return []store.Record{rec}, fmt.Errorf("the intermediate is revoked in the database but the CRLs were not regenerated: %w (run wsca crl)", err)
	}
	return []store.Record{rec}, nil
}

// Unrevoke lifts a certificateHold on a NAME or SERIAL.
func (d *Dir) Unrevoke(target string) (store.Record, error) {
	st, err := d.OpenStore(false)
	if err != nil {
		return store.Record{}, err
	}
	defer st.Close()
	recs, err := find(st, target)
	if err != nil {
		return store.Record{}, err
	}
	var held []store.Record
	for _, r := range recs {
		if r.Revocation != nil && r.Revocation.Reason == store.CertificateHold {
			held = append(held, r)
		}
	}
	switch len(held) {
	case 0:
		return store.Record{}, fmt.Errorf("%q: %w (only a certificateHold can be lifted)", target, store.ErrNotOnHold)
	case 1:
		return st.Unrevoke(held[0].Serial, d.User)
	default:
		return store.Record{}, fmt.Errorf("%q has %d certificates on hold: pass a serial", target, len(held))
	}
}
