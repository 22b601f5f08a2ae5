package ca

import (
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// shortNames are the RFC 4514 names of the subject attributes wsca prints; others print as their OID.
var shortNames = map[string]string{
	"2.5.4.3":                    "CN",
	"2.5.4.6":                    "C",
	"2.5.4.7":                    "L",
	"2.5.4.8":                    "ST",
	"2.5.4.9":                    "STREET",
	"2.5.4.10":                   "O",
	"2.5.4.11":                   "OU",
	"2.5.4.17":                   "POSTALCODE",
	"2.5.4.5":                    "SERIALNUMBER",
	"1.2.840.113549.1.9.1":       "emailAddress",
	"0.9.2342.19200300.100.1.25": "DC",
	"0.9.2342.19200300.100.1.1":  "UID",
}

// Identity lists the identity in a subject and its alternative names, one attribute per entry: subject
// attributes as "CN=alice", "OU=eng" (RFC 4514 short names, the OID for others), then "email:…",
// "uri:…", "dns:…" and "ip:…". Every value passes through SafeText, so the list can be printed on a
// terminal as is. A parsed subject (with Names) is listed as encoded; a template subject as
// ToRDNSequence would encode it.
func Identity(subject pkix.Name, emails []string, uris []*url.URL, dns []string, ips []net.IP) []string {
	var out []string
	atvs := subject.Names
	if len(atvs) == 0 {
		for _, rdn := range subject.ToRDNSequence() {
			atvs = append(atvs, rdn...)
		}
	}
	for _, a := range atvs {
		out = append(out, attrName(a.Type)+"="+SafeText(fmt.Sprint(a.Value)))
	}
	for _, e := range emails {
		out = append(out, "email:"+SafeText(e))
	}
	for _, u := range uris {
		if u != nil {
			out = append(out, "uri:"+SafeText(u.String()))
		}
	}
	for _, d := range dns {
		out = append(out, "dns:"+SafeText(d))
	}
	for _, ip := range ips {
		out = append(out, "ip:"+ip.String())
	}
	return out
}

// CSRIdentity is Identity for everything csr asks for.
func CSRIdentity(csr *x509.CertificateRequest) []string {
	return Identity(csr.Subject, csr.EmailAddresses, csr.URIs, csr.DNSNames, csr.IPAddresses)
}

// CertIdentity is Identity for what cert certifies.
func CertIdentity(cert *x509.Certificate) []string {
	return Identity(cert.Subject, cert.EmailAddresses, cert.URIs, cert.DNSNames, cert.IPAddresses)
}

// Identity is the identity the certificate Issue makes for r will carry.
func (r LeafRequest) Identity() []string {
	return Identity(r.Subject, r.Emails, r.URIs, r.DNSNames, r.IPs)
}

// Missing returns the entries of want that are not in have, in want's order.
func Missing(want, have []string) []string {
	set := make(map[string]int, len(have))
	for _, h := range have {
		set[h]++
	}
	var out []string
	for _, w := range want {
		if set[w] > 0 {
			set[w]--
			continue
		}
		out = append(out, w)
	}
	return out
}

func attrName(oid asn1.ObjectIdentifier) string {
	if n, ok := shortNames[oid.String()]; ok {
		return n
	}
	return oid.String()
}

// SafeText returns s unchanged when it is valid UTF-8 made of visible characters and ordinary spaces,
// without leading or trailing space; otherwise it returns s quoted with Go escapes (strconv.Quote), so that
// text from a CSR, a CSV row or an imported certificate can never move the cursor, recolour the terminal,
// hide characters or pose as another name when it is printed.
func SafeText(s string) string {
	if s != "" && s == strings.TrimSpace(s) && utf8.ValidString(s) && !strings.ContainsFunc(s, HiddenRune) {
		return s
	}
	return strconv.Quote(s)
}

// HiddenRune reports runes that do not show as themselves: controls, format characters (Unicode Cf: zero
// width space and joiners, bidi overrides, soft hyphen), spaces other than U+0020, and the characters
// that render as nothing although Unicode calls them letters or marks. Callers that refuse names use it,
// so that what they refuse and what SafeText quotes agree.
func HiddenRune(r rune) bool {
	switch {
	case r == ' ':
		return false
	case r == utf8.RuneError, unicode.IsControl(r), unicode.Is(unicode.Cf, r), unicode.IsSpace(r),
		unicode.Is(unicode.Zs, r), unicode.Is(unicode.Co, r), !unicode.IsGraphic(r):
		return true
	case unicode.Is(unicode.Variation_Selector, r), r == 0x034f, // combining grapheme joiner
		r == 0x115f, r == 0x1160, r == 0x3164, r == 0xffa0, // Hangul fillers
		r == 0x2800, // braille pattern blank
		r >= 0x1d173 && r <= 0x1d17a:
		return true
	}
	return false
}

// EscapeControls returns s with every control or format character (C0, C1, DEL, Unicode Cf such as bidi
// overrides) replaced by its Go escape (\x1b, \u202e), and invalid UTF-8 bytes by \xNN; the rest is left
// as is. It is for longer messages that quote untrusted text (a server's subject, a CSR's attribute),
// where quoting the whole message would hurt readability.
func EscapeControls(s string) string {
	if utf8.ValidString(s) && !strings.ContainsFunc(s, escapedRune) {
		return s
	}
	var b strings.Builder
	for i, r := range s {
		switch {
		case r == utf8.RuneError && !validAt(s, i):
			fmt.Fprintf(&b, "\\x%02x", s[i])
		case escapedRune(r):
			q := strconv.QuoteRune(r)
			b.WriteString(q[1 : len(q)-1])
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

func escapedRune(r rune) bool { return unicode.IsControl(r) || unicode.Is(unicode.Cf, r) }

// validAt reports whether s holds a valid encoding (not a stray byte) at i.
func validAt(s string, i int) bool {
	_, size := utf8.DecodeRuneInString(s[i:])
	return size > 1
}
