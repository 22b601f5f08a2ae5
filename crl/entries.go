package crl

import (
	"fmt"
	"iter"
	"math/bits"
	"time"

	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"
)

// Entry chunks grow from firstChunk to maxChunk octets: small CRLs stay small,
// and a large one costs one allocation per MiB with nothing ever copied.
const (
	firstChunk = 4 << 10
	maxChunk   = 1 << 20
	// maxEntryLen bounds one encoded entry: SEQUENCE header 2, INTEGER 2+21,
	// time 2+15, reasonCode extensions 14 (see appendEntry).
	maxEntryLen = 2 + 23 + 17 + 14
)

// encodeEntries encodes the content of revokedCertificates into chunks and
// returns them with their total length. Each entry is encoded by hand
// straight into the current chunk: an entry is at most maxEntryLen octets,
// and cryptobyte allocates a child Builder per nested element, which at a
// million entries would be millions of allocations.
func encodeEntries(entries iter.Seq[Entry]) ([][]byte, int, error) {
	var chunks [][]byte
	var cur []byte
	total, n := 0, 0
	var err error
	var tc timeCache
	for e := range entries {
		if cap(cur)-len(cur) < maxEntryLen {
			if cur != nil {
				chunks = append(chunks, cur)
			}
			size := firstChunk
			if len(chunks) > 0 {
				size = min(2*cap(chunks[len(chunks)-1]), maxChunk)
			}
			cur = make([]byte, 0, size)
		}
		before := len(cur)
		if cur, err = appendEntry(cur, e, &tc); err != nil {
			return nil, 0, fmt.Errorf("revoked entry %d: %w", n, err)
		}
		total += len(cur) - before
		n++
	}
	if len(cur) > 0 {
		chunks = append(chunks, cur)
	}
	if total > 0xffffffff {
		return nil, 0, fmt.Errorf("%w: CRL longer than 4 GiB", ErrMalformed)
	}
	return chunks, total, nil
}

// timeCache remembers the last revocation time encoded: revocations come in
// bursts (an import, a compromised batch), and formatting a time is the
// costliest part of an entry.
type timeCache struct {
	unix int64
	ok   bool
	tag  cbasn1.Tag
	buf  [15]byte
	n    int
}

// encode returns the tag and DER content of t, or a nil slice if t cannot be
// encoded (see encodeTime).
func (c *timeCache) encode(t time.Time) (cbasn1.Tag, []byte) {
	u := t.Unix()
	if c.ok && u == c.unix {
		return c.tag, c.buf[:c.n]
	}
	tag, enc := encodeTime(c.buf[:0], t)
	if enc == nil {
		c.ok = false
		return 0, nil
	}
	c.unix, c.ok, c.tag, c.n = u, true, tag, len(enc)
	return tag, enc
}

// appendEntry appends one revokedCertificates element (RFC 5280 §5.1.2.6).
func appendEntry(dst []byte, e Entry, tc *timeCache) ([]byte, error) {
	var mag []byte // the serial's magnitude when given as SerialBytes
	var bitLen int
	if e.Serial != nil {
		if e.Serial.Sign() <= 0 {
			return dst, fmt.Errorf("%w: serial number must be positive", ErrMalformed)
		}
		bitLen = e.Serial.BitLen()
	} else {
		mag = e.SerialBytes
		for len(mag) > 0 && mag[0] == 0 {
			mag = mag[1:]
		}
		if len(mag) == 0 {
			return dst, fmt.Errorf("%w: serial number must be positive", ErrMalformed)
		}
		bitLen = 8*len(mag) - bits.LeadingZeros8(mag[0])
	}
	if (bitLen+7)/8 > maxSerialOctets {
		return dst, fmt.Errorf("%w: serial number longer than %d octets", ErrMalformed, maxSerialOctets)
	}
	if !validReason(e.Reason) || e.Reason == ReasonRemoveFromCRL {
		// removeFromCRL is for delta CRLs only (RFC 5280 §5.3.1); Build makes complete CRLs.
		return dst, fmt.Errorf("%w: invalid reason code %d", ErrMalformed, e.Reason)
	}
	if e.RevokedAt.IsZero() {
		return dst, fmt.Errorf("%w: missing revocation time", ErrMalformed)
	}
	tag, ts := tc.encode(e.RevokedAt)
	if ts == nil {
		return dst, fmt.Errorf("%w: revocation time %v out of range", ErrMalformed, e.RevokedAt)
	}
	n := (bitLen + 7) / 8
	pad := 0
	if bitLen%8 == 0 {
		pad = 1 // high bit set: a leading zero keeps the INTEGER positive
	}
	intLen := n + pad
	bodyLen := 2 + intLen + 2 + len(ts)
	if e.Reason != ReasonUnspecified {
		bodyLen += 14 // SEQ{ SEQ{ OID reasonCode, OCTET STRING{ ENUMERATED } } }
	}
	dst = append(dst, 0x30, byte(bodyLen), 0x02, byte(intLen))
	if pad == 1 {
		dst = append(dst, 0)
	}
	if mag != nil {
		dst = append(dst, mag...)
	} else {
		start := len(dst)
		dst = append(dst, make([]byte, n)...)
		e.Serial.FillBytes(dst[start:])
	}
	dst = append(dst, byte(tag), byte(len(ts)))
	dst = append(dst, ts...)
	if e.Reason != ReasonUnspecified {
		dst = append(dst,
			0x30, 12, // crlEntryExtensions
			0x30, 10, // Extension
			0x06, 3, oidReasonCode[0], oidReasonCode[1], oidReasonCode[2],
			0x04, 3, 0x0a, 1, byte(e.Reason))
	}
	return dst, nil
}

// addTime writes a Time per RFC 5280 §5.1.2.4: UTCTime through 2049,
// GeneralizedTime otherwise, in UTC with seconds precision.
func addTime(b *cryptobyte.Builder, t time.Time) {
	var buf [15]byte
	tag, enc := encodeTime(buf[:0], t)
	if enc == nil {
		b.SetError(fmt.Errorf("%w: time %v out of range", ErrMalformed, t))
		return
	}
	b.AddASN1(tag, func(b *cryptobyte.Builder) { b.AddBytes(enc) })
}

// encodeTime appends the DER content of t and returns its tag, or a nil slice
// if t cannot be encoded (year outside 0000–9999).
func encodeTime(dst []byte, t time.Time) (cbasn1.Tag, []byte) {
	t = t.UTC()
	year, month, day := t.Date()
	hour, minute, sec := t.Clock()
	if year < 0 || year > 9999 {
		return 0, nil
	}
	tag := cbasn1.GeneralizedTime
	if year >= 1950 && year < 2050 {
		tag = cbasn1.UTCTime
		dst = append2(dst, year%100)
	} else {
		dst = append2(dst, year/100)
		dst = append2(dst, year%100)
	}
	dst = append2(dst, int(month))
	dst = append2(dst, day)
	dst = append2(dst, hour)
	dst = append2(dst, minute)
	dst = append2(dst, sec)
	return tag, append(dst, 'Z')
}

func append2(dst []byte, v int) []byte {
	return append(dst, byte('0'+v/10), byte('0'+v%10))
}
