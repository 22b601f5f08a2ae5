package doctor

import (
	"crypto/tls"
	"errors"
	"net"
	"reflect"
	"strconv"
)

// TLS alert codes (RFC 8446 §6, RFC 5246 §7.2) that tell why a server refused a client.
const (
	alertHandshakeFailure       = 40
	alertBadCertificate         = 42
	alertUnsupportedCertificate = 43
	alertCertificateRevoked     = 44
	alertCertificateExpired     = 45
	alertCertificateUnknown     = 46
	alertUnknownCA              = 48
	alertAccessDenied           = 49
	alertCertificateRequired    = 116
)

// alertNames are the RFC spellings, which is what OpenSSL and server logs print.
var alertNames = map[int]string{
	0: "close_notify", 10: "unexpected_message", 20: "bad_record_mac", 22: "record_overflow",
	alertHandshakeFailure: "handshake_failure", alertBadCertificate: "bad_certificate",
	alertUnsupportedCertificate: "unsupported_certificate", alertCertificateRevoked: "certificate_revoked",
	alertCertificateExpired: "certificate_expired", alertCertificateUnknown: "certificate_unknown",
	47: "illegal_parameter", alertUnknownCA: "unknown_ca", alertAccessDenied: "access_denied", 50: "decode_error",
	51: "decrypt_error", 70: "protocol_version", 71: "insufficient_security", 80: "internal_error",
	86: "inappropriate_fallback", 90: "user_canceled", 109: "missing_extension", 110: "unsupported_extension",
	112: "unrecognized_name", alertCertificateRequired: "certificate_required", 120: "no_application_protocol",
}

// alertName returns the RFC name of an alert code, or "alert(N)".
func alertName(code int) string {
	if n, ok := alertNames[code]; ok {
		return n
	}
	return "alert(" + strconv.Itoa(code) + ")"
}

// alertOf extracts the TLS alert the peer sent from an error of crypto/tls. crypto/tls reports a received alert as
// a *net.OpError with Op "remote error" wrapping its unexported alert type (a uint8), so the code is read through
// reflection rather than by matching the message text; tls.AlertError (QUIC) is handled too.
func alertOf(err error) (int, bool) {
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
