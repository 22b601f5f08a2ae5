package crl

import (
	"bytes"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/pem"
	"errors"
	"fmt"
	"math"
	"math/big"

	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"
)

// Parse parses one or more PEM "X509 CRL" blocks, or a single DER CRL, and
// verifies each against the CA certificate in issuers whose subject (byte-exact)
// and key identifier match the CRL's issuer and authority key identifier.
//
// Parse is strict and fails closed: any structural error, a foreign PEM block,
// bytes after the last CRL, a missing nextUpdate, or an unknown critical CRL or
// entry extension (RFC 5280 §5.2, §5.3) returns an error wrapping ErrMalformed;
// a CRL from no CA in issuers returns ErrUnknownIssuer; a signature that does
// not verify returns ErrBadSignature; input without any CRL returns ErrNoCRL.
// On error no CRL is returned. Each CRL's Raw is its DER, never aliasing data.
func Parse(data []byte, issuers []*x509.Certificate) ([]*CRL, error) {
	trimmed := bytes.TrimLeft(data, " \t\r\n")
	if len(trimmed) == 0 {
		return nil, fmt.Errorf("%w: empty input", ErrNoCRL)
	}
	if !bytes.HasPrefix(trimmed, []byte("-----BEGIN")) {
		c, err := parseDER(bytes.Clone(data), issuers) // Raw must not alias the caller's buffer
		if err != nil {
			return nil, err
		}
		return []*CRL{c}, nil
	}
	if ders, ok := splitPEM(trimmed); ok {
		crls := make([]*CRL, 0, len(ders))
		for i, der := range ders {
			c, err := parseDER(der, issuers) // splitPEM allocated der: no copy needed
			if err != nil {
				return nil, fmt.Errorf("CRL %d: %w", i+1, err)
			}
			crls = append(crls, c)
		}
		return crls, nil
	}
	return parsePEM(trimmed, issuers)
}

// parsePEM parses PEM blocks with encoding/pem, checking what splitPEM leaves
// to it: CRLF line ends, headers, foreign blocks, stray text, broken blocks.
// data starts with "-----BEGIN".
func parsePEM(data []byte, issuers []*x509.Certificate) ([]*CRL, error) {
	var crls []*CRL
	rest := data
	for i := 0; len(rest) > 0; i++ {
		// pem.Decode silently skips text before a block; insist that only
		// whitespace separates blocks so that stray data is noticed.
		if !bytes.HasPrefix(rest, []byte("-----BEGIN")) {
			return nil, fmt.Errorf("%w: unexpected data after PEM block %d", ErrMalformed, i)
		}
		block, after := pem.Decode(rest)
		// pem.Decode also skips a broken block to return a later one; the
		// consumed text must hold exactly the one block returned.
		if block == nil || bytes.Count(rest[:len(rest)-len(after)], []byte("-----BEGIN")) != 1 {
			return nil, fmt.Errorf("%w: invalid PEM block %d", ErrMalformed, i+1)
		}
		rest = after
		if block.Type != pemType {
			return nil, fmt.Errorf("%w: PEM block %d is %q, want %q", ErrMalformed, i+1, block.Type, pemType)
		}
		if len(block.Headers) != 0 {
			return nil, fmt.Errorf("%w: PEM block %d has headers", ErrMalformed, i+1)
		}
		c, err := parseDER(block.Bytes, issuers) // pem.Decode allocated block.Bytes: no copy needed
		if err != nil {
			return nil, fmt.Errorf("CRL %d: %w", i+1, err)
		}
		crls = append(crls, c)
		rest = bytes.TrimLeft(rest, " \t\r\n")
	}
	return crls, nil
}

// malformed returns an ErrMalformed error naming the element that failed.
func malformed(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrMalformed, fmt.Sprintf(format, args...))
}

// Tags used by the CRL structure.
var (
	tagExplicit0 = cbasn1.Tag(0).Constructed().ContextSpecific()
	tagKeyID     = cbasn1.Tag(0).ContextSpecific()
)

// parseDER parses and verifies one DER CertificateList (RFC 5280 §5.1). It
// keeps der as CRL.Raw.
func parseDER(der []byte, issuers []*x509.Certificate) (*CRL, error) {
	if len(der) > math.MaxUint32 {
		return nil, malformed("CRL larger than 4 GiB")
	}
	tbsRaw, outerAlg, sig, err := splitCertList(der)
	if err != nil {
		return nil, err
	}
	c := &CRL{}
	f, err := parseTBS(tbsRaw, outerAlg, c)
	if err != nil {
		return nil, err
	}
	if c.Issuer, err = findIssuer(f.rawIssuer, f.aki, f.alg, tbsRaw, sig, issuers); err != nil {
		return nil, err
	}

	// Only now, with the signature verified, walk the entries: forged input
	// costs a signature check, not a million-entry parse.
	if c.Revoked, err = parseEntries(f.revoked, f.hasRevoked, f.version); err != nil {
		return nil, err
	}
	c.Raw = der
	return c, nil
}

// splitCertList splits a DER CertificateList (RFC 5280 §5.1) into its three
// fields: the complete tbsCertList element, the complete signatureAlgorithm
// element and the signature bits. It returns an error wrapping ErrMalformed
// if der is not exactly one such SEQUENCE.
func splitCertList(der []byte) (tbsRaw, outerAlg cryptobyte.String, sig []byte, err error) {
	input := cryptobyte.String(der)
	var certList cryptobyte.String
	if !input.ReadASN1(&certList, cbasn1.SEQUENCE) {
		return nil, nil, nil, malformed("CertificateList is not a DER SEQUENCE")
	}
	if !input.Empty() {
		return nil, nil, nil, malformed("%d bytes after CertificateList", len(input))
	}
	if !certList.ReadASN1Element(&tbsRaw, cbasn1.SEQUENCE) {
		return nil, nil, nil, malformed("tbsCertList")
	}
	if !certList.ReadASN1Element(&outerAlg, cbasn1.SEQUENCE) {
		return nil, nil, nil, malformed("signatureAlgorithm")
	}
	if !certList.ReadASN1BitStringAsBytes(&sig) {
		return nil, nil, nil, malformed("signatureValue")
	}
	if !certList.Empty() {
		return nil, nil, nil, malformed("trailing data in CertificateList")
	}
	return tbsRaw, outerAlg, sig, nil
}

// tbsFields holds what parseTBS leaves for after the signature check: the
// fields needed to find and verify the issuer, and the unparsed entries.
type tbsFields struct {
	version    int // 0 for v1, 1 for v2
	alg        sigAlg
	rawIssuer  []byte
	aki        []byte // the AuthorityKeyIdentifier, nil if absent
	revoked    cryptobyte.String
	hasRevoked bool
}

// parseTBS parses the TBSCertList element tbsRaw (RFC 5280 §5.1.2), checks
// that its signature algorithm equals outerAlg, and sets c's ThisUpdate,
// NextUpdate and Number. The revoked entries are left unparsed in the
// result. It returns an error wrapping ErrMalformed on the first field that
// does not conform, or the error of parseCRLExtensions.
func parseTBS(tbsRaw, outerAlg cryptobyte.String, c *CRL) (tbsFields, error) {
	var f tbsFields
	var tbs cryptobyte.String
	tbsCopy := tbsRaw
	if !tbsCopy.ReadASN1(&tbs, cbasn1.SEQUENCE) {
		return f, malformed("tbsCertList")
	}
	if tbs.PeekASN1Tag(cbasn1.INTEGER) {
		if !tbs.ReadASN1Integer(&f.version) || f.version != 1 {
			// Only v2 may be explicit (RFC 5280 §5.1.2.1); v1 omits the field.
			return f, malformed("version")
		}
	}
	var innerAlg, rawIssuer cryptobyte.String
	if !tbs.ReadASN1Element(&innerAlg, cbasn1.SEQUENCE) {
		return f, malformed("tbsCertList signature")
	}
	if !bytes.Equal(innerAlg, outerAlg) {
		return f, malformed("signature algorithm in tbsCertList differs from signatureAlgorithm") // §5.1.1.2
	}
	var ok bool
	if f.alg, ok = lookupAlg(outerAlg); !ok {
		return f, malformed("unsupported signature algorithm")
	}
	if !tbs.ReadASN1Element(&rawIssuer, cbasn1.SEQUENCE) {
		return f, malformed("issuer")
	}
	f.rawIssuer = rawIssuer
	var err error
	if c.ThisUpdate, err = readTime(&tbs); err != nil {
		return f, malformed("thisUpdate: %v", err)
	}
	if !tbs.PeekASN1Tag(cbasn1.UTCTime) && !tbs.PeekASN1Tag(cbasn1.GeneralizedTime) {
		return f, malformed("no nextUpdate") // RFC 5280 §5.1.2.5: conforming issuers MUST include it
	}
	if c.NextUpdate, err = readTime(&tbs); err != nil {
		return f, malformed("nextUpdate: %v", err)
	}
	if tbs.PeekASN1Tag(cbasn1.SEQUENCE) {
		if !tbs.ReadASN1(&f.revoked, cbasn1.SEQUENCE) {
			return f, malformed("revokedCertificates")
		}
		f.hasRevoked = true
	}
	if tbs.PeekASN1Tag(tagExplicit0) {
		if f.version != 1 {
			return f, malformed("extensions in a v1 CRL")
		}
		var exts cryptobyte.String
		if !tbs.ReadASN1(&exts, tagExplicit0) || !exts.ReadASN1(&exts, cbasn1.SEQUENCE) || exts.Empty() {
			return f, malformed("crlExtensions")
		}
		if f.aki, c.Number, err = parseCRLExtensions(exts); err != nil {
			return f, err
		}
	}
	if !tbs.Empty() {
		return f, malformed("trailing data in tbsCertList")
	}
	return f, nil
}

// lookupAlg maps a signature AlgorithmIdentifier to the algorithm.
func lookupAlg(der []byte) (sigAlg, bool) {
	for _, a := range []sigAlg{algECDSASHA256, algECDSASHA384, algECDSASHA512, algRSASHA256, algRSASHA384, algRSASHA512, algEd25519} {
		if bytes.Equal(der, a.der) {
			return a, true
		}
	}
	return sigAlg{}, false
}

// parseCRLExtensions reads crlExtensions (RFC 5280 §5.2): the authority key
// identifier's keyIdentifier and the CRL number. Unknown non-critical
// extensions are ignored; unknown critical ones make the CRL unusable.
func parseCRLExtensions(exts cryptobyte.String) (aki []byte, number *big.Int, err error) {
	var seenAKI, seenNumber bool
	for !exts.Empty() {
		oid, critical, value, err := readExtension(&exts)
		if err != nil {
			return nil, nil, malformed("crlExtensions: %v", err)
		}
		switch {
		case bytes.Equal(oid, oidAKI):
			if seenAKI {
				return nil, nil, malformed("duplicate authorityKeyIdentifier") // §4.2
			}
			seenAKI = true
			var seq cryptobyte.String
			if !value.ReadASN1(&seq, cbasn1.SEQUENCE) || !value.Empty() {
				return nil, nil, malformed("authorityKeyIdentifier")
			}
			var kid cryptobyte.String
			var present bool
			if !seq.ReadOptionalASN1(&kid, &present, tagKeyID) || (present && len(kid) == 0) {
				return nil, nil, malformed("authorityKeyIdentifier keyIdentifier")
			}
			aki = kid
			// authorityCertIssuer and authorityCertSerialNumber may follow; they
			// do not change which key we verify with, so they are not read.
		case bytes.Equal(oid, oidCRLNumber):
			if seenNumber {
				return nil, nil, malformed("duplicate cRLNumber")
			}
			seenNumber = true
			var n cryptobyte.String
			if !value.ReadASN1(&n, cbasn1.INTEGER) || !value.Empty() || len(n) == 0 || len(n) > maxSerialOctets || n[0]&0x80 != 0 ||
				(len(n) > 1 && n[0] == 0 && n[1]&0x80 == 0) {
				return nil, nil, malformed("cRLNumber") // §5.2.3: non-negative, ≤ 20 octets
			}
			number = new(big.Int).SetBytes(n)
		case critical:
			// Includes issuingDistributionPoint and deltaCRLIndicator: a partial
			// or delta CRL read as complete would hide revocations.
			return nil, nil, malformed("unsupported critical CRL extension %s", oidString(oid))
		}
	}
	return aki, number, nil
}

// readExtension reads one Extension (RFC 5280 §4.1): extnID, critical
// (DEFAULT FALSE) and the content of extnValue.
func readExtension(s *cryptobyte.String) (oid []byte, critical bool, value cryptobyte.String, err error) {
	var ext, oidS cryptobyte.String
	if !s.ReadASN1(&ext, cbasn1.SEQUENCE) || !ext.ReadASN1(&oidS, cbasn1.OBJECT_IDENTIFIER) || len(oidS) == 0 {
		return nil, false, nil, errors.New("extension")
	}
	if ext.PeekASN1Tag(cbasn1.BOOLEAN) && !ext.ReadASN1Boolean(&critical) {
		return nil, false, nil, fmt.Errorf("extension %s: critical", oidString(oidS))
	}
	if !ext.ReadASN1(&value, cbasn1.OCTET_STRING) || !ext.Empty() {
		return nil, false, nil, fmt.Errorf("extension %s: extnValue", oidString(oidS))
	}
	return oidS, critical, value, nil
}

func oidString(content []byte) string {
	var oid asn1.ObjectIdentifier
	full := append([]byte{0x06, byte(len(content))}, content...)
	if len(content) > 127 {
		return fmt.Sprintf("%x", content)
	}
	if _, err := asn1.Unmarshal(full, &oid); err != nil {
		return fmt.Sprintf("%x", content)
	}
	return oid.String()
}

// findIssuer returns the CA certificate that signed the CRL: its RawSubject
// equals the CRL issuer, its SubjectKeyId equals the AKI when both exist, and
// its key verifies the signature. Several candidates are tried, so a re-keyed
// CA with the same name works.
func findIssuer(rawIssuer, aki []byte, alg sigAlg, tbs, sig []byte, issuers []*x509.Certificate) (*x509.Certificate, error) {
	var sigErr error
	for _, ca := range issuers {
		if ca == nil || !bytes.Equal(ca.RawSubject, rawIssuer) {
			continue
		}
		if len(aki) > 0 && len(ca.SubjectKeyId) > 0 && !bytes.Equal(aki, ca.SubjectKeyId) {
			continue
		}
		// As x509.RevocationList.CheckSignatureFrom: the issuer must be a CA
		// allowed to sign CRLs (RFC 5280 §4.2.1.3, §4.2.1.9).
		if (ca.Version == 3 && !ca.BasicConstraintsValid) || (ca.BasicConstraintsValid && !ca.IsCA) {
			sigErr = fmt.Errorf("%w: issuer %q is not a CA", ErrBadSignature, ca.Subject)
			continue
		}
		if ca.KeyUsage != 0 && ca.KeyUsage&x509.KeyUsageCRLSign == 0 {
			sigErr = fmt.Errorf("%w: issuer %q lacks the cRLSign key usage", ErrBadSignature, ca.Subject)
			continue
		}
		if err := ca.CheckSignature(alg.alg, tbs, sig); err != nil {
			sigErr = fmt.Errorf("%w: issuer %q: %v", ErrBadSignature, ca.Subject, err)
			continue
		}
		return ca, nil
	}
	if sigErr != nil {
		return nil, sigErr
	}
	return nil, fmt.Errorf("%w: CRL issuer %q is not one of the CA certificates", ErrUnknownIssuer, nameString(rawIssuer))
}

func nameString(raw []byte) string {
	var rdn pkix.RDNSequence
	if rest, err := asn1.Unmarshal(raw, &rdn); err != nil || len(rest) != 0 {
		return fmt.Sprintf("%x", raw)
	}
	var name pkix.Name
	name.FillFromRDNSequence(&rdn)
	return name.String()
}
