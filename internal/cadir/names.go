package cadir

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"

	"golang.org/x/text/unicode/norm"

	"github.com/wsca/wsca/ca"
	"github.com/wsca/wsca/store"
)

// ErrBadName means a certificate name was refused; the message says why.
var ErrBadName = errors.New("invalid certificate name")

// ValidateName checks that a certificate name is usable as a common name and as a file name, and that it
// names one person only: it refuses leading or trailing whitespace, control characters, invisible and
// format characters (Unicode Cf such as the zero-width space, bidi overrides, spaces other than U+0020,
// Hangul fillers, variation selectors) and text that is not in Unicode NFC. Each of these would let two
// names look the same on a screen, in a log or in an allow_cn list while being different strings. The
// error wraps ErrBadName and shows the name escaped.
func ValidateName(name string) error {
	q := ca.SafeText(name)
	switch {
	case name == "":
		return fmt.Errorf("the name is empty: %w", ErrBadName)
	case len(name) > 64:
		// RFC 5280 Appendix A: ub-common-name is 64.
		return fmt.Errorf("name %s is longer than 64 characters (the limit for a certificate common name): %w", q, ErrBadName)
	case name == "." || name == ".." || strings.ContainsAny(name, `/\`):
		return fmt.Errorf("name %s cannot be used as a file name (no / or \\, not . or ..): %w", q, ErrBadName)
	case strings.HasPrefix(name, "-"):
		return fmt.Errorf("name %s must not start with '-': %w", q, ErrBadName)
	case strings.TrimSpace(name) != name:
		return fmt.Errorf("name %q has leading or trailing whitespace: %w", name, ErrBadName)
	}
	for _, r := range name {
		if unicode.IsControl(r) {
			return fmt.Errorf("name %q contains the control character %U: %w", name, r, ErrBadName)
		}
		if ca.HiddenRune(r) {
			return fmt.Errorf("name %q contains the invisible or format character %U: %w", name, r, ErrBadName)
		}
	}
	if !norm.NFC.IsNormalString(name) {
		return fmt.Errorf("name %+q is not in Unicode NFC (write it as %+q): %w", name, norm.NFC.String(name), ErrBadName)
	}
	return nil
}

// foldName is the key under which names that differ only by letter case (or by compatibility forms such
// as full-width letters) collide.
func foldName(name string) string { return strings.ToLower(norm.NFKC.String(name)) }

// caseTwins returns, for each of names, the differently written names that fold to the same key (see
// foldName) and either have a valid certificate or are also in names. It is a warning, not a refusal:
// "Alice" and "alice" may be two people, but the operator should know before handing out the second.
func caseTwins(st *store.Store, names []string, now time.Time) (map[string][]string, error) {
	byFold := make(map[string][]string, len(names))
	for _, n := range names {
		k := foldName(n)
		if !slices.Contains(byFold[k], n) {
			byFold[k] = append(byFold[k], n)
		}
	}
	twins := map[string][]string{}
	for _, group := range byFold {
		for _, a := range group {
			for _, b := range group {
				if a != b {
					twins[a] = append(twins[a], b)
				}
			}
		}
	}
	var hits []string
	err := st.Names(func(name string) error {
		if group, ok := byFold[foldName(name)]; ok && !slices.Contains(group, name) {
			hits = append(hits, name)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	for _, h := range hits {
		prev, err := validByName(st, h, now)
		if err != nil {
			return nil, err
		}
		if prev == nil {
			continue
		}
		for _, n := range byFold[foldName(h)] {
			twins[n] = append(twins[n], h)
		}
	}
	return twins, nil
}

// twinWarning is the warning for name's case twins, or "".
func twinWarning(name string, twins []string) string {
	if len(twins) == 0 {
		return ""
	}
	q := make([]string, len(twins))
	for i, t := range twins {
		q[i] = strconv.Quote(t)
	}
	return fmt.Sprintf("name %q differs only by letter case from %s (valid, or issued in the same batch): "+
		"make sure they are different people (a route's allow_cn names exactly one spelling)",
		name, strings.Join(q, ", "))
}

// nameWarnings returns one line per record whose name ValidateName refuses, for wsca import.
func nameWarnings(recs []store.Record) []string {
	var out []string
	for _, r := range recs {
		if err := ValidateName(r.Name); err != nil {
			out = append(out, fmt.Sprintf("imported certificate %s: %v (wsca would refuse this name; it can pose as another)",
				ca.SerialHex(r.Serial), err))
		}
	}
	return out
}
