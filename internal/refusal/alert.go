// Package refusal reads what a server says when it refuses a client — the TLS alert out of a crypto/tls error,
// the one line worth showing of an HTTP error page — for the clients that must say why (doctor's probe,
// wsclient's session).
package refusal

import (
	"crypto/tls"
	"errors"
	"net"
	"reflect"
	"strconv"
)

// Alert codes: the TLS alerts (RFC 8446 §6, RFC 5246 §7.2) that tell why a server refused a client.
const (
	AlertHandshakeFailure       = 40
	AlertBadCertificate         = 42
	AlertUnsupportedCertificate = 43
	AlertCertificateRevoked     = 44
	AlertCertificateExpired     = 45
	AlertCertificateUnknown     = 46
	AlertUnknownCA              = 48
	AlertAccessDenied           = 49
	AlertCertificateRequired    = 116
)

// names are the RFC spellings, which is what OpenSSL and server logs print.
var names = map[int]string{
	0: "close_notify", 10: "unexpected_message", 20: "bad_record_mac", 22: "record_overflow",
	AlertHandshakeFailure: "handshake_failure", AlertBadCertificate: "bad_certificate",
	AlertUnsupportedCertificate: "unsupported_certificate", AlertCertificateRevoked: "certificate_revoked",
	AlertCertificateExpired: "certificate_expired", AlertCertificateUnknown: "certificate_unknown",
	47: "illegal_parameter", AlertUnknownCA: "unknown_ca", AlertAccessDenied: "access_denied", 50: "decode_error",
	51: "decrypt_error", 70: "protocol_version", 71: "insufficient_security", 80: "internal_error",
	86: "inappropriate_fallback", 90: "user_canceled", 109: "missing_extension", 110: "unsupported_extension",
	112: "unrecognized_name", AlertCertificateRequired: "certificate_required", 120: "no_application_protocol",
}

// AlertName returns the RFC name of an alert code, or "alert(N)".
func AlertName(code int) string {
	if n, ok := names[code]; ok {
		return n
	}
	return "alert(" + strconv.Itoa(code) + ")"
}

// AlertOf extracts the TLS alert the peer sent from an error of crypto/tls. crypto/tls reports a received alert as
// a *net.OpError with Op "remote error" wrapping its unexported alert type (a uint8), so the code is read through
// reflection rather than by matching the message text; tls.AlertError (QUIC) is handled too.
func AlertOf(err error) (int, bool) {
	var ae tls.AlertError
	if errors.As(err, &ae) {
		return int(ae), true
	}
	var op *net.OpError
	if !errors.As(err, &op) || op.Op != "remote error" || op.Err == nil {
		return 0, false
	}
	v := reflect.ValueOf(op.Err)
	if v.Kind() != reflect.Uint8 || v.Type().PkgPath() != "crypto/tls" {
		return 0, false
	}
	return int(v.Uint()), true
}
