package cadir

import (
	"crypto/x509"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/wsca/wsca/ca"
	"github.com/wsca/wsca/store"
)

// carryFrom makes a renewal like for like: every part of the identity that the request leaves empty (OU,
// O, e-mail, URI, DNS and IP names, the kind) and the key type are taken from prev, the certificate being
// renewed. Without this a renewed user silently loses the OU, e-mail or URI that routes allow, and is
// locked out. It returns what was carried, for the result and wsca show.
func (r *IssueRequest) carryFrom(prev *x509.Certificate) []string {
	var carried []string
	take := func(dst *[]string, src []string, label string) {
		if len(*dst) == 0 && len(src) > 0 {
			*dst = append([]string(nil), src...)
			for _, v := range src {
				carried = append(carried, label+ca.SafeText(v))
			}
		}
	}
	if r.OU == "" && len(prev.Subject.OrganizationalUnit) > 0 {
		r.OU = prev.Subject.OrganizationalUnit[0]
		carried = append(carried, "OU="+ca.SafeText(r.OU))
	}
	if r.Organization == "" && len(prev.Subject.Organization) > 0 {
		r.Organization = prev.Subject.Organization[0]
		carried = append(carried, "O="+ca.SafeText(r.Organization))
	}
	take(&r.Emails, prev.EmailAddresses, "email:")
	var uris []string
	for _, u := range prev.URIs {
		uris = append(uris, u.String())
	}
	take(&r.URIs, uris, "uri:")
	take(&r.DNSNames, prev.DNSNames, "dns:")
	var ips []string
	for _, ip := range prev.IPAddresses {
		ips = append(ips, ip.String())
	}
	take(&r.IPs, ips, "ip:")
	if r.Kind == "" && ca.HasServerAuth(prev) {
		r.Kind = ca.KindServer
		carried = append(carried, "kind server")
	}
	if r.KeyType == "" {
		if kt, ok := ca.KeyTypeOf(prev.PublicKey); ok {
			r.KeyType = kt
			carried = append(carried, "key "+string(kt))
		}
	}
	return carried
}

// renewSource returns the newest certificate recorded for name (valid, expired or revoked: a user whose
// certificate lapsed is renewed like for like too), or nil if there is none.
func renewSource(st *store.Store, name string) (*x509.Certificate, error) {
	recs, err := st.ByName(name)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	newest := recs[len(recs)-1] // ByName sorts by NotBefore
	cert, err := x509.ParseCertificate(newest.DER)
	if err != nil {
		return nil, fmt.Errorf("certificate %s of %q: %w", ca.SerialHex(newest.Serial), name, err)
	}
	return cert, nil
}

// archivePlan is the renames that move a renewed certificate's files out of the way: NAME.crt, NAME.key
// and NAME.p12 become NAME.SERIAL.crt, … with the serial of the certificate in NAME.crt. It lets the
// help's own example (wsca issue alice --renew --p12 where alice was issued) work without ever deleting
// or overwriting a key.
type archivePlan [][2]string

// planArchive returns the renames needed before r's files can be written, or an error if an output exists
// and cannot be moved aside (not a renewal, NAME.crt missing or unreadable, or the archive name taken).
func planArchive(r *IssueRequest) (archivePlan, error) {
	crt, key, p12 := outputs(r)
	if !r.Renew {
		return nil, checkOutputsAbsent(crt, key, p12)
	}
	data, err := os.ReadFile(crt)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, checkOutputsAbsent(crt, key, p12)
	}
	if err != nil {
		return nil, fmt.Errorf("reading the previous %s: %w", crt, err)
	}
	certs, err := ca.ParseCertificates(data)
	if err != nil {
		return nil, fmt.Errorf("%s exists and is not a certificate, so it cannot be kept under its serial (move it away): %w", crt, err)
	}
	serial := strings.ReplaceAll(ca.SerialHex(certs[0].SerialNumber), ":", "")
	var plan archivePlan
	for _, p := range []string{crt, key, filepath.Join(filepath.Dir(crt), r.Name+".p12")} {
		if _, err := os.Lstat(p); err != nil {
			continue
		}
		ext := filepath.Ext(p)
		to := strings.TrimSuffix(p, ext) + "." + serial + ext
		if err := checkAbsent(to); err != nil {
			return nil, err
		}
		plan = append(plan, [2]string{p, to})
	}
	return plan, nil
}

// run moves the previous files aside without replacing anything: a hard link to the new name (which fails
// if it exists), then the old name is removed. The directory is synced with the new files' batch.
func (p archivePlan) run() ([]string, error) {
	var moved []string
	for _, mv := range p {
		if err := os.Link(mv[0], mv[1]); err != nil {
			return moved, fmt.Errorf("keeping the previous %s as %s: %w", mv[0], mv[1], err)
		}
		if err := os.Remove(mv[0]); err != nil {
			return moved, fmt.Errorf("keeping the previous %s as %s: %w", mv[0], mv[1], err)
		}
		moved = append(moved, mv[1])
	}
	return moved, nil
}

func checkOutputsAbsent(paths ...string) error {
	for _, p := range paths {
		if p == "" {
			continue
		}
		if err := checkAbsent(p); err != nil {
			return err
		}
	}
	return nil
}

// Renewal is how a certificate relates to the others of its name, for wsca show.
type Renewal struct {
	RenewedBy []*big.Int // certificates that renew this one
	Kept      []string   // identity (ca.Identity entries, besides CN) and key type it has in common with the one it renews
	Added     []string   // identity it has and the renewed one had not
	Dropped   []string   // identity the renewed one had and it has not
}

// RenewalOf works out rec's renewal links among siblings (the records of its name).
func RenewalOf(rec store.Record, siblings []store.Record) Renewal {
	var r Renewal
	var prev *store.Record
	for i := range siblings {
		s := &siblings[i]
		if s.Renews != nil && s.Renews.Cmp(rec.Serial) == 0 {
			r.RenewedBy = append(r.RenewedBy, s.Serial)
		}
		if rec.Renews != nil && s.Serial.Cmp(rec.Renews) == 0 {
			prev = s
		}
	}
	if prev == nil {
		return r
	}
	cur, err1 := x509.ParseCertificate(rec.DER)
	old, err2 := x509.ParseCertificate(prev.DER)
	if err1 != nil || err2 != nil {
		return r
	}
	noCN := func(ids []string) []string {
		return slices.DeleteFunc(ids, func(s string) bool { return strings.HasPrefix(s, "CN=") })
	}
	curID, oldID := noCN(ca.CertIdentity(cur)), noCN(ca.CertIdentity(old))
	r.Added, r.Dropped = ca.Missing(curID, oldID), ca.Missing(oldID, curID)
	r.Kept = ca.Missing(curID, r.Added)
	kc, ok1 := ca.KeyTypeOf(cur.PublicKey)
	ko, ok2 := ca.KeyTypeOf(old.PublicKey)
	if ok1 && ok2 && kc == ko {
		r.Kept = append(r.Kept, "key "+string(kc))
	}
	return r
}
