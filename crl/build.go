package crl

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"iter"
	"time"

	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"
)

// sigAlg is one signature algorithm wsca signs and verifies CRLs with.
type sigAlg struct {
	der  []byte // the complete AlgorithmIdentifier SEQUENCE
	alg  x509.SignatureAlgorithm
	hash crypto.Hash // 0 for Ed25519, which signs the message itself
}

// AlgorithmIdentifier encodings: ECDSA (RFC 5758 §3.2) and Ed25519 (RFC 8410 §3)
// have absent parameters; RSA PKCS#1 v1.5 (RFC 4055 §5) has NULL parameters.
var (
	algECDSASHA256 = sigAlg{[]byte{0x30, 0x0a, 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x02}, x509.ECDSAWithSHA256, crypto.SHA256}
	algECDSASHA384 = sigAlg{[]byte{0x30, 0x0a, 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x03}, x509.ECDSAWithSHA384, crypto.SHA384}
	algECDSASHA512 = sigAlg{[]byte{0x30, 0x0a, 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x04}, x509.ECDSAWithSHA512, crypto.SHA512}
	algRSASHA256   = sigAlg{[]byte{0x30, 0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0b, 0x05, 0x00}, x509.SHA256WithRSA, crypto.SHA256}
	algRSASHA384   = sigAlg{[]byte{0x30, 0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0c, 0x05, 0x00}, x509.SHA384WithRSA, crypto.SHA384}
	algRSASHA512   = sigAlg{[]byte{0x30, 0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0d, 0x05, 0x00}, x509.SHA512WithRSA, crypto.SHA512}
	algEd25519     = sigAlg{[]byte{0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70}, x509.PureEd25519, 0}
)

// Extension OIDs (content octets only, so they compare without allocating).
var (
	oidAKI        = []byte{0x55, 0x1d, 0x23} // 2.5.29.35 authorityKeyIdentifier
	oidCRLNumber  = []byte{0x55, 0x1d, 0x14} // 2.5.29.20 cRLNumber
	oidReasonCode = []byte{0x55, 0x1d, 0x15} // 2.5.29.21 reasonCode
)

// maxSerialOctets is RFC 5280's limit for serial and CRL numbers (§4.1.2.2, §5.2.3).
const maxSerialOctets = 20

// Build returns the DER encoding of a v2 CRL (RFC 5280 §5) signed by t.Signer
// for t.Issuer, listing entries in the order the sequence yields them.
//
// The CRL carries the AuthorityKeyIdentifier and CRLNumber extensions, no
// issuing distribution point (OpenSSL rejects a scope the certificates do not
// match), and a reasonCode entry extension only for reasons other than
// unspecified (RFC 5280 §5.3.1). Entries are encoded as they arrive, so memory
// stays proportional to the output, not to a slice of entries. Build returns an
// error wrapping ErrMalformed for an invalid Template or Entry, and the
// signer's error if signing fails; it never returns a partial CRL.
func Build(t Template, entries iter.Seq[Entry]) ([]byte, error) {
	alg, err := checkTemplate(&t)
	if err != nil {
		return nil, err
	}
	// The TBS is written after room for the outer SEQUENCE header, so that
	// the signed CRL is completed in place instead of copying a buffer that
	// holds 40 MiB at a million entries.
	b := cryptobyte.NewBuilder(make([]byte, outerHeaderRoom, 1024))
	b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
		b.AddASN1Int64(1) // version v2 (RFC 5280 §5.1.2.1)
		b.AddBytes(alg.der)
		b.AddBytes(t.Issuer.RawSubject) // byte-exact, so name matching in verifiers cannot differ
		addTime(b, t.ThisUpdate)
		addTime(b, t.NextUpdate)
		if entries != nil {
			addEntries(b, entries)
		}
		b.AddASN1(cbasn1.Tag(0).Constructed().ContextSpecific(), func(b *cryptobyte.Builder) {
			b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
				b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
					b.AddASN1(cbasn1.OBJECT_IDENTIFIER, func(b *cryptobyte.Builder) { b.AddBytes(oidAKI) })
					b.AddASN1(cbasn1.OCTET_STRING, func(b *cryptobyte.Builder) {
						b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
							b.AddASN1(cbasn1.Tag(0).ContextSpecific(), func(b *cryptobyte.Builder) {
								b.AddBytes(t.Issuer.SubjectKeyId)
							})
						})
					})
				})
				b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
					b.AddASN1(cbasn1.OBJECT_IDENTIFIER, func(b *cryptobyte.Builder) { b.AddBytes(oidCRLNumber) })
					b.AddASN1(cbasn1.OCTET_STRING, func(b *cryptobyte.Builder) {
						b.AddASN1BigInt(t.Number)
					})
				})
			})
		})
	})
	buf, err := b.Bytes()
	if err != nil {
		return nil, fmt.Errorf("encoding CRL: %w", err)
	}
	tbs := buf[outerHeaderRoom:]

	signed := tbs
	opts := crypto.SignerOpts(alg.hash)
	if alg.hash != 0 {
		h := alg.hash.New()
		h.Write(tbs)
		signed = h.Sum(nil)
	}
	sig, err := t.Signer.Sign(rand.Reader, signed, opts)
	if err != nil {
		return nil, fmt.Errorf("signing CRL: %w", err)
	}
	// Verify before publishing, as x509.CreateCertificate does: a faulty
	// signer (an HSM, an RSA fault) must not yield a CRL every relying party
	// rejects, which would fail closed for every client.
	if err := t.Issuer.CheckSignature(alg.alg, tbs, sig); err != nil {
		return nil, fmt.Errorf("signing CRL: signature does not verify: %w", err)
	}

	out := cryptobyte.NewBuilder(buf)
	out.AddBytes(alg.der)
	out.AddASN1BitString(sig)
	if buf, err = out.Bytes(); err != nil {
		return nil, fmt.Errorf("encoding CRL: %w", err)
	}
	contentLen := len(buf) - outerHeaderRoom
	if uint64(contentLen) > 0xffffffff {
		return nil, fmt.Errorf("%w: CRL longer than 4 GiB", ErrMalformed)
	}
	var hdr [outerHeaderRoom]byte
	h := appendSequenceHeader(hdr[:0], contentLen)
	start := outerHeaderRoom - len(h)
	copy(buf[start:], h)
	return buf[start:], nil
}

// outerHeaderRoom fits a SEQUENCE header with a 4-octet length: 0x30 0x84 + 4.
const outerHeaderRoom = 6

// appendSequenceHeader appends a DER SEQUENCE tag and definite length (X.690 §8.1.3).
func appendSequenceHeader(dst []byte, n int) []byte {
	dst = append(dst, 0x30)
	if n < 0x80 {
		return append(dst, byte(n))
	}
	octets := 0
	for v := n; v > 0; v >>= 8 {
		octets++
	}
	dst = append(dst, 0x80|byte(octets))
	for i := octets - 1; i >= 0; i-- {
		dst = append(dst, byte(n>>(8*i)))
	}
	return dst
}

// addEntries writes revokedCertificates, or nothing when there are no entries:
// RFC 5280 §5.1.2.6 makes the field absent, not an empty SEQUENCE.
func addEntries(b *cryptobyte.Builder, entries iter.Seq[Entry]) {
	n := 0
	b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
		// Each entry is encoded by hand into a reused scratch buffer: an entry is
		// always shorter than 128 octets, and cryptobyte allocates a child
		// Builder per nested element, which at a million entries would be
		// millions of allocations.
		var scratch [128]byte
		for e := range entries {
			enc, err := appendEntry(scratch[:0], e)
			if err != nil {
				b.SetError(fmt.Errorf("revoked entry %d: %w", n, err))
				return
			}
			b.AddBytes(enc)
			n++
		}
	})
	if n == 0 {
		b.Unwrite(2) // the empty SEQUENCE: 0x30 0x00
	}
}

// appendEntry appends one revokedCertificates element (RFC 5280 §5.1.2.6).
func appendEntry(dst []byte, e Entry) ([]byte, error) {
	if e.Serial == nil || e.Serial.Sign() <= 0 {
		return dst, fmt.Errorf("%w: serial number must be positive", ErrMalformed)
	}
	bitLen := e.Serial.BitLen()
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
	var tbuf [15]byte
	tag, ts := encodeTime(tbuf[:0], e.RevokedAt)
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
	start := len(dst)
	dst = append(dst, make([]byte, n)...)
	e.Serial.FillBytes(dst[start:])
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

// checkTemplate validates t and picks the signature algorithm from the
// issuer's key, which must be the signer's.
func checkTemplate(t *Template) (sigAlg, error) {
	bad := func(format string, args ...any) (sigAlg, error) {
		return sigAlg{}, fmt.Errorf("%w: %s", ErrMalformed, fmt.Sprintf(format, args...))
	}
	switch {
	case t.Issuer == nil:
		return bad("template has no issuer certificate")
	case t.Signer == nil:
		return bad("template has no signer")
	case t.Number == nil:
		return bad("template has no CRL number")
	case t.Number.Sign() < 0:
		return bad("negative CRL number")
	case (t.Number.BitLen()+8)/8 > maxSerialOctets:
		return bad("CRL number longer than %d octets", maxSerialOctets) // RFC 5280 §5.2.3
	case t.ThisUpdate.IsZero():
		return bad("template has no thisUpdate")
	case !t.NextUpdate.Truncate(time.Second).After(t.ThisUpdate.Truncate(time.Second)):
		return bad("nextUpdate %v is not after thisUpdate %v", t.NextUpdate, t.ThisUpdate)
	case !t.Issuer.BasicConstraintsValid || !t.Issuer.IsCA:
		return bad("issuer %q is not a CA certificate", t.Issuer.Subject)
	case t.Issuer.KeyUsage&x509.KeyUsageCRLSign == 0:
		return bad("issuer %q lacks the cRLSign key usage", t.Issuer.Subject) // RFC 5280 §4.2.1.3
	case len(t.Issuer.SubjectKeyId) == 0:
		return bad("issuer %q has no subject key identifier", t.Issuer.Subject) // needed for AKI, §5.2.1
	}
	if !publicKeysEqual(t.Signer.Public(), t.Issuer.PublicKey) {
		return bad("signer key does not match issuer %q", t.Issuer.Subject)
	}
	switch pub := t.Issuer.PublicKey.(type) {
	case *ecdsa.PublicKey:
		switch pub.Curve {
		case elliptic.P256():
			return algECDSASHA256, nil
		case elliptic.P384():
			return algECDSASHA384, nil
		case elliptic.P521():
			return algECDSASHA512, nil
		}
		return bad("unsupported ECDSA curve %s", pub.Curve.Params().Name)
	case *rsa.PublicKey:
		return algRSASHA256, nil
	case ed25519.PublicKey:
		return algEd25519, nil
	}
	return bad("unsupported issuer key type %T", t.Issuer.PublicKey)
}

func publicKeysEqual(a, b crypto.PublicKey) bool {
	k, ok := a.(interface{ Equal(crypto.PublicKey) bool })
	return ok && k.Equal(b)
}

// EncodePEM returns the DER CRLs as concatenated "X509 CRL" PEM blocks, in
// the given order (crl.pem holds the intermediate's CRL, then the root's).
func EncodePEM(ders ...[]byte) []byte {
	var buf bytes.Buffer
	for _, der := range ders {
		// pem.Encode fails only on invalid headers; there are none.
		_ = pem.Encode(&buf, &pem.Block{Type: pemType, Bytes: der})
	}
	return buf.Bytes()
}

const pemType = "X509 CRL"
