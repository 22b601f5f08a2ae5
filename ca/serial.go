package ca

import (
	"math/big"
	"strings"
)

// How wsca writes a certificate serial number. ca mints the serials (Issue's 128-bit random serial), so it owns
// how they are written; every other package calls these instead of formatting a serial itself. The variants
// differ on purpose — each is what its readers have seen since it was introduced — and must stay byte-identical.

// SerialHex is the stable, machine form: lowercase hex without leading zeros, "" for nil. The database, the
// audit log, --json output and error messages use it, and every command accepts it.
func SerialHex(n *big.Int) string {
	if n == nil {
		return ""
	}
	return n.Text(16)
}

// SerialText is the form for people: SerialHex with the leading zero of an even number of digits that Apache
// (SSL_CLIENT_M_SERIAL) and openssl x509 -serial print, so the same certificate reads the same in wsca and in
// their logs. wsca list, show, issue, sign, init and revoke print it; the JSON keeps SerialHex.
func SerialText(n *big.Int) string {
	h := SerialHex(n)
	if len(h)%2 == 1 {
		return "0" + h
	}
	return h
}

// SerialUpper is the form an OpenSSL CA's index.txt and newcerts/ file names use, without their padding:
// upper-case hex without leading zeros. wsca import names the serials of the CA it reads this way.
func SerialUpper(n *big.Int) string { return strings.ToUpper(SerialHex(n)) }
