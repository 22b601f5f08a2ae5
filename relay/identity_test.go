package relay

import (
	"crypto/x509/pkix"
	"encoding/asn1"
	"strings"
	"testing"
)

// printableHeader reports whether v is printable ASCII without a space at either end: a value no header writer
// trims or rewrites.
func printableHeader(v string) bool {
	for i := 0; i < len(v); i++ {
		if v[i] < 0x20 || v[i] > 0x7e {
			return false
		}
	}
	return strings.TrimSpace(v) == v
}

func TestEncodeDN(t *testing.T) {
	name := func(rdns ...[]pkix.AttributeTypeAndValue) []byte {
		var seq pkix.RDNSequence
		for _, r := range rdns {
			seq = append(seq, pkix.RelativeDistinguishedNameSET(r))
		}
		der, err := asn1.Marshal(seq)
		if err != nil {
			t.Fatal(err)
		}
		return der
	}
	atv := func(oid asn1.ObjectIdentifier, v any) pkix.AttributeTypeAndValue {
		return pkix.AttributeTypeAndValue{Type: oid, Value: v}
	}
	cn, o, ou := asn1.ObjectIdentifier{2, 5, 4, 3}, asn1.ObjectIdentifier{2, 5, 4, 10}, asn1.ObjectIdentifier{2, 5, 4, 11}
	email := asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 1}
	for _, tc := range []struct {
		der  []byte
		want string
	}{
		{name([]pkix.AttributeTypeAndValue{atv(o, "Example")}, []pkix.AttributeTypeAndValue{atv(cn, "alice")}), "CN=alice,O=Example"},
		// Order is the certificate's own: O last is written first.
		{name([]pkix.AttributeTypeAndValue{atv(cn, "alice")}, []pkix.AttributeTypeAndValue{atv(o, "Example")}), "O=Example,CN=alice"},
		{name([]pkix.AttributeTypeAndValue{atv(ou, "a"), atv(ou, "b")}), "OU=a+OU=b"},
		{name([]pkix.AttributeTypeAndValue{atv(cn, " a,b+c ")}), `CN=\20a\,b\+c\20`},
		{name([]pkix.AttributeTypeAndValue{atv(cn, "#x\"<>;\\")}), `CN=\#x\"\<\>\;\\`},
		{name([]pkix.AttributeTypeAndValue{atv(cn, "é\n")}), `CN=\C3\A9\0A`},
		{name([]pkix.AttributeTypeAndValue{atv(email, "a@b")}), "1.2.840.113549.1.9.1=#0c03614062"},
		{[]byte{0x30, 0x03, 0x01}, "#300301"},
	} {
		if got := encodeDN(tc.der); got != tc.want {
			t.Errorf("encodeDN = %q, want %q", got, tc.want)
		}
	}
}

// FuzzEncodeCN checks that the CN encoding is injective and always a header-safe value.
func FuzzEncodeCN(f *testing.F) {
	for _, s := range [][2]string{{"alice", "alice "}, {" alice", "%20alice"}, {"Zoë", "Zo%C3%AB"}, {"a,b", "a%2Cb"}} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, a, b string) {
		ea, eb := encodeCN(a), encodeCN(b)
		if a != b && ea == eb {
			t.Fatalf("encodeCN(%q) == encodeCN(%q) == %q", a, b, ea)
		}
		if !printableHeader(ea) {
			t.Fatalf("encodeCN(%q) = %q is not a header-safe value", a, ea)
		}
	})
}

// FuzzEncodeDN feeds arbitrary bytes and one-attribute names with arbitrary values: no panic, always a
// header-safe value, and two different values give two different strings.
func FuzzEncodeDN(f *testing.F) {
	f.Add([]byte{0x30, 0x00}, "alice", "alice ")
	f.Fuzz(func(t *testing.T, der []byte, a, b string) {
		if got := encodeDN(der); !printableHeader(got) {
			t.Fatalf("encodeDN(%x) = %q", der, got)
		}
		enc := func(v string) (string, bool) {
			d, err := asn1.MarshalWithParams(pkix.RDNSequence{{{Type: asn1.ObjectIdentifier{2, 5, 4, 3},
				Value: v}}}, "")
			if err != nil {
				return "", false
			}
			return encodeDN(d), true
		}
		ea, oka := enc(a)
		eb, okb := enc(b)
		if oka && okb && a != b && ea == eb {
			t.Fatalf("CN=%q and CN=%q both encode to %q", a, b, ea)
		}
		if oka && !printableHeader(ea) {
			t.Fatalf("CN=%q encodes to %q", a, ea)
		}
	})
}

func TestAmbiguousPath(t *testing.T) {
	for p, bad := range map[string]bool{
		"/a/..;/b": true, "/a/..;x=1/b": true, "/a/.;/b": true, "/..;": true, "/a/%2e%2e/b": true, "/a/%41": true,
		"/a/b;c": false, "/a/...;/b": false, "/a/100%": false, "/a/%zz": false, "/a/%2": false, "/a/b": false,
	} {
		if got := ambiguousPath(p) != ""; got != bad {
			t.Errorf("ambiguousPath(%q) refused = %v, want %v", p, got, bad)
		}
	}
}

func TestHeaderStripper(t *testing.T) {
	hs := newHeaderStripper([]string{"X-Auth-*", "X-Api-User"})
	for name, strip := range map[string]bool{
		"X-Client-Cert-Cn": true, "x_client_verify": true, "Client-Cert": true, "X-Forwarded-Client-Cert": true,
		"X-SSL-Client-S-DN": true, "ssl_client_cert": true, "Remote-User": true, "X-Original-URL": true,
		"X-Auth-Token": true, "x-api-user": true, "X-Api-Users": false, "Authorization": false, "X-Request-Id": false,
		"X-Forwarded-For": true, "Forwarded": true, "X-Clientele": false,
	} {
		if got := hs.match(name); got != strip {
			t.Errorf("match(%q) = %v, want %v", name, got, strip)
		}
	}
	for p, ok := range map[string]bool{"X-Auth-*": true, "X-A": true, "*": false, "X A": false, "X-*-Y": false, "": false} {
		if validHeaderPattern(p) != ok {
			t.Errorf("validHeaderPattern(%q) = %v", p, !ok)
		}
	}
}
