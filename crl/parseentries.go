package crl

import (
	"bytes"
	"errors"
	"fmt"
	"time"

	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"
)

// parseEntries walks revokedCertificates twice: once to size the Set's arrays
// exactly, once to fill them, so the Set never grows by reallocation.
func parseEntries(revoked cryptobyte.String, present bool, version int) (*Set, error) {
	return walkEntries(revoked, present, version, true)
}

// walkEntries is parseEntries; with fast false every entry takes the general
// path (readEntry), as tests compare.
func walkEntries(revoked cryptobyte.String, present bool, version int, fast bool) (*Set, error) {
	if !present {
		return newSetBuilder(0, 0).set(), nil
	}
	if revoked.Empty() {
		// RFC 5280 §5.1.2.6: when there are no revoked certificates, the list
		// MUST be absent. Tolerated: it changes nothing about revocation.
		return newSetBuilder(0, 0).set(), nil
	}
	n, arena, err := countEntries(revoked, fast)
	if err != nil {
		return nil, err
	}
	b := newSetBuilder(n, arena)
	for i := 0; !revoked.Empty(); i++ {
		if fast {
			if size, mag, at, reason, ok := fastEntry(revoked, version); ok {
				b.add(mag, at, reason)
				revoked = revoked[size:]
				continue
			}
		}
		mag, at, reason, err := readEntry(&revoked, version, i)
		if err != nil {
			return nil, err
		}
		b.add(mag, at, reason)
	}
	return b.set(), nil
}

// countEntries returns the number of entries and the octets of their serials,
// or the error for the first entry that is not a SEQUENCE starting with an
// INTEGER.
func countEntries(revoked cryptobyte.String, fast bool) (n, arena int, err error) {
	for s := revoked; !s.Empty(); n++ {
		if fast {
			if entry, rest, ok := derTLV(s, 0x30); ok {
				if serial, _, ok := derTLV(entry, 0x02); ok {
					arena += len(serial)
					s = rest
					continue
				}
			}
		}
		var entry, serial cryptobyte.String
		if !s.ReadASN1(&entry, cbasn1.SEQUENCE) || !entry.ReadASN1(&serial, cbasn1.INTEGER) {
			return 0, 0, malformed("revoked entry %d", n)
		}
		arena += len(serial)
	}
	return n, arena, nil
}

// readEntry reads revoked entry i (RFC 5280 §5.1.2.6) from s: the serial's
// magnitude, the revocation date in Unix seconds and the reason code.
func readEntry(s *cryptobyte.String, version, i int) (mag []byte, at int64, reason uint8, err error) {
	var entry, serial cryptobyte.String
	if !s.ReadASN1(&entry, cbasn1.SEQUENCE) || !entry.ReadASN1(&serial, cbasn1.INTEGER) {
		return nil, 0, 0, malformed("revoked entry %d", i)
	}
	if len(serial) == 0 || (len(serial) > 1 && serial[0] == 0 && serial[1]&0x80 == 0) ||
		(len(serial) > 1 && serial[0] == 0xff && serial[1]&0x80 != 0) {
		return nil, 0, 0, malformed("revoked entry %d: serial is not a minimal DER INTEGER", i)
	}
	if serial[0]&0x80 != 0 {
		// Go rejects certificates with negative serials (Go 1.23), so
		// such an entry could only hide a bug.
		return nil, 0, 0, malformed("revoked entry %d: negative serial", i)
	}
	mag = trimZeros(serial)
	if len(mag) > 255 {
		return nil, 0, 0, malformed("revoked entry %d: serial too long", i)
	}
	if at, err = readUnix(&entry); err != nil {
		return nil, 0, 0, malformed("revoked entry %d: revocationDate: %v", i, err)
	}
	code := 0
	if !entry.Empty() {
		if version != 1 {
			return nil, 0, 0, malformed("revoked entry %d: extensions in a v1 CRL", i)
		}
		if code, err = parseEntryExtensions(entry); err != nil {
			return nil, 0, 0, fmt.Errorf("revoked entry %d: %w", i, err)
		}
	}
	return mag, at, uint8(code), nil
}

// reasonOnly is the encoding of crlEntryExtensions holding nothing but a
// non-critical reasonCode, up to the code's octet: what Build, openssl and
// x509.CreateRevocationList write for an entry with a reason.
var reasonOnly = []byte{0x30, 0x0c, 0x30, 0x0a, 0x06, 0x03, 0x55, 0x1d, 0x15, 0x04, 0x03, 0x0a, 0x01}

// fastEntry reads the revoked entry at the start of b when it has the common
// shape: a serial that readEntry accepts, a valid time,
// and no extension but a valid reasonCode. ok is false for anything else,
// even for an entry readEntry accepts, and the caller hands b to readEntry,
// whose checks and errors then apply. It accepts nothing readEntry refuses
// and returns what readEntry returns: it exists because the general path's
// cryptobyte calls were the larger part of parsing a million entries.
func fastEntry(b []byte, version int) (size int, mag []byte, at int64, reason uint8, ok bool) {
	entry, rest, ok := derTLV(b, 0x30)
	if !ok {
		return 0, nil, 0, 0, false
	}
	serial, entry, ok := derTLV(entry, 0x02)
	if !ok || len(serial) == 0 || serial[0]&0x80 != 0 || (len(serial) > 1 && serial[0] == 0 && serial[1]&0x80 == 0) {
		return 0, nil, 0, 0, false
	}
	mag = trimZeros(serial)
	if len(mag) > 255 || len(entry) == 0 || (entry[0] != byte(cbasn1.UTCTime) && entry[0] != byte(cbasn1.GeneralizedTime)) {
		return 0, nil, 0, 0, false
	}
	tag := cbasn1.Tag(entry[0])
	v, entry, ok := derTLV(entry, entry[0])
	if !ok {
		return 0, nil, 0, 0, false
	}
	at, err := unixTime(tag, v)
	if err != nil {
		return 0, nil, 0, 0, false
	}
	switch {
	case len(entry) == 0:
	case version == 1 && len(entry) == len(reasonOnly)+1 && bytes.Equal(entry[:len(reasonOnly)], reasonOnly) &&
		entry[len(reasonOnly)] < 0x80 && validReason(int(entry[len(reasonOnly)])):
		reason = entry[len(reasonOnly)]
	default:
		return 0, nil, 0, 0, false
	}
	return len(b) - len(rest), mag, at, reason, true
}

// derTLV splits the DER element with tag at the start of b into its content
// and what follows, for a length under 64 KiB in the minimal definite form
// that cryptobyte's ReadASN1 requires. ok is false for anything else
// (including forms ReadASN1 accepts).
func derTLV(b []byte, tag byte) (content, rest []byte, ok bool) {
	if len(b) < 2 || b[0] != tag {
		return nil, nil, false
	}
	n, hdr := int(b[1]), 2
	switch {
	case n < 0x80:
	case n == 0x81 && len(b) >= 3 && b[2] >= 0x80:
		n, hdr = int(b[2]), 3
	case n == 0x82 && len(b) >= 4 && b[2] != 0:
		n, hdr = int(b[2])<<8|int(b[3]), 4
	default:
		return nil, nil, false
	}
	if len(b)-hdr < n {
		return nil, nil, false
	}
	return b[hdr : hdr+n], b[hdr+n:], true
}

// parseEntryExtensions reads crlEntryExtensions (RFC 5280 §5.3) and returns
// the reason code, 0 if absent.
func parseEntryExtensions(s cryptobyte.String) (int, error) {
	var exts cryptobyte.String
	if !s.ReadASN1(&exts, cbasn1.SEQUENCE) || !s.Empty() || exts.Empty() {
		return 0, malformed("crlEntryExtensions")
	}
	reason, seen := 0, false
	for !exts.Empty() {
		oid, critical, value, err := readExtension(&exts)
		if err != nil {
			return 0, malformed("crlEntryExtensions: %v", err)
		}
		switch {
		case bytes.Equal(oid, oidReasonCode):
			if seen {
				return 0, malformed("duplicate reasonCode")
			}
			seen = true
			if !value.ReadASN1Enum(&reason) || !value.Empty() || !validReason(reason) {
				return 0, malformed("reasonCode")
			}
		case critical:
			// Includes certificateIssuer (indirect CRLs, §5.3.3): an entry
			// about another CA's certificate must not be read as ours.
			return 0, malformed("unsupported critical entry extension %s", oidString(oid))
		}
	}
	return reason, nil
}

// readTime reads a Time (RFC 5280 §4.1.2.5) as readUnix does.
func readTime(s *cryptobyte.String) (time.Time, error) {
	sec, err := readUnix(s)
	if err != nil {
		return time.Time{}, err
	}
	return time.Unix(sec, 0).UTC(), nil
}

// readUnix reads a Time (RFC 5280 §4.1.2.5): UTCTime YYMMDDHHMMSSZ or
// GeneralizedTime YYYYMMDDHHMMSSZ, both with seconds and Z, as §5.1.2.4
// requires, and returns it in Unix seconds. Hand-parsed, and computed without
// time.Date: the format is fixed, and a large CRL holds a million.
func readUnix(s *cryptobyte.String) (int64, error) {
	var v cryptobyte.String
	switch {
	case s.PeekASN1Tag(cbasn1.UTCTime):
		if !s.ReadASN1(&v, cbasn1.UTCTime) {
			return 0, errors.New("invalid UTCTime")
		}
		return unixTime(cbasn1.UTCTime, v)
	case s.PeekASN1Tag(cbasn1.GeneralizedTime):
		if !s.ReadASN1(&v, cbasn1.GeneralizedTime) {
			return 0, errors.New("invalid GeneralizedTime")
		}
		return unixTime(cbasn1.GeneralizedTime, v)
	}
	return 0, errors.New("not a UTCTime or GeneralizedTime")
}

// unixTime is readUnix for the content v of a UTCTime or GeneralizedTime.
func unixTime(tag cbasn1.Tag, v []byte) (int64, error) {
	var year int
	if tag == cbasn1.UTCTime {
		if len(v) != 13 {
			return 0, errors.New("invalid UTCTime")
		}
		yy, ok := digits2(v[0:2])
		if !ok {
			return 0, errors.New("invalid UTCTime")
		}
		year = 1900 + yy
		if yy < 50 {
			year = 2000 + yy
		}
		v = v[2:]
	} else {
		if len(v) != 15 {
			return 0, errors.New("invalid GeneralizedTime")
		}
		hi, ok1 := digits2(v[0:2])
		lo, ok2 := digits2(v[2:4])
		if !ok1 || !ok2 {
			return 0, errors.New("invalid GeneralizedTime")
		}
		year = hi*100 + lo
		v = v[4:]
	}
	var f [5]int
	for i := range f {
		d, ok := digits2(v[2*i : 2*i+2])
		if !ok {
			return 0, errors.New("invalid time digits")
		}
		f[i] = d
	}
	if v[10] != 'Z' {
		return 0, errors.New("time not in UTC (Z)")
	}
	month, day := f[0], f[1]
	// Out-of-range fields (Feb 30, 24:00, a leap second) are refused, as
	// time.Date would normalise them into another instant.
	if month < 1 || month > 12 || day < 1 || day > daysIn(year, month) || f[2] > 23 || f[3] > 59 || f[4] > 59 {
		return 0, errors.New("invalid date")
	}
	return daysFromCivil(year, month, day)*86400 + int64(f[2]*3600+f[3]*60+f[4]), nil
}

// daysIn returns the number of days of month (1–12) in year, proleptic
// Gregorian as package time counts.
func daysIn(year, month int) int {
	if month == 2 {
		if year%4 == 0 && (year%100 != 0 || year%400 == 0) {
			return 29
		}
		return 28
	}
	return 30 + (month+month/8)%2 // 31 in Jan, Mar, May, Jul, Aug, Oct, Dec
}

// daysFromCivil returns the days from 1970-01-01 to year-month-day (year ≥ 0),
// after H. Hinnant's days_from_civil: a year that starts in March puts the
// leap day last.
func daysFromCivil(year, month, day int) int64 {
	y := int64(year)
	if month <= 2 {
		y--
	}
	era := y
	if era < 0 {
		era -= 399
	}
	era /= 400
	yoe := y - era*400
	mp := int64(month+9) % 12 // March = 0
	doy := (153*mp+2)/5 + int64(day) - 1
	doe := yoe*365 + yoe/4 - yoe/100 + doy
	return era*146097 + doe - 719468
}

func digits2(b []byte) (int, bool) {
	if b[0] < '0' || b[0] > '9' || b[1] < '0' || b[1] > '9' {
		return 0, false
	}
	return int(b[0]-'0')*10 + int(b[1]-'0'), true
}
