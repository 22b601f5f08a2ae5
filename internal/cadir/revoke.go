package cadir

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/wsca/wsca/ca"
	"github.com/wsca/wsca/store"
)

// ErrAmbiguous means a name has several valid certificates and the caller must pick one (or all).
var ErrAmbiguous = errors.New("has several valid certificates")

// ErrCACertificate means a leaf revocation was asked for a CA certificate: the intermediate is revoked on the
// root's CRL by its own request (RevokeRequest.Intermediate), and the root cannot be revoked at all.
var ErrCACertificate = errors.New("CA certificate")

// ErrAmbiguousSerial means a serial prefix matches several certificates; the error lists them.
var ErrAmbiguousSerial = errors.New("matches several certificates")

// ErrNothingToRevoke means the name has no certificate that can still be revoked.
var ErrNothingToRevoke = errors.New("has no valid certificate to revoke")

// Find resolves a NAME, a hex SERIAL or a unique prefix of one to its records. A name is tried first; a
// string that is not a known name but parses as hex is taken as a serial, then as the prefix of one (at
// least minSerialPrefix digits, compared with and without the leading zero openssl prints). A prefix of
// several serials fails with ErrAmbiguousSerial naming them.
func (d *Dir) Find(target string) ([]store.Record, error) {
	st, err := d.OpenStore(true)
	if err != nil {
		return nil, err
	}
	defer st.Close()
	return find(st, target, true)
}

// find resolves target as Find does; without prefixes only a whole serial is taken. Revoke and LiftHold pass
// false: a mistyped name that happens to be hex ("bead") must not revoke whichever certificate's serial starts so.
func find(st *store.Store, target string, prefixes bool) ([]store.Record, error) {
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
		if !prefixes {
			return nil, fmt.Errorf("no certificate named or with serial %q (wsca list shows what was issued; revoke takes the whole serial): %w", target, store.ErrNotFound)
		}
		if recs, err := bySerialPrefix(st, target); err != nil || len(recs) > 0 {
			return recs, err
		}
	}
	return nil, fmt.Errorf("no certificate named or with serial %q (wsca list shows what was issued): %w", target, store.ErrNotFound)
}

// minSerialPrefix is the shortest serial prefix Find accepts: shorter ones would match by accident.
const minSerialPrefix = 4

// bySerialPrefix returns the one record whose serial starts with the hex digits of target, none, or an
// ErrAmbiguousSerial listing every match.
func bySerialPrefix(st *store.Store, target string) ([]store.Record, error) {
	p := strings.ToLower(strings.TrimPrefix(strings.ReplaceAll(target, ":", ""), "0x"))
	if len(p) < minSerialPrefix {
		return nil, nil
	}
	var found []store.Record
	err := st.ForEach(func(r store.Record) error {
		h := ca.SerialHex(r.Serial)
		if strings.HasPrefix(h, p) || strings.HasPrefix("0"+h, p) {
			found = append(found, r)
		}
		return nil
	})
	if err != nil || len(found) <= 1 {
		return found, err
	}
	var names []string
	for _, r := range found {
		names = append(names, fmt.Sprintf("%s (%s)", ca.SerialText(r.Serial), ca.SafeText(r.Name)))
	}
	return nil, fmt.Errorf("serial prefix %q %w: %s", target, ErrAmbiguousSerial, strings.Join(names, ", "))
}

// RevokeRequest names what to revoke and why.
type RevokeRequest struct {
	Target       string // NAME or SERIAL; ignored with Intermediate
	Reason       store.Reason
	All          bool // every valid certificate of the name
	Intermediate bool // revoke the intermediate CA (needs the root key; re-signs the root CRL)
	// Publish regenerates the CRLs and refreshes every copy target right after the revocation, when the
	// intermediate key can be opened (see RevokeResult.Deferred). An intermediate is always published.
	Publish bool
}

// RevokeResult is what Revoke or LiftHold did.
type RevokeResult struct {
	Records []store.Record // the certificates whose status changed
	// Published is the CRL run that made the change public; nil when it was not published.
	Published *CRLResult
	// Deferred says why a requested publication did not happen: no passphrase could be had without asking
	// (wraps ca.ErrPassphraseRequired). The change is in the database; the next CRL run publishes it.
	Deferred error
	// NotEnforced lists the files that still say the opposite of the change when it was not published: crl.pem
	// and every registered copy target.
	NotEnforced []string
}

// Revoke records revocations in the database and, with Publish, regenerates the CRLs and refreshes every
// copy target at once, so servers learn of it within a second. The intermediate key is opened before anything
// is recorded: a wrong passphrase changes nothing. When no passphrase can be had without asking, the
// revocation is recorded unpublished and the result says so (Deferred, NotEnforced). An intermediate's
// revocation is useless until the root CRL says so: its CRLs are always regenerated.
//
// If the CRL run fails after the revocation is recorded, the result and an error are returned together; a
// *TargetsError means crl.pem was written and only the copy targets it names were not.
func (d *Dir) Revoke(req RevokeRequest) (*RevokeResult, error) {
	if req.Intermediate {
		return d.revokeIntermediate(req.Reason)
	}
	return d.changeAndPublish(req.Publish, func(st *store.Store) ([]store.Record, error) {
		recs, err := find(st, req.Target, false)
		if err != nil {
			return nil, err
		}
		targets, err := pickRevocable(req, recs, d.now())
		if err != nil {
			return nil, err
		}
		var out []store.Record
		for _, r := range targets {
			if r.Kind == ca.KindRoot || r.Kind == ca.KindIntermediate {
				return out, fmt.Errorf("%s is the %s %w", req.Target, r.Kind, ErrCACertificate)
			}
			rev, err := st.Revoke(r.Serial, store.Revocation{At: d.now(), Reason: req.Reason, By: d.User})
			if err != nil {
				return out, err
			}
			out = append(out, rev)
		}
		return out, nil
	})
}

// changeAndPublish opens the intermediate key (when publishing), applies change to the database, then runs the
// CRL with the validity of the last one, so a timer configured with --validity keeps its rhythm.
func (d *Dir) changeAndPublish(publish bool, change func(*store.Store) ([]store.Record, error)) (*RevokeResult, error) {
	res := &RevokeResult{}
	var issuer ca.Authority
	if publish {
		var err error
		issuer, err = d.Intermediate()
		switch {
		case errors.Is(err, ca.ErrPassphraseRequired):
			res.Deferred, publish = err, false
		case err != nil:
			return nil, err
		}
	}
	st, err := d.OpenStore(false)
	if err != nil {
		return nil, err
	}
	res.Records, err = change(st)
	opt := CRLOptions{issuer: issuer}
	opt.Validity, opt.RootValidity = d.lastValidities(st)
	targets, terr := st.CRLTargets()
	st.Close()
	if terr != nil && err == nil {
		err = terr
	}
	if len(res.Records) > 0 && (err != nil || !publish) {
		res.NotEnforced = append([]string{d.File(CRLFile)}, targets...)
	}
	if err != nil || len(res.Records) == 0 || !publish {
		return res, err
	}
	res.Published, err = d.GenerateCRL(opt)
	var te *TargetsError
	if err != nil && !errors.As(err, &te) {
		res.Published = nil
		res.NotEnforced = append([]string{d.File(CRLFile)}, targets...)
		return res, fmt.Errorf("recorded in the database, but the CRL was not published: %w", err)
	}
	return res, err
}

// lastValidities returns the validities of the current intermediate and root CRLs; zero where unknown, which
// GenerateCRL reads as its default.
func (d *Dir) lastValidities(st *store.Store) (inter, root time.Duration) {
	if s, err := st.CRLState(ScopeIntermediate); err == nil && !s.ThisUpdate.IsZero() && s.NextUpdate.After(s.ThisUpdate) {
		inter = s.NextUpdate.Sub(s.ThisUpdate)
	}
	if r, err := d.storedRootCRL(); err == nil && r.NextUpdate.After(r.ThisUpdate) {
		root = r.NextUpdate.Sub(r.ThisUpdate)
	}
	return inter, root
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
			serials = append(serials, ca.SerialHex(r.Serial))
		}
		return nil, fmt.Errorf("%q %w (%s)", req.Target, ErrAmbiguous, strings.Join(serials, ", "))
	case len(revoked) > 0:
		return nil, alreadyRevoked(revoked[len(revoked)-1])
	default:
		return nil, fmt.Errorf("%q %w: its certificates have expired", req.Target, ErrNothingToRevoke)
	}
}

func alreadyRevoked(r store.Record) error {
	return fmt.Errorf("certificate %s (%s) was revoked on %s (%s): %w", ca.SerialHex(r.Serial), r.Name,
		r.Revocation.At.Format("2006-01-02 15:04:05Z07:00"), r.Revocation.Reason, store.ErrAlreadyRevoked)
}

func (d *Dir) revokeIntermediate(reason store.Reason) (*RevokeResult, error) {
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
	res := &RevokeResult{Records: []store.Record{rec}}
	res.Published, err = d.GenerateCRL(CRLOptions{})
	var te *TargetsError
	if err != nil && !errors.As(err, &te) {
		res.Published = nil
		return res, fmt.Errorf("the intermediate is revoked in the database but the CRLs were not regenerated: %w (run wsca crl)", err)
	}
	return res, err
}

// Unrevoke lifts a certificateHold on a NAME or SERIAL, in the database only (see LiftHold).
func (d *Dir) Unrevoke(target string) (store.Record, error) {
	res, err := d.LiftHold(target, false)
	if err != nil {
		return store.Record{}, err
	}
	return res.Records[0], nil
}

// LiftHold lifts a certificateHold on a NAME or SERIAL and, with publish, regenerates the CRLs and refreshes
// every copy target at once, as Revoke does: until then servers keep refusing the certificate.
func (d *Dir) LiftHold(target string, publish bool) (*RevokeResult, error) {
	return d.changeAndPublish(publish, func(st *store.Store) ([]store.Record, error) {
		recs, err := find(st, target, false)
		if err != nil {
			return nil, err
		}
		var held []store.Record
		for _, r := range recs {
			if r.Revocation != nil && r.Revocation.Reason == store.CertificateHold {
				held = append(held, r)
			}
		}
		switch len(held) {
		case 0:
			return nil, fmt.Errorf("%q: %w (only a certificateHold can be lifted)", target, store.ErrNotOnHold)
		case 1:
			rec, err := st.Unrevoke(held[0].Serial, d.User)
			if err != nil {
				return nil, err
			}
			return []store.Record{rec}, nil
		default:
			return nil, fmt.Errorf("%q has %d certificates on hold: pass a serial", target, len(held))
		}
	})
}
