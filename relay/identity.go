package relay

import (
	"crypto/sha256"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/netip"
	"strings"
	"time"
)

// Identity headers sent to the backend. Each identity maps to one header value and two different identities never
// to the same one (issue 11 §3): the encodings escape everything Go's header writer would trim or rewrite (leading
// and trailing spaces, control characters) and everything a backend could read as a separator.
const (
	HeaderSubject     = "X-Client-Cert-Subject"     // RFC 4514 subject of the client certificate (see encodeDN)
	HeaderIssuer      = "X-Client-Cert-Issuer"      // RFC 4514 issuer of the client certificate (see encodeDN)
	HeaderCN          = "X-Client-Cert-Cn"          // subject common name, percent-encoded (see encodeCN)
	HeaderSerial      = "X-Client-Cert-Serial"      // serial number, lower-case hex
	HeaderFingerprint = "X-Client-Cert-Fingerprint" // SHA-256 of the DER certificate, lower-case hex
	HeaderNotAfter    = "X-Client-Cert-Not-After"   // RFC 3339, UTC
	HeaderVerify      = "X-Client-Verify"           // SUCCESS or NONE, like nginx $ssl_client_verify
	HeaderClientCert  = "Client-Cert"               // RFC 9440 §2.2: :base64(DER):
	HeaderCertChain   = "Client-Cert-Chain"         // RFC 9440 §2.3: the CA certificates of the verified chain
)

// setIdentity removes every header the relay owns and every header strip matches from h, then sets the relay's
// own: identity from p (X-Client-Verify NONE without a certificate) and X-Forwarded-For/-Proto/-Host. The relay is
// the edge: client-sent forwarding headers are not trusted, so they are replaced rather than appended to.
func setIdentity(h http.Header, p *peer, remote netip.Addr, host string, strip headerStripper) {
	for k := range h {
		if strip.match(k) {
			delete(h, k)
		}
	}
	h.Set("X-Forwarded-For", remote.String())
	h.Set("X-Forwarded-Proto", "https")
	if host != "" {
		h.Set("X-Forwarded-Host", host)
	}
	if p == nil {
		h.Set(HeaderVerify, "NONE")
		return
	}
	leaf := p.leaf()
	sum := sha256.Sum256(leaf.Raw)
	h.Set(HeaderVerify, "SUCCESS")
	h.Set(HeaderSubject, encodeDN(leaf.RawSubject))
	h.Set(HeaderIssuer, encodeDN(leaf.RawIssuer))
	h.Set(HeaderCN, encodeCN(leaf.Subject.CommonName))
	h.Set(HeaderSerial, leaf.SerialNumber.Text(16))
	h.Set(HeaderFingerprint, hex.EncodeToString(sum[:]))
	h.Set(HeaderNotAfter, leaf.NotAfter.UTC().Format(time.RFC3339))
	h.Set(HeaderClientCert, ":"+base64.StdEncoding.EncodeToString(leaf.Raw)+":")
	// RFC 9440 §2.3: the chain used to validate the leaf, leaf excluded; the trust anchor is omitted since the
	// backend trusts the relay, not the root.
	if ch := p.chains[0]; len(ch) > 2 {
		parts := make([]string, 0, len(ch)-2)
		for _, c := range ch[1 : len(ch)-1] {
			parts = append(parts, ":"+base64.StdEncoding.EncodeToString(c.Raw)+":")
		}
		h.Set(HeaderCertChain, strings.Join(parts, ", "))
	}
}

// encodeCN percent-encodes (upper-case hex, per UTF-8 byte) '%' itself, control characters, bytes outside ASCII,
// the separators '"', ',' and ';', and a leading or trailing space. Any two different common names give different
// values, and none is changed by a header writer's trimming: "alice", " alice" and "alice " are "alice", "%20alice"
// and "alice%20". Inner spaces stay as they are, so "Jane Doe" reads as before.
func encodeCN(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		edge := c == ' ' && (i == 0 || i == len(s)-1)
		if c < 0x20 || c >= 0x7f || c == '%' || c == '"' || c == ',' || c == ';' || edge {
			fmt.Fprintf(&b, "%%%02X", c)
		} else {
			b.WriteByte(c)
		}
	}
	return b.String()
}

// rfc4514Names are the attribute type short names of RFC 4514 §3; other types are written as dotted OIDs with a
// hex-encoded BER value (§2.4).
var rfc4514Names = map[string]string{
	"2.5.4.3": "CN", "2.5.4.7": "L", "2.5.4.8": "ST", "2.5.4.10": "O", "2.5.4.11": "OU", "2.5.4.6": "C",
	"2.5.4.9": "STREET", "0.9.2342.19200300.100.1.25": "DC", "0.9.2342.19200300.100.1.1": "UID",
}

// encodeDN writes a DER-encoded distinguished name as an RFC 4514 string, from its own RDN sequence (so the order of
// attributes and multi-valued RDNs are kept: two different names never give the same string, which Go's
// pkix.Name.String, rebuilt from parsed fields, does not promise). Values are escaped with RFC 4514's backslash
// rules, and with \XX hex pairs for a leading or trailing space, control characters and every byte outside ASCII,
// so the header is plain printable ASCII that no header writer trims. A name that does not parse is written as
// "#" and the hex of its DER.
func encodeDN(der []byte) string {
	var rdns pkix.RDNSequence
	if rest, err := asn1.Unmarshal(der, &rdns); err != nil || len(rest) > 0 {
		return "#" + hex.EncodeToString(der)
	}
	var b strings.Builder
	for i := len(rdns) - 1; i >= 0; i-- {
		if i != len(rdns)-1 {
			b.WriteByte(',')
		}
		for j, atv := range rdns[i] {
			if j > 0 {
				b.WriteByte('+')
			}
			writeATV(&b, atv)
		}
	}
	return b.String()
}

func writeATV(b *strings.Builder, atv pkix.AttributeTypeAndValue) {
	oid := atv.Type.String()
	name, known := rfc4514Names[oid]
	s, isString := atv.Value.(string)
	if !known || !isString {
		der, err := asn1.Marshal(atv.Value)
		if err != nil {
			der = []byte(fmt.Sprint(atv.Value))
		}
		b.WriteString(oid + "=#" + hex.EncodeToString(der))
		return
	}
	b.WriteString(name)
	b.WriteByte('=')
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c < 0x20 || c >= 0x7f, c == ' ' && (i == 0 || i == len(s)-1):
			fmt.Fprintf(b, "\\%02X", c)
		case c == '"' || c == '+' || c == ',' || c == ';' || c == '<' || c == '>' || c == '\\',
			c == '#' && i == 0:
			b.WriteByte('\\')
			b.WriteByte(c)
		default:
			b.WriteByte(c)
		}
	}
}
