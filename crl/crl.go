// Package crl builds, parses and checks X.509 v2 certificate revocation lists
// (RFC 5280 §5) for wsca's private CA.
//
// Build and Sign encode revoked entries by hand as they arrive, into chunks,
// instead of materialising a []pkix.RevokedCertificate, so a CRL with a million
// entries costs its own size (45 MiB) rather than the ~1 GiB
// x509.CreateRevocationList needs; a Signed CRL is written to a file as DER or
// PEM without ever being copied into one buffer.
// Parse walks the DER without x509.ParseRevocationList for the same reason,
// verifies the signature against one of the given CA certificates, and collects
// the revoked serials into a compact, immutable Set with allocation-free O(1)
// lookups. A Bundle holds one CRL per CA and answers, on every TLS handshake,
// whether any certificate of a verified chain is revoked; it fails closed when a
// CRL is missing or expired.
package crl

import (
	"crypto"
	"crypto/x509"
	"errors"
	"math/big"
	"strconv"
	"time"
)

// Sentinel errors. They are returned wrapped with context; test with errors.Is.
var (
	// ErrMalformed reports a CRL whose encoding or contents violate RFC 5280,
	// or a Template that cannot produce a valid CRL.
	ErrMalformed = errors.New("malformed CRL")
	// ErrUnknownIssuer reports a CRL whose issuer is none of the given CA certificates.
	ErrUnknownIssuer = errors.New("unknown CRL issuer")
	// ErrBadSignature reports a CRL whose signature does not verify with its issuer's key.
	ErrBadSignature = errors.New("bad CRL signature")
	// ErrNoCRL reports input that holds no CRL, or a CA for which no CRL is loaded.
	ErrNoCRL = errors.New("no CRL")
	// ErrCRLExpired reports a CRL past its nextUpdate (plus any grace period).
	ErrCRLExpired = errors.New("CRL expired")
	// ErrCRLNotYetValid reports a CRL whose thisUpdate lies in the future beyond
	// the tolerated clock skew.
	ErrCRLNotYetValid = errors.New("CRL not yet valid")
)

// Entry is one revoked certificate given to Build.
type Entry struct {
	Serial *big.Int // positive, at most 20 octets (RFC 5280 §4.1.2.2)
	// SerialBytes is the serial's big-endian magnitude, used when Serial is
	// nil: leading zero octets are ignored, and the rest must be non-zero and
	// at most 20 octets. It lets a caller pass serials straight from storage
	// without a big.Int per entry; Build copies it before the next entry.
	SerialBytes []byte
	RevokedAt   time.Time // encoded with seconds precision in UTC
	Reason      int       // RFC 5280 §5.3.1 CRLReason; 0 (unspecified) is omitted from the CRL
}

// Template describes the CRL that Build produces.
type Template struct {
	Number     *big.Int // CRLNumber (RFC 5280 §5.2.3): non-negative, at most 20 octets
	ThisUpdate time.Time
	NextUpdate time.Time // must be after ThisUpdate
	Issuer     *x509.Certificate
	Signer     crypto.Signer // the private key of Issuer
}

// CRL is a parsed, signature-checked CRL.
type CRL struct {
	Issuer     *x509.Certificate // the CA certificate whose key verified the CRL
	Number     *big.Int          // CRLNumber, nil if the CRL carries none
	ThisUpdate time.Time
	NextUpdate time.Time
	Revoked    *Set
	Raw        []byte // the complete DER encoding
}

// Revoked is what a Set records for one revoked serial.
type Revoked struct {
	RevokedAt time.Time
	Reason    int // RFC 5280 CRLReason; 0 when the entry carries no reasonCode
}

// RFC 5280 §5.3.1 CRLReason codes. 7 is not used.
const (
	ReasonUnspecified          = 0
	ReasonKeyCompromise        = 1
	ReasonCACompromise         = 2
	ReasonAffiliationChanged   = 3
	ReasonSuperseded           = 4
	ReasonCessationOfOperation = 5
	ReasonCertificateHold      = 6
	ReasonRemoveFromCRL        = 8
	ReasonPrivilegeWithdrawn   = 9
	ReasonAACompromise         = 10
)

var reasonNames = [...]string{
	0: "unspecified", 1: "keyCompromise", 2: "cACompromise", 3: "affiliationChanged",
	4: "superseded", 5: "cessationOfOperation", 6: "certificateHold",
	8: "removeFromCRL", 9: "privilegeWithdrawn", 10: "aACompromise",
}

// ReasonString returns the RFC 5280 §5.3.1 name of a CRLReason code, such as
// "keyCompromise", or "reason(N)" for a code the RFC does not define.
func ReasonString(code int) string {
	if validReason(code) {
		return reasonNames[code]
	}
	return "reason(" + strconv.Itoa(code) + ")"
}

// validReason reports whether code is a CRLReason defined by RFC 5280 §5.3.1.
func validReason(code int) bool {
	return code >= 0 && code < len(reasonNames) && reasonNames[code] != ""
}
