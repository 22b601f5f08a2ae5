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
//
// Build is Sign followed by Signed.Bytes; a caller that writes the CRL to a
// file should use Sign and Signed.WriteTo (or WritePEMTo), which never hold
// the CRL in one contiguous buffer.
func Build(t Template, entries iter.Seq[Entry]) ([]byte, error) {
	s, err := Sign(t, entries)
	if err != nil {
		return nil, err
	}
	return s.Bytes(), nil
}

// Sign encodes and signs a CRL exactly as Build does and returns it unwritten.
// It hashes the TBSCertList once and verifies the signature over that digest
// before returning, so a faulty signer yields an error, never a CRL that
// relying parties reject. Errors are those of Build.
func Sign(t Template, entries iter.Seq[Entry]) (*Signed, error) {
	alg, err := checkTemplate(&t)
	if err != nil {
		return nil, err
	}
	fields, err := encodeTBSFields(t, alg)
	if err != nil {
		return nil, fmt.Errorf("encoding CRL: %w", err)
	}
	var chunks [][]byte
	entriesLen := 0
	if entries != nil {
		if chunks, entriesLen, err = encodeEntries(entries); err != nil {
			return nil, fmt.Errorf("encoding CRL: %w", err)
		}
	}
	exts, err := encodeExtensions(t)
	if err != nil {
		return nil, fmt.Errorf("encoding CRL: %w", err)
	}
	tbsHead, err := tbsHeader(fields, entriesLen, len(exts))
	if err != nil {
		return nil, err
	}
	sig, err := signTBS(t, alg, tbsHead, chunks, exts)
	if err != nil {
		return nil, err
	}
	return assemble(alg, tbsHead, chunks, entriesLen, exts, sig)
}

// encodeTBSFields returns the TBSCertList fields (RFC 5280 §5.1) that come
// before revokedCertificates: version, signature, issuer, thisUpdate and
// nextUpdate. It fails only on a time that cannot be encoded (ErrMalformed).
// The fields are short, so cryptobyte's small copies are harmless here.
func encodeTBSFields(t Template, alg sigAlg) ([]byte, error) {
	pre := cryptobyte.NewBuilder(make([]byte, 0, 256))
	pre.AddASN1Int64(1) // version v2 (RFC 5280 §5.1.2.1)
	pre.AddBytes(alg.der)
	pre.AddBytes(t.Issuer.RawSubject) // byte-exact, so name matching in verifiers cannot differ
	addTime(pre, t.ThisUpdate)
	addTime(pre, t.NextUpdate)
	return pre.Bytes()
}

// encodeExtensions returns the [0]-tagged crlExtensions of the TBSCertList:
// the AuthorityKeyIdentifier (the issuer's subject key identifier, RFC 5280
// §5.2.1) and the CRLNumber (§5.2.3). checkTemplate has validated both
// inputs, so an error here means an encoding fault.
func encodeExtensions(t Template) ([]byte, error) {
	ext := cryptobyte.NewBuilder(make([]byte, 0, 64+len(t.Issuer.SubjectKeyId)))
	ext.AddASN1(cbasn1.Tag(0).Constructed().ContextSpecific(), func(b *cryptobyte.Builder) {
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
	return ext.Bytes()
}

// tbsHeader returns the TBSCertList SEQUENCE header followed by fields and,
// when there are entries, the revokedCertificates header, for a TBSCertList
// whose entries and extensions are entriesLen and extsLen octets long. The
// length prefixes are written once the lengths are known, in front of the
// fields, instead of shifting the entries behind them. It returns an error
// wrapping ErrMalformed if the TBSCertList would pass 4 GiB.
func tbsHeader(fields []byte, entriesLen, extsLen int) ([]byte, error) {
	tbsLen := len(fields) + extsLen
	var entriesHdr []byte
	if entriesLen > 0 {
		// RFC 5280 §5.1.2.6: with no entries the field is absent, not empty.
		entriesHdr = appendSequenceHeader(nil, entriesLen)
		tbsLen += len(entriesHdr) + entriesLen
	}
	if uint64(tbsLen) > 0xffffffff-1024 {
		return nil, fmt.Errorf("%w: CRL longer than 4 GiB", ErrMalformed)
	}
	tbsHead := appendSequenceHeader(make([]byte, 0, 6+len(fields)+len(entriesHdr)), tbsLen)
	return append(append(tbsHead, fields...), entriesHdr...), nil
}

// assemble wraps the TBSCertList pieces and the signature sig into the
// CertificateList SEQUENCE (RFC 5280 §5.1) and returns it as a Signed. The
// chunks and exts slices are kept, not copied.
func assemble(alg sigAlg, tbsHead []byte, chunks [][]byte, entriesLen int, exts, sig []byte) (*Signed, error) {
	sigPart := cryptobyte.NewBuilder(make([]byte, 0, len(alg.der)+len(sig)+8))
	sigPart.AddBytes(alg.der)
	sigPart.AddASN1BitString(sig)
	sigBytes, err := sigPart.Bytes()
	if err != nil {
		return nil, fmt.Errorf("encoding CRL: %w", err)
	}
	tbsTotal := len(tbsHead) + entriesLen + len(exts)
	head := appendSequenceHeader(make([]byte, 0, 6+len(tbsHead)), tbsTotal+len(sigBytes))
	outer := len(head)
	head = append(head, tbsHead...)
	return &Signed{
		head:   head,
		chunks: chunks,
		tail:   append(exts, sigBytes...),
		size:   outer + tbsTotal + len(sigBytes),
	}, nil
}

// signTBS signs the TBSCertList given in pieces and verifies the signature,
// as x509.CreateCertificate does: a faulty signer (an HSM, an RSA fault) must
// not yield a CRL every relying party rejects, which would fail closed for
// every client. The digest is computed once and serves both.
func signTBS(t Template, alg sigAlg, head []byte, chunks [][]byte, exts []byte) ([]byte, error) {
	if alg.hash == 0 {
		// Pure Ed25519 (RFC 8032) signs the message itself, not a digest, so
		// it needs the TBSCertList in one piece.
		tbs := make([]byte, 0, len(head)+chunksLen(chunks)+len(exts))
		tbs = append(tbs, head...)
		for _, c := range chunks {
			tbs = append(tbs, c...)
		}
		tbs = append(tbs, exts...)
		sig, err := t.Signer.Sign(rand.Reader, tbs, crypto.Hash(0))
		if err != nil {
			return nil, fmt.Errorf("signing CRL: %w", err)
		}
		if pub, ok := t.Issuer.PublicKey.(ed25519.PublicKey); !ok || !ed25519.Verify(pub, tbs, sig) {
			return nil, fmt.Errorf("signing CRL: signature does not verify: %w", ErrBadSignature)
		}
		return sig, nil
	}
	h := alg.hash.New()
	h.Write(head)
	for _, c := range chunks {
		h.Write(c)
	}
	h.Write(exts)
	digest := h.Sum(nil)
	sig, err := t.Signer.Sign(rand.Reader, digest, alg.hash)
	if err != nil {
		return nil, fmt.Errorf("signing CRL: %w", err)
	}
	ok := false
	switch pub := t.Issuer.PublicKey.(type) {
	case *ecdsa.PublicKey:
		ok = ecdsa.VerifyASN1(pub, digest, sig)
	case *rsa.PublicKey:
		ok = rsa.VerifyPKCS1v15(pub, alg.hash, digest, sig) == nil
	}
	if !ok {
		return nil, fmt.Errorf("signing CRL: signature does not verify: %w", ErrBadSignature)
	}
	return sig, nil
}

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
