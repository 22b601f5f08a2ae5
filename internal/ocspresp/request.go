// Package ocspresp is wsca's RFC 6960 OCSP responder: it parses requests (with the nonce extension that
// golang.org/x/crypto/ocsp ignores), answers good, revoked or unknown for one issuing CA from a snapshot
// of the issuance database, and signs with a delegated OCSP-signing certificate. Responses without a nonce
// are signed once per serial and served from a cache until the serial's status changes or the response is
// half-way to its nextUpdate; a request with a nonce costs one signature, because the nonce is inside the
// signed data. The package never touches the disk: the publisher feeds it snapshots and signers.
package ocspresp

import (
	"crypto"
	"encoding/asn1"
	"errors"
	"fmt"
	"math/big"

	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"
)

// MaxRequestSize bounds a request body. A real OCSP request for one certificate is about 80-120 bytes
// (a few hundred with a signature or many certificates); anything above this is refused unread.
const MaxRequestSize = 16 << 10

// maxItems bounds the certificates asked about in one request, so a request cannot make the responder sign
// a response of unbounded size.
const maxItems = 32

// maxNonce is RFC 8954 §2.1: a responder rejects a nonce longer than 32 octets (or empty).
const maxNonce = 32

// ErrMalformed means a request is not a well-formed DER OCSPRequest; the responder answers malformedRequest.
var ErrMalformed = errors.New("malformed OCSP request")

var (
	oidNonce  = asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 7, 48, 1, 2}
	oidSHA1   = asn1.ObjectIdentifier{1, 3, 14, 3, 2, 26}
	oidSHA256 = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 2, 1}
	oidSHA384 = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 2, 2}
	oidSHA512 = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 2, 3}
)

// CertID is one certificate a request asks about (RFC 6960 §4.1.1).
type CertID struct {
	Hash           crypto.Hash // of the issuer name and key; 0 when the algorithm is not one wsca knows
	IssuerNameHash []byte
	IssuerKeyHash  []byte
	Serial         *big.Int
	Raw            []byte // the complete CertID SEQUENCE, echoed in the response
}

// Request is a parsed OCSPRequest.
type Request struct {
	Items []CertID
	// Nonce is the extnValue of the request's nonce extension (RFC 6960 §4.4.1), exactly as sent, or nil.
	// The response carries the same bytes: OpenSSL compares them octet for octet.
	Nonce []byte
}

// ParseRequest parses a DER OCSPRequest strictly: trailing data, a version other than v1, an empty or
// oversized request list, an unknown critical extension or a nonce that breaks RFC 8954 are all
// ErrMalformed. A signature on the request (optionalSignature) is accepted and ignored: wsca answers
// anyone, as RFC 6960 allows.
func ParseRequest(der []byte) (*Request, error) {
	if len(der) > MaxRequestSize {
		return nil, fmt.Errorf("%w: %d bytes (at most %d)", ErrMalformed, len(der), MaxRequestSize)
	}
	in := cryptobyte.String(der)
	var req, tbs cryptobyte.String
	if !in.ReadASN1(&req, cbasn1.SEQUENCE) || !in.Empty() {
		return nil, fmt.Errorf("%w: not one DER SEQUENCE", ErrMalformed)
	}
	if !req.ReadASN1(&tbs, cbasn1.SEQUENCE) {
		return nil, fmt.Errorf("%w: no tbsRequest", ErrMalformed)
	}
	if !req.SkipOptionalASN1(cbasn1.Tag(0).Constructed().ContextSpecific()) || !req.Empty() {
		return nil, fmt.Errorf("%w: trailing data after tbsRequest", ErrMalformed)
	}
	var version int64
	if !tbs.ReadOptionalASN1Integer(&version, cbasn1.Tag(0).Constructed().ContextSpecific(), int64(0)) || version != 0 {
		return nil, fmt.Errorf("%w: version", ErrMalformed)
	}
	if !tbs.SkipOptionalASN1(cbasn1.Tag(1).Constructed().ContextSpecific()) { // requestorName
		return nil, fmt.Errorf("%w: requestorName", ErrMalformed)
	}
	var list cryptobyte.String
	if !tbs.ReadASN1(&list, cbasn1.SEQUENCE) {
		return nil, fmt.Errorf("%w: no requestList", ErrMalformed)
	}
	out := &Request{}
	for !list.Empty() {
		if len(out.Items) == maxItems {
			return nil, fmt.Errorf("%w: more than %d certificates in one request", ErrMalformed, maxItems)
		}
		id, err := parseSingle(&list)
		if err != nil {
			return nil, err
		}
		out.Items = append(out.Items, id)
	}
	if len(out.Items) == 0 {
		return nil, fmt.Errorf("%w: empty requestList", ErrMalformed)
	}
	var exts cryptobyte.String
	var hasExts bool
	if !tbs.ReadOptionalASN1(&exts, &hasExts, cbasn1.Tag(2).Constructed().ContextSpecific()) || !tbs.Empty() {
		return nil, fmt.Errorf("%w: requestExtensions", ErrMalformed)
	}
	if hasExts {
		nonce, err := parseExtensions(exts)
		if err != nil {
			return nil, err
		}
		out.Nonce = nonce
	}
	return out, nil
}

// parseSingle reads one Request ::= SEQUENCE { reqCert CertID, singleRequestExtensions [0] OPTIONAL }.
func parseSingle(list *cryptobyte.String) (CertID, error) {
	var single, raw, certID cryptobyte.String
	if !list.ReadASN1(&single, cbasn1.SEQUENCE) {
		return CertID{}, fmt.Errorf("%w: request entry", ErrMalformed)
	}
	if !single.ReadASN1Element(&raw, cbasn1.SEQUENCE) {
		return CertID{}, fmt.Errorf("%w: certID", ErrMalformed)
	}
	var singleExts cryptobyte.String
	var hasSingleExts bool
	if !single.ReadOptionalASN1(&singleExts, &hasSingleExts, cbasn1.Tag(0).Constructed().ContextSpecific()) || !single.Empty() {
		return CertID{}, fmt.Errorf("%w: singleRequestExtensions", ErrMalformed)
	}
	if hasSingleExts {
		if _, err := parseExtensions(singleExts); err != nil {
			return CertID{}, err
		}
	}
	certID = raw
	var body, alg cryptobyte.String
	var oid asn1.ObjectIdentifier
	id := CertID{Raw: []byte(raw), Serial: new(big.Int)}
	if !certID.ReadASN1(&body, cbasn1.SEQUENCE) ||
		!body.ReadASN1(&alg, cbasn1.SEQUENCE) || !alg.ReadASN1ObjectIdentifier(&oid) ||
		!(alg.Empty() || alg.SkipASN1(cbasn1.NULL) && alg.Empty()) ||
		!body.ReadASN1Bytes(&id.IssuerNameHash, cbasn1.OCTET_STRING) ||
		!body.ReadASN1Bytes(&id.IssuerKeyHash, cbasn1.OCTET_STRING) ||
		!body.ReadASN1Integer(id.Serial) || !body.Empty() {
		return CertID{}, fmt.Errorf("%w: certID", ErrMalformed)
	}
	id.Hash = hashFor(oid)
	return id, nil
}

// parseExtensions reads Extensions and returns the nonce's extnValue if present. An unknown critical
// extension makes the request malformed (RFC 5280 §4.2 semantics).
func parseExtensions(exts cryptobyte.String) ([]byte, error) {
	var seq cryptobyte.String
	if !exts.ReadASN1(&seq, cbasn1.SEQUENCE) || !exts.Empty() {
		return nil, fmt.Errorf("%w: extensions", ErrMalformed)
	}
	var nonce []byte
	for !seq.Empty() {
		var ext cryptobyte.String
		var oid asn1.ObjectIdentifier
		var critical bool
		var value []byte
		if !seq.ReadASN1(&ext, cbasn1.SEQUENCE) || !ext.ReadASN1ObjectIdentifier(&oid) ||
			!ext.ReadOptionalASN1Boolean(&critical, cbasn1.BOOLEAN, false) ||
			!ext.ReadASN1Bytes(&value, cbasn1.OCTET_STRING) || !ext.Empty() {
			return nil, fmt.Errorf("%w: extension", ErrMalformed)
		}
		switch {
		case oid.Equal(oidNonce):
			if nonce != nil {
				return nil, fmt.Errorf("%w: two nonces", ErrMalformed)
			}
			if err := checkNonce(value); err != nil {
				return nil, err
			}
			nonce = value
		case critical:
			return nil, fmt.Errorf("%w: unknown critical extension %s", ErrMalformed, oid)
		}
	}
	return nonce, nil
}

// checkNonce applies RFC 8954 §2.1 to the nonce: an OCTET STRING of 1 to 32 octets. Some old clients put
// the raw octets in extnValue without the inner OCTET STRING; those are held to the same length.
func checkNonce(value []byte) error {
	inner := cryptobyte.String(value)
	var octets []byte
	if inner.ReadASN1Bytes(&octets, cbasn1.OCTET_STRING) && inner.Empty() {
		value = octets
	}
	if len(value) == 0 || len(value) > maxNonce {
		return fmt.Errorf("%w: nonce of %d octets (RFC 8954: 1 to %d)", ErrMalformed, len(value), maxNonce)
	}
	return nil
}

func hashFor(oid asn1.ObjectIdentifier) crypto.Hash {
	switch {
	case oid.Equal(oidSHA1):
		return crypto.SHA1
	case oid.Equal(oidSHA256):
		return crypto.SHA256
	case oid.Equal(oidSHA384):
		return crypto.SHA384
	case oid.Equal(oidSHA512):
		return crypto.SHA512
	}
	return 0
}
