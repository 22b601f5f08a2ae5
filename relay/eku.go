package relay

import (
	"crypto/x509"
	"errors"
	"fmt"
	"slices"
)

// ErrServerCertEKU is wrapped by the error New (and Reload) returns when the server certificate does not carry the
// serverAuth extended key usage: browsers and strict TLS clients refuse such a certificate, so the relay refuses to
// start with it rather than let every client fail at the handshake.
var ErrServerCertEKU = errors.New("server certificate lacks the serverAuth extended key usage")

// hasEKU reports whether c lists want explicitly. anyExtendedKeyUsage and an absent extension do not count: x509's
// Verify (like OpenSSL) accepts both as "any purpose", which is not what a certificate made for a purpose says.
func hasEKU(c *x509.Certificate, want x509.ExtKeyUsage) bool {
	return slices.Contains(c.ExtKeyUsage, want)
}

// checkServerEKU refuses a server certificate without serverAuth (issue 9 §4).
func checkServerEKU(leaf *x509.Certificate, file string) error {
	if hasEKU(leaf, x509.ExtKeyUsageServerAuth) {
		return nil
	}
	return fmt.Errorf("%s (%q has %s): %w", file, leaf.Subject.CommonName, ekuNames(leaf), ErrServerCertEKU)
}

// checkClientEKU refuses a client leaf whose EKU does not name clientAuth explicitly, unless allow_legacy_eku is set
// (certificates from an imported CA that never set the extension); the caller logs each such admission.
func (m *material) checkClientEKU(leaf *x509.Certificate) error {
	if hasEKU(leaf, x509.ExtKeyUsageClientAuth) || m.cfg.AllowLegacyEKU {
		return nil
	}
	return fmt.Errorf("the certificate does not list the clientAuth extended key usage (it has %s; "+
		"allow_legacy_eku admits such certificates)", ekuNames(leaf))
}

// ekuNames describes a certificate's extended key usages for an error message.
func ekuNames(c *x509.Certificate) string {
	if len(c.ExtKeyUsage) == 0 && len(c.UnknownExtKeyUsage) == 0 {
		return "no extended key usage"
	}
	names := map[x509.ExtKeyUsage]string{x509.ExtKeyUsageAny: "anyExtendedKeyUsage",
		x509.ExtKeyUsageServerAuth: "serverAuth", x509.ExtKeyUsageClientAuth: "clientAuth",
		x509.ExtKeyUsageCodeSigning: "codeSigning", x509.ExtKeyUsageEmailProtection: "emailProtection",
		x509.ExtKeyUsageTimeStamping: "timeStamping", x509.ExtKeyUsageOCSPSigning: "OCSPSigning"}
	var out []string
	for _, u := range c.ExtKeyUsage {
		n, ok := names[u]
		if !ok {
			n = fmt.Sprintf("EKU %d", u)
		}
		out = append(out, n)
	}
	for _, oid := range c.UnknownExtKeyUsage {
		out = append(out, oid.String())
	}
	return "extended key usage " + fmt.Sprint(out)
}

// noteLegacyEKU logs the admission of a client certificate without an explicit clientAuth (possible only with
// allow_legacy_eku): the operator who opted in sees who still depends on it.
func (s *Server) noteLegacyEKU(tc *trackedConn, leaf *x509.Certificate) {
	if hasEKU(leaf, x509.ExtKeyUsageClientAuth) {
		return
	}
	s.log.Warn("client admitted under allow_legacy_eku", "remote", tc.RemoteAddr().String(),
		"cn", leaf.Subject.CommonName, "serial", serialHex(leaf), "eku", ekuNames(leaf))
}
