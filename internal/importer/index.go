package importer

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"math/big"
	"strings"
	"time"

	"github.com/wsca/wsca/ca"
	"github.com/wsca/wsca/store"
)

// ErrIndex means index.txt has a line that cannot be imported; the error is a *LineError (or several,
// joined) naming the line.
var ErrIndex = errors.New("invalid index.txt")

// maxIndexLine bounds one index.txt line; OpenSSL's own limit for a subject DN is far below it.
const maxIndexLine = 64 << 10

// maxLineErrors bounds how many line errors one parse reports, so a wrong file gives a readable message.
const maxLineErrors = 20

// Index statuses: the first field of an OpenSSL index.txt line (apps/lib/apps.c, DB_type).
const (
	StatusValid   = 'V'
	StatusRevoked = 'R'
	StatusExpired = 'E'
)

// IndexEntry is one line of an OpenSSL CA database (index.txt): six tab-separated fields — status,
// expiry, revocation, serial (hex), file name ("unknown" in practice) and subject DN in OpenSSL's
// one-line form.
type IndexEntry struct {
	Line   int  // 1-based line number in the file
	Status byte // StatusValid, StatusRevoked or StatusExpired
	Expiry time.Time
	Serial *big.Int
	// SerialText is the serial as written (upper-case hex): OpenSSL names newcerts/SERIAL.pem after it.
	SerialText string
	File       string
	Subject    string
	// Revoked, RevokedAt and Reason come from the third field "date[,reason[,argument]]" of an R line.
	Revoked   bool
	RevokedAt time.Time
	Reason    store.Reason
}

// LineError is a problem with one line of an imported file.
type LineError struct {
	File string
	Line int
	Err  error
}

func (e *LineError) Error() string { return fmt.Sprintf("%s line %d: %v", e.File, e.Line, e.Err) }
func (e *LineError) Unwrap() error { return e.Err }

// ParseIndex reads an OpenSSL index.txt. name is used in error messages. Blank lines are skipped. Every bad
// line is reported as a *LineError wrapping ErrIndex (at most maxLineErrors of them, joined); on any error
// no entries are returned, because importing part of a CA silently would lose revocations.
func ParseIndex(r io.Reader, name string) ([]IndexEntry, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), maxIndexLine)
	var out []IndexEntry
	var errs []error
	seen := map[string]int{}
	line := 0
	for sc.Scan() {
		line++
		text := strings.TrimSuffix(sc.Text(), "\r")
		if strings.TrimSpace(text) == "" {
			continue
		}
		e, err := parseIndexLine(text)
		if err == nil {
			key := ca.SerialHex(e.Serial)
			if first, dup := seen[key]; dup {
				err = fmt.Errorf("serial %s appears again (first on line %d)", e.SerialText, first)
			} else {
				seen[key] = line
			}
		}
		if err != nil {
			if len(errs) < maxLineErrors {
				errs = append(errs, &LineError{File: name, Line: line, Err: fmt.Errorf("%w: %w", ErrIndex, err)})
			}
			continue
		}
		e.Line = line
		out = append(out, e)
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return nil, &LineError{File: name, Line: line + 1, Err: fmt.Errorf("%w: line longer than %d bytes", ErrIndex, maxIndexLine)}
		}
		return nil, fmt.Errorf("reading %s: %w", name, err)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return out, nil
}

func parseIndexLine(text string) (IndexEntry, error) {
	f := strings.Split(text, "\t")
	if len(f) != 6 {
		return IndexEntry{}, fmt.Errorf("want 6 tab-separated fields (status, expiry, revocation, serial, file, subject), found %d", len(f))
	}
	var e IndexEntry
	if len(f[0]) != 1 || !strings.Contains("VRE", f[0]) {
		return IndexEntry{}, fmt.Errorf("status %q: want V, R or E", f[0])
	}
	e.Status = f[0][0]
	var err error
	if e.Expiry, err = parseASN1Time(f[1]); err != nil {
		return IndexEntry{}, fmt.Errorf("expiry: %w", err)
	}
	switch {
	case e.Status == StatusRevoked && f[2] == "":
		return IndexEntry{}, fmt.Errorf("status R without a revocation date")
	case e.Status != StatusRevoked && f[2] != "":
		return IndexEntry{}, fmt.Errorf("status %c with a revocation field %q", e.Status, f[2])
	case e.Status == StatusRevoked:
		if e.RevokedAt, e.Reason, err = parseRevocation(f[2]); err != nil {
			return IndexEntry{}, err
		}
		e.Revoked = true
	}
	e.SerialText = f[3]
	if e.Serial, err = parseSerial(f[3]); err != nil {
		return IndexEntry{}, err
	}
	e.File, e.Subject = f[4], f[5]
	if e.Subject == "" {
		return IndexEntry{}, errors.New("empty subject")
	}
	return e, nil
}

// parseSerial parses the hex serial of an index line. RFC 5280 4.1.2.2: positive, at most 20 octets.
func parseSerial(s string) (*big.Int, error) {
	if s == "" || len(s) > 42 || strings.TrimLeft(s, "0123456789abcdefABCDEF") != "" {
		return nil, fmt.Errorf("serial %q is not a hex number of at most 20 octets", s)
	}
	n, ok := new(big.Int).SetString(s, 16)
	if !ok || n.Sign() <= 0 || n.BitLen() > 160 {
		return nil, fmt.Errorf("serial %q must be positive and at most 20 octets", s)
	}
	return n, nil
}

// parseASN1Time parses the time format OpenSSL writes into index.txt: the content of an ASN.1 UTCTime
// (YYMMDDHHMMSSZ, years 1950-2049 per RFC 5280 4.1.2.5.1) or GeneralizedTime (YYYYMMDDHHMMSSZ).
func parseASN1Time(s string) (time.Time, error) {
	var layout string
	switch len(s) {
	case 13:
		layout = "060102150405Z"
	case 15:
		layout = "20060102150405Z"
	default:
		return time.Time{}, fmt.Errorf("%q is neither YYMMDDHHMMSSZ nor YYYYMMDDHHMMSSZ", s)
	}
	t, err := time.Parse(layout, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("%q is neither YYMMDDHHMMSSZ nor YYYYMMDDHHMMSSZ", s)
	}
	// Go maps two-digit years 69-99 to 19xx and 00-68 to 20xx; RFC 5280 4.1.2.5.1 says 50-99 → 19xx and
	// 00-49 → 20xx.
	if len(s) == 13 && t.Year() >= 2050 {
		t = t.AddDate(-100, 0, 0)
	}
	return t.UTC(), nil
}

// parseRevocation parses the revocation field "date[,reason[,argument]]" written by openssl ca
// (make_revocation_str in apps/ca.c). The reason names are OpenSSL's: RFC 5280 names, plus
// holdInstruction (a certificateHold with a hold OID), keyTime and CAkeyTime (keyCompromise and
// cACompromise with a compromise time), which carry a third field.
func parseRevocation(s string) (time.Time, store.Reason, error) {
	parts := strings.Split(s, ",")
	at, err := parseASN1Time(parts[0])
	if err != nil {
		return time.Time{}, 0, fmt.Errorf("revocation date: %w", err)
	}
	if len(parts) == 1 {
		return at, store.Unspecified, nil
	}
	name := parts[1]
	wantArg := false
	switch strings.ToLower(name) {
	case "holdinstruction":
		name, wantArg = "certificateHold", true
	case "keytime":
		name, wantArg = "keyCompromise", true
	case "cakeytime":
		name, wantArg = "cACompromise", true
	case "removefromcrl":
		return time.Time{}, 0, errors.New("reason removeFromCRL belongs to delta CRLs only (RFC 5280 5.3.1): unrevoke the certificate in the old CA or edit the line")
	}
	switch {
	case wantArg && len(parts) != 3:
		return time.Time{}, 0, fmt.Errorf("revocation reason %s needs an argument (date,%s,ARG)", parts[1], parts[1])
	case !wantArg && len(parts) != 2:
		return time.Time{}, 0, fmt.Errorf("revocation field %q: want date[,reason]", s)
	}
	r, err := store.ParseReason(name)
	if err != nil {
		return time.Time{}, 0, fmt.Errorf("revocation reason: %w", err)
	}
	return at, r, nil
}
