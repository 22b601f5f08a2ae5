package crl

import (
	"fmt"
	"strings"
)

// SelectableReasons returns, in code order, the RFC 5280 names of the reasons a user may revoke with: every
// defined code except removeFromCRL, which only has meaning in delta CRLs (RFC 5280 §5.3.1). Help texts and
// errors print this list, so they cannot disagree.
func SelectableReasons() []string {
	var out []string
	for code, name := range reasonNames {
		if name != "" && code != ReasonRemoveFromCRL {
			out = append(out, name)
		}
	}
	return out
}

// ParseReason returns the code of a selectable reason named as in RFC 5280, case-insensitively and ignoring
// '-', '_' and spaces ("keyCompromise", "key-compromise"). removeFromCRL and unknown names fail with an error
// that lists the valid names.
func ParseReason(s string) (int, error) {
	n := normalizeReason(s)
	for code, name := range reasonNames {
		if name != "" && code != ReasonRemoveFromCRL && normalizeReason(name) == n {
			return code, nil
		}
	}
	return 0, fmt.Errorf("unknown revocation reason %q (valid: %s)", s, strings.Join(SelectableReasons(), ", "))
}

func normalizeReason(s string) string {
	s = strings.ToLower(strings.TrimSpace(s))
	return strings.NewReplacer("-", "", "_", "", " ", "").Replace(s)
}
