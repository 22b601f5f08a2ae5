package store

import (
	"fmt"
	"strconv"
	"strings"
)

// Reason is an RFC 5280 CRLReason code (section 5.3.1). Code 7 is unused.
type Reason int

// The RFC 5280 section 5.3.1 reason codes.
const (
	Unspecified          Reason = 0
	KeyCompromise        Reason = 1
	CACompromise         Reason = 2
	AffiliationChanged   Reason = 3
	Superseded           Reason = 4
	CessationOfOperation Reason = 5
	CertificateHold      Reason = 6
	RemoveFromCRL        Reason = 8 // delta CRLs only; never chosen by a user
	PrivilegeWithdrawn   Reason = 9
	AACompromise         Reason = 10
)

var reasonNames = map[Reason]string{
	Unspecified:          "unspecified",
	KeyCompromise:        "keyCompromise",
	CACompromise:         "cACompromise",
	AffiliationChanged:   "affiliationChanged",
	Superseded:           "superseded",
	CessationOfOperation: "cessationOfOperation",
	CertificateHold:      "certificateHold",
	RemoveFromCRL:        "removeFromCRL",
	PrivilegeWithdrawn:   "privilegeWithdrawn",
	AACompromise:         "aACompromise",
}

// selectableReasons lists, in code order, the reasons ParseReason accepts.
var selectableReasons = []Reason{
	Unspecified, KeyCompromise, CACompromise, AffiliationChanged, Superseded,
	CessationOfOperation, CertificateHold, PrivilegeWithdrawn, AACompromise,
}

// String returns the RFC 5280 ASN.1 name of r ("keyCompromise"), or
// "reason(N)" for a code RFC 5280 does not define.
func (r Reason) String() string {
	if s, ok := reasonNames[r]; ok {
		return s
	}
	return "reason(" + strconv.Itoa(int(r)) + ")"
}

// Selectable reports whether a user may revoke with r: a defined code other
// than removeFromCRL, which only has meaning in delta CRLs (RFC 5280 5.3.1).
func (r Reason) Selectable() bool {
	_, ok := reasonNames[r]
	return ok && r != RemoveFromCRL
}

func normalizeReason(s string) string {
	s = strings.ToLower(strings.TrimSpace(s))
	return strings.NewReplacer("-", "", "_", "", " ", "").Replace(s)
}

// ParseReason parses a user-selectable reason by its RFC 5280 name,
// case-insensitively and ignoring '-', '_' and spaces ("keyCompromise",
// "key-compromise", "KEYCOMPROMISE"). removeFromCRL and unknown names fail
// with an error that lists the valid names.
func ParseReason(s string) (Reason, error) {
	n := normalizeReason(s)
	for _, r := range selectableReasons {
		if normalizeReason(r.String()) == n {
			return r, nil
		}
	}
	names := make([]string, len(selectableReasons))
	for i, r := range selectableReasons {
		names[i] = r.String()
	}
	return 0, fmt.Errorf("unknown revocation reason %q (valid: %s)", s, strings.Join(names, ", "))
}
