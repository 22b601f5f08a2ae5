package store

import "github.com/wsca/wsca/crl"

// Reason is an RFC 5280 CRLReason code (section 5.3.1). Code 7 is unused. Its names belong to the crl
// package's reason table, the one place help texts and errors read them from.
type Reason int

// The RFC 5280 section 5.3.1 reason codes.
const (
	Unspecified          Reason = crl.ReasonUnspecified
	KeyCompromise        Reason = crl.ReasonKeyCompromise
	CACompromise         Reason = crl.ReasonCACompromise
	AffiliationChanged   Reason = crl.ReasonAffiliationChanged
	Superseded           Reason = crl.ReasonSuperseded
	CessationOfOperation Reason = crl.ReasonCessationOfOperation
	CertificateHold      Reason = crl.ReasonCertificateHold
	RemoveFromCRL        Reason = crl.ReasonRemoveFromCRL // delta CRLs only; never chosen by a user
	PrivilegeWithdrawn   Reason = crl.ReasonPrivilegeWithdrawn
	AACompromise         Reason = crl.ReasonAACompromise
)

// String returns the RFC 5280 ASN.1 name of r ("keyCompromise"), or
// "reason(N)" for a code RFC 5280 does not define.
func (r Reason) String() string { return crl.ReasonString(int(r)) }

// Selectable reports whether a user may revoke with r: a defined code other
// than removeFromCRL, which only has meaning in delta CRLs (RFC 5280 5.3.1).
func (r Reason) Selectable() bool {
	_, err := crl.ParseReason(r.String())
	return err == nil
}

// ParseReason parses a user-selectable reason by its RFC 5280 name (see crl.ParseReason).
func ParseReason(s string) (Reason, error) {
	code, err := crl.ParseReason(s)
	return Reason(code), err
}
