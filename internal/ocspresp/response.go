package ocspresp

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/asn1"
	"errors"
	"fmt"
	"time"

	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"
)

// ResponseStatus is the OCSPResponseStatus of RFC 6960 §4.2.1.
type ResponseStatus int

// The response statuses wsca sends. Error responses carry no signed data (RFC 6960 §2.3).
const (
	Successful       ResponseStatus = 0
	MalformedRequest ResponseStatus = 1
	InternalError    ResponseStatus = 2
	TryLater         ResponseStatus = 3
	Unauthorized     ResponseStatus = 6
)

// ErrorResponse returns the DER OCSPResponse for an unsuccessful status: SEQUENCE { ENUMERATED status }.
func ErrorResponse(s ResponseStatus) []byte {
	return []byte{0x30, 0x03, 0x0a, 0x01, byte(s)}
}

// certStatus is what one SingleResponse says about a serial.
type certStatus struct {
	kind      statusKind
	revokedAt time.Time
	reason    int
}

// same reports whether two statuses would be answered identically.
func (c certStatus) same(o certStatus) bool {
	return c.kind == o.kind && c.reason == o.reason && c.revokedAt.Equal(o.revokedAt)
}

type statusKind uint8

const (
	statusGood statusKind = iota
	statusRevoked
	statusUnknown
)

var (
	// id-pkix-ocsp-basic 1.3.6.1.5.5.7.48.1.1 and id-pkix-ocsp-nonce 1.3.6.1.5.5.7.48.1.2, DER contents.
	oidBasicDER = []byte{0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x30, 0x01, 0x01}
	oidNonceDER = []byte{0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x30, 0x01, 0x02}
	// AlgorithmIdentifier contents (OID, parameters) for the signatures wsca makes.
	algECDSASHA256 = []byte{0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x02}
	algECDSASHA384 = []byte{0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x03}
	algRSASHA256   = []byte{0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0b, 0x05, 0x00}
)

// appendSingle encodes one SingleResponse: the request's CertID echoed verbatim, the status, thisUpdate
// and nextUpdate. A revocation reason is included unless it is unspecified, as on wsca's CRLs.
func appendSingle(b *cryptobyte.Builder, certID []byte, st certStatus, this, next time.Time) {
	b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
		b.AddBytes(certID)
		switch st.kind {
		case statusGood:
			b.AddASN1(cbasn1.Tag(0).ContextSpecific(), func(*cryptobyte.Builder) {})
		case statusRevoked:
			b.AddASN1(cbasn1.Tag(1).Constructed().ContextSpecific(), func(b *cryptobyte.Builder) {
				b.AddASN1GeneralizedTime(st.revokedAt.UTC().Truncate(time.Second))
				if st.reason != 0 {
					b.AddASN1(cbasn1.Tag(0).Constructed().ContextSpecific(), func(b *cryptobyte.Builder) {
						b.AddASN1(cbasn1.ENUM, func(b *cryptobyte.Builder) { b.AddUint8(uint8(st.reason)) })
					})
				}
			})
		default:
			b.AddASN1(cbasn1.Tag(2).ContextSpecific(), func(*cryptobyte.Builder) {})
		}
		b.AddASN1GeneralizedTime(this)
		b.AddASN1(cbasn1.Tag(0).Constructed().ContextSpecific(), func(b *cryptobyte.Builder) {
			b.AddASN1GeneralizedTime(next)
		})
	})
}

// Signer is the delegated OCSP-signing certificate and its key: RFC 6960 §4.2.2.2, issued by the CA whose
// certificates it answers for, with extKeyUsage id-kp-OCSPSigning.
type Signer struct {
	Cert *x509.Certificate
	Key  crypto.Signer
	// keyHash is the SHA-1 of the signer's public key BIT STRING: the ResponderID byKey.
	keyHash []byte
	alg     []byte
	hash    crypto.Hash
}

// NewSigner checks that key matches cert, that cert is an OCSP signer and that the key type is one wsca
// signs with (ECDSA P-256/P-384, RSA), and prepares the ResponderID.
func NewSigner(cert *x509.Certificate, key crypto.Signer) (*Signer, error) {
	s := &Signer{Cert: cert, Key: key}
	switch pub := key.Public().(type) {
	case *ecdsa.PublicKey:
		switch pub.Curve {
		case elliptic.P256():
			s.alg, s.hash = algECDSASHA256, crypto.SHA256
		case elliptic.P384():
			s.alg, s.hash = algECDSASHA384, crypto.SHA384
		default:
			return nil, fmt.Errorf("OCSP signer key: unsupported curve %s", pub.Curve.Params().Name)
		}
		if !pub.Equal(cert.PublicKey) {
			return nil, errors.New("OCSP signer key does not match its certificate")
		}
	case *rsa.PublicKey:
		s.alg, s.hash = algRSASHA256, crypto.SHA256
		if !pub.Equal(cert.PublicKey) {
			return nil, errors.New("OCSP signer key does not match its certificate")
		}
	default:
		return nil, fmt.Errorf("OCSP signer key: unsupported type %T", pub)
	}
	hasEKU := false
	for _, u := range cert.ExtKeyUsage {
		hasEKU = hasEKU || u == x509.ExtKeyUsageOCSPSigning
	}
	if !hasEKU {
		return nil, errors.New("OCSP signer certificate lacks extKeyUsage id-kp-OCSPSigning")
	}
	kh, err := keyHash(crypto.SHA1, cert.RawSubjectPublicKeyInfo)
	if err != nil {
		return nil, err
	}
	s.keyHash = kh
	return s, nil
}

// sign builds the BasicOCSPResponse around singles (encoded SingleResponses) and returns the complete
// successful OCSPResponse. nonce, when not nil, is echoed as the responseExtensions' nonce.
func (s *Signer) sign(singles []byte, producedAt time.Time, nonce []byte) ([]byte, error) {
	// Both builders start with room for everything they will hold, so that neither grows (and copies) its
	// buffer while the response is assembled: this runs once per request that carries a nonce.
	tbs := cryptobyte.NewBuilder(make([]byte, 0, len(singles)+len(s.keyHash)+len(nonce)+64))
	tbs.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
		// version v1 is DEFAULT: omitted. ResponderID byKey [2] EXPLICIT KeyHash.
		b.AddASN1(cbasn1.Tag(2).Constructed().ContextSpecific(), func(b *cryptobyte.Builder) {
			b.AddASN1OctetString(s.keyHash)
		})
		b.AddASN1GeneralizedTime(producedAt)
		b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) { b.AddBytes(singles) })
		if nonce != nil {
			b.AddASN1(cbasn1.Tag(1).Constructed().ContextSpecific(), func(b *cryptobyte.Builder) {
				b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
					b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
						b.AddASN1(cbasn1.OBJECT_IDENTIFIER, func(b *cryptobyte.Builder) { b.AddBytes(oidNonceDER) })
						b.AddASN1OctetString(nonce)
					})
				})
			})
		}
	})
	tbsDER, err := tbs.Bytes()
	if err != nil {
		return nil, fmt.Errorf("encoding OCSP response: %w", err)
	}
	h := s.hash.New()
	h.Write(tbsDER)
	sig, err := s.Key.Sign(rand.Reader, h.Sum(nil), s.hash)
	if err != nil {
		return nil, fmt.Errorf("signing OCSP response: %w", err)
	}
	out := cryptobyte.NewBuilder(make([]byte, 0, len(tbsDER)+len(s.Cert.Raw)+len(sig)+64))
	out.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
		b.AddASN1Enum(int64(Successful))
		b.AddASN1(cbasn1.Tag(0).Constructed().ContextSpecific(), func(b *cryptobyte.Builder) {
			b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
				b.AddASN1(cbasn1.OBJECT_IDENTIFIER, func(b *cryptobyte.Builder) { b.AddBytes(oidBasicDER) })
				b.AddASN1(cbasn1.OCTET_STRING, func(b *cryptobyte.Builder) {
					b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
						b.AddBytes(tbsDER)
						b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) { b.AddBytes(s.alg) })
						b.AddASN1BitString(sig)
						// certs [0] EXPLICIT SEQUENCE OF Certificate: Apache refuses a delegated
						// response without the signer ("signer certificate not found").
						b.AddASN1(cbasn1.Tag(0).Constructed().ContextSpecific(), func(b *cryptobyte.Builder) {
							b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) { b.AddBytes(s.Cert.Raw) })
						})
					})
				})
			})
		})
	})
	return out.Bytes()
}

// keyHash returns h of the subjectPublicKey BIT STRING contents of spki (RFC 6960 §4.1.1 issuerKeyHash,
// §4.2.1 ResponderID byKey).
func keyHash(h crypto.Hash, spki []byte) ([]byte, error) {
	in := cryptobyte.String(spki)
	var body cryptobyte.String
	var bits asn1.BitString
	if !in.ReadASN1(&body, cbasn1.SEQUENCE) || !body.SkipASN1(cbasn1.SEQUENCE) || !body.ReadASN1BitString(&bits) {
		return nil, errors.New("malformed subjectPublicKeyInfo")
	}
	d := h.New()
	d.Write(bits.Bytes)
	return d.Sum(nil), nil
}
