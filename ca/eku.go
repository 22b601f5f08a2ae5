package ca

import (
	"crypto/x509"
	"slices"
)

// HasServerAuth reports whether c lists the serverAuth extended key usage explicitly: wsca's one judgement of "a
// server certificate" (wsca config, the CSV import's kinds, renewals, wsca verify). anyExtendedKeyUsage and an
// absent extension do not count: x509.Verify (like OpenSSL) accepts both as "any purpose", which is not what a
// certificate made for a purpose says. (relay keeps its own copy of this check, and doctor deliberately
// judges as TLS clients do, counting both: see doctor's hasServerAuth.)
func HasServerAuth(c *x509.Certificate) bool {
	return slices.Contains(c.ExtKeyUsage, x509.ExtKeyUsageServerAuth)
}

// HasClientAuth reports whether c lists the clientAuth extended key usage explicitly, by the same rule as
// HasServerAuth.
func HasClientAuth(c *x509.Certificate) bool {
	return slices.Contains(c.ExtKeyUsage, x509.ExtKeyUsageClientAuth)
}
