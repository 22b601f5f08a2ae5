package enroll

import (
	"encoding/base64"
	"errors"
	"strings"
	"testing"

	"github.com/wsca/wsca/ca"
)

func TestParseCSRBody(t *testing.T) {
	der := []byte{0x30, 0x03, 0x02, 0x01, 0x01}
	b64 := base64.StdEncoding.EncodeToString(der)
	for _, tc := range []struct {
		name, ct, body string
		err            string
	}{
		{"plain", "application/pkcs10", b64, ""},
		{"with parameters and case", "Application/PKCS10; charset=x", b64, ""},
		{"CRLF lines", "application/pkcs10", b64[:4] + "\r\n" + b64[4:] + "\r\n", ""},
		{"wrong type", "application/octet-stream", b64, "Content-Type"},
		{"no type", "", b64, "Content-Type"},
		{"empty", "application/pkcs10", " \r\n", "empty"},
		{"not base64", "application/pkcs10", "@@@@", "not base64"},
		{"too large", "application/pkcs10", strings.Repeat("A", MaxBody+4), "more than"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseCSRBody(tc.ct, []byte(tc.body))
			if tc.err == "" {
				if err != nil || string(got) != string(der) {
					t.Fatalf("got %x, %v", got, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Fatalf("err %v, want one containing %q", err, tc.err)
			}
			if tc.err == "Content-Type" && !errors.Is(err, ErrContentType) {
				t.Errorf("err %v does not wrap ErrContentType", err)
			}
		})
	}
}

func TestParseToken(t *testing.T) {
	tok := "0123456789abcdef0123456789abcdef"
	basic := func(s string) string { return "Basic " + base64.StdEncoding.EncodeToString([]byte(s)) }
	for hdr, want := range map[string]string{
		"Bearer " + tok:                  tok,
		"bearer  " + tok + " ":           tok,
		basic("device:" + tok):           tok,
		basic(":" + tok):                 tok,
		basic(tok):                       "", // no colon: not Basic
		"Bearer " + strings.ToUpper(tok): "",
		"Bearer " + tok + "0":            "",
		"Bearer ../../etc/passwd":        "",
		"Digest " + tok:                  "",
		"":                               "",
	} {
		if got := ParseToken(hdr); got != want {
			t.Errorf("ParseToken(%q) = %q, want %q", hdr, got, want)
		}
	}
}

// FuzzParseCSRBody feeds arbitrary request bodies and content types through the EST request parsing and
// the CSR check behind it: no panic, and a body is either refused or decoded to a request ParseCSR judges.
func FuzzParseCSRBody(f *testing.F) {
	f.Add("application/pkcs10", []byte("MIIBADCBpwIBADAQMQ4wDAYDVQQDEwVhbGljZQ=="))
	f.Add("application/pkcs10; x=\"", []byte("AAAA"))
	f.Add("", []byte{})
	f.Fuzz(func(t *testing.T, ct string, body []byte) {
		der, err := ParseCSRBody(ct, body)
		if err != nil {
			if der != nil {
				t.Fatal("refused body returned data")
			}
			return
		}
		_, _ = ca.ParseCSR(der)
	})
}

func FuzzParseToken(f *testing.F) {
	f.Add("Bearer 0123456789abcdef0123456789abcdef")
	f.Add("Basic ZGV2aWNlOjAxMjM=")
	f.Fuzz(func(t *testing.T, hdr string) {
		if tok := ParseToken(hdr); tok != "" && validToken(tok) != tok {
			t.Fatalf("ParseToken(%q) = %q, not a token", hdr, tok)
		}
	})
}
