// Package pkcs7 encodes and decodes the degenerate "certs-only" PKCS#7 SignedData (RFC 2315 §9, RFC 5652 §5,
// RFC 7030 §4.1.3 and §4.2.3) that EST uses to return certificates: a SignedData with no content, no signers
// and the certificates in its certificates field. It is written with encoding/asn1 alone: the structure is four
// fields, and a general CMS library would bring signing code EST does not need.
package pkcs7

import (
	"crypto/x509"
	"encoding/asn1"
	"errors"
	"fmt"
)

var (
	oidData       = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 7, 1}
	oidSignedData = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 7, 2}
)

// MaxSize bounds what Decode accepts: a certs-only answer holds a few certificates.
const MaxSize = 256 << 10

type contentInfo struct {
	ContentType asn1.ObjectIdentifier
	Content     asn1.RawValue `asn1:"explicit,optional,tag:0"`
}

type signedData struct {
	Version          int
	DigestAlgorithms asn1.RawValue // SET OF, empty
	ContentInfo      contentInfo
	Certificates     asn1.RawValue `asn1:"optional,tag:0"` // [0] IMPLICIT SET OF Certificate
	SignerInfos      asn1.RawValue // SET OF, empty
}

func emptySet() asn1.RawValue {
	return asn1.RawValue{Class: asn1.ClassUniversal, Tag: asn1.TagSet, IsCompound: true, Bytes: []byte{}}
}

// EncodeCertsOnly returns the DER of a certs-only SignedData holding certs in the given order.
func EncodeCertsOnly(certs ...*x509.Certificate) ([]byte, error) {
	if len(certs) == 0 {
		return nil, errors.New("pkcs7: no certificates to encode")
	}
	var raw []byte
	for _, c := range certs {
		raw = append(raw, c.Raw...)
	}
	sd := signedData{
		Version:          1,
		DigestAlgorithms: emptySet(),
		ContentInfo:      contentInfo{ContentType: oidData},
		Certificates:     asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: 0, IsCompound: true, Bytes: raw},
		SignerInfos:      emptySet(),
	}
	inner, err := asn1.Marshal(sd)
	if err != nil {
		return nil, fmt.Errorf("pkcs7: encoding SignedData: %w", err)
	}
	return asn1.Marshal(contentInfo{ContentType: oidSignedData,
		Content: asn1.RawValue{FullBytes: explicit0(inner)}})
}

// explicit0 wraps der in a [0] EXPLICIT tag.
func explicit0(der []byte) []byte {
	out, _ := asn1.Marshal(asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: 0, IsCompound: true, Bytes: der})
	return out
}

// DecodeCertsOnly parses a certs-only SignedData (DER) and returns its certificates in order. It refuses
// trailing data, another content type, an empty certificate set and any certificate that does not parse.
func DecodeCertsOnly(der []byte) ([]*x509.Certificate, error) {
	if len(der) > MaxSize {
		return nil, fmt.Errorf("pkcs7: %d bytes is too large for a certificate answer", len(der))
	}
	var ci contentInfo
	rest, err := asn1.Unmarshal(der, &ci)
	if err != nil {
		return nil, fmt.Errorf("pkcs7: not a ContentInfo: %w", err)
	}
	if len(rest) > 0 {
		return nil, errors.New("pkcs7: trailing data after the ContentInfo")
	}
	if !ci.ContentType.Equal(oidSignedData) {
		return nil, fmt.Errorf("pkcs7: content type %v is not signedData", ci.ContentType)
	}
	var sd signedData
	if rest, err = asn1.Unmarshal(ci.Content.Bytes, &sd); err != nil {
		return nil, fmt.Errorf("pkcs7: not a SignedData: %w", err)
	}
	if len(rest) > 0 {
		return nil, errors.New("pkcs7: trailing data after the SignedData")
	}
	if sd.Certificates.Tag != 0 || sd.Certificates.Class != asn1.ClassContextSpecific || len(sd.Certificates.Bytes) == 0 {
		return nil, errors.New("pkcs7: the answer holds no certificates")
	}
	certs, err := x509.ParseCertificates(sd.Certificates.Bytes)
	if err != nil {
		return nil, fmt.Errorf("pkcs7: %w", err)
	}
	return certs, nil
}
