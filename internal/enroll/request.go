package enroll

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"mime"
	"strings"
)

// MaxBody bounds an EST request body: a base64 PKCS#10 request is a few KiB.
const MaxBody = 64 << 10

// Refusal reasons: the first word of an error answer's body, stable for scripts and the renew client.
const (
	ReasonBadRequest  = "bad_request"
	ReasonBadCSR      = "bad_csr"
	ReasonTooLarge    = "too_large"
	ReasonContentType = "wrong_content_type"
	ReasonNoCert      = "no_certificate"
	ReasonRevoked     = "revoked"
	ReasonUnknownCert = "unknown_certificate"
	ReasonRejected    = "certificate_rejected"
	ReasonIdentity    = "identity"
	ReasonBadToken    = "bad_token"
	ReasonNoToken     = "no_token"
	ReasonRateLimited = "rate_limited"
	ReasonAddress     = "address_refused"
	ReasonInternal    = "internal"
)

// ErrContentType means the request is not application/pkcs10.
var ErrContentType = errors.New("the request's Content-Type is not application/pkcs10")

// ParseCSRBody decodes the body of a simpleenroll or simplereenroll request (RFC 7030 §4.2.1): Content-Type
// application/pkcs10, the DER request in base64 (line breaks allowed, as RFC 2045 writes it). It returns the
// DER; the caller checks the request itself (ca.ParseCSR).
func ParseCSRBody(contentType string, body []byte) ([]byte, error) {
	mt, _, err := mime.ParseMediaType(contentType)
	if err != nil || !strings.EqualFold(mt, "application/pkcs10") {
		return nil, fmt.Errorf("%w (got %q)", ErrContentType, contentType)
	}
	if len(body) > MaxBody {
		return nil, fmt.Errorf("the request has %d bytes, more than %d", len(body), MaxBody)
	}
	compact := bytes.Map(func(r rune) rune {
		if r == '\r' || r == '\n' || r == ' ' || r == '\t' {
			return -1
		}
		return r
	}, body)
	if len(compact) == 0 {
		return nil, errors.New("the request body is empty (want a base64 PKCS#10 request)")
	}
	der, err := base64.StdEncoding.DecodeString(string(compact))
	if err != nil {
		return nil, fmt.Errorf("the request body is not base64 (RFC 7030 §4.2.1): %w", err)
	}
	return der, nil
}

// ParseToken returns the enrollment token of an Authorization header: "Bearer TOKEN", or HTTP Basic with the
// token as the password (RFC 7030 §3.2.3 lets EST clients authenticate with Basic; curl -u device:TOKEN).
// It returns "" when the header carries no token.
func ParseToken(header string) string {
	scheme, rest, ok := strings.Cut(strings.TrimSpace(header), " ")
	if !ok {
		return ""
	}
	rest = strings.TrimSpace(rest)
	switch strings.ToLower(scheme) {
	case "bearer":
		return validToken(rest)
	case "basic":
		raw, err := base64.StdEncoding.DecodeString(rest)
		if err != nil {
			return ""
		}
		_, pass, ok := strings.Cut(string(raw), ":")
		if !ok {
			return ""
		}
		return validToken(pass)
	}
	return ""
}

// validToken keeps a token only if it has the form wsca issue --token prints (32 lowercase hex digits), so
// that nothing else reaches the database or the logs.
func validToken(s string) string {
	if len(s) != 32 {
		return ""
	}
	for _, c := range s {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return ""
		}
	}
	return s
}
