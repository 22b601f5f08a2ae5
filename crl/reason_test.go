package crl

import (
	"slices"
	"strings"
	"testing"
)

// TestReasonTable checks the one reason table that help texts and errors print: every RFC 5280 name a user may
// choose, in code order, and removeFromCRL (delta CRLs only) refused with the same list in the error.
func TestReasonTable(t *testing.T) {
	want := []string{"unspecified", "keyCompromise", "cACompromise", "affiliationChanged", "superseded",
		"cessationOfOperation", "certificateHold", "privilegeWithdrawn", "aACompromise"}
	if got := SelectableReasons(); !slices.Equal(got, want) {
		t.Fatalf("SelectableReasons() = %q, want %q", got, want)
	}
	for _, in := range []string{"keyCompromise", "key-compromise", "KEY_COMPROMISE", " keycompromise "} {
		if code, err := ParseReason(in); err != nil || code != ReasonKeyCompromise {
			t.Errorf("ParseReason(%q) = %d, %v", in, code, err)
		}
	}
	_, err := ParseReason("removeFromCRL")
	if err == nil || !strings.Contains(err.Error(), strings.Join(want, ", ")) {
		t.Errorf("ParseReason(removeFromCRL): %v; want an error listing %q", err, want)
	}
}
