package ca

import (
	"bytes"
	"crypto"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"regexp"
	"strings"
	"testing"
	"time"
	"unicode/utf16"

	pkcs12 "software.sslmate.com/src/go-pkcs12"
)

func TestEncodePKCS12(t *testing.T) {
	for _, kt := range []KeyType{KeyECDSAP256, KeyRSA2048, KeyEd25519} {
		h := newTestHierarchy(t, kt, testNow)
		key := mustKey(t, kt)
		leaf, err := Issue(rand.Reader, testNow, h.Intermediate, LeafRequest{Subject: pkix.Name{CommonName: "alice"}, Validity: time.Hour, PublicKey: key.Public()})
		if err != nil {
			t.Fatal(err)
		}
		for _, format := range []P12Format{P12Legacy, P12Modern, ""} {
			for _, name := range []string{"Alice – laptop", ""} {
				pfx, err := EncodePKCS12(rand.Reader, key, leaf, []*x509.Certificate{h.Intermediate.Cert, h.Root.Cert}, name, "s3cret", format)
				if err != nil {
					t.Fatalf("%s/%s: %v", kt, format, err)
				}
				// DecodeChain verifies the recomputed MAC.
				gotKey, gotLeaf, gotCA, err := pkcs12.DecodeChain(pfx, "s3cret")
				if err != nil {
					t.Fatalf("%s/%s: DecodeChain: %v", kt, format, err)
				}
				if !gotLeaf.Equal(leaf) || len(gotCA) != 2 || !gotCA[0].Equal(h.Intermediate.Cert) || !publicKeyEqual(key.Public(), publicOf(gotKey)) {
					t.Errorf("%s/%s: bundle content differs", kt, format)
				}
				if _, _, _, err := pkcs12.DecodeChain(pfx, "wrong"); !errors.Is(err, pkcs12.ErrIncorrectPassword) {
					t.Errorf("%s/%s: wrong password: %v", kt, format, err)
				}
				want := name
				if want == "" {
					want = "alice"
				}
				found := keyBagFriendlyName(t, pfx) == want
				if got := certBagFriendlyNames(t, pfx, "s3cret"); len(got) != 3 || got[0] != want || got[1] != "" || got[2] != "" {
					t.Errorf("%s/%s: certificate bag friendly names = %q, want [%q \"\" \"\"]", kt, format, got, want)
				}
				if !found {
					t.Errorf("%s/%s: key bag friendlyName = %q, want %q", kt, format, keyBagFriendlyName(t, pfx), want)
				}
			}
		}
		// Error cases.
		if _, err := EncodePKCS12(rand.Reader, h.Root.Key, leaf, nil, "", "pw", P12Legacy); !errors.Is(err, ErrKeyMismatch) {
			t.Errorf("mismatched key: %v", err)
		}
	}
	h := newTestHierarchy(t, KeyECDSAP256, testNow)
	for name, tc := range map[string]struct {
		friendly, password string
		format             P12Format
	}{
		"empty password": {"a", "", P12Legacy},
		"bad format":     {"a", "pw", "pkcs12-rc2"},
		"non-BMP name":   {"🔑", "pw", P12Legacy},
		"control name":   {"a\nb", "pw", P12Legacy},
	} {
		if _, err := EncodePKCS12(rand.Reader, h.Root.Key, h.Root.Cert, nil, tc.friendly, tc.password, tc.format); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if _, err := EncodePKCS12(rand.Reader, h.Root.Key, nil, nil, "a", "pw", P12Legacy); err == nil {
		t.Error("nil leaf accepted")
	}
}

func TestParseP12Format(t *testing.T) {
	for in, want := range map[string]P12Format{"": P12Legacy, "legacy": P12Legacy, "Modern": P12Modern} {
		if got, err := ParseP12Format(in); err != nil || got != want {
			t.Errorf("ParseP12Format(%q) = %q, %v", in, got, err)
		}
	}
	if _, err := ParseP12Format("rc2"); err == nil || !strings.Contains(err.Error(), "legacy, modern") {
		t.Errorf("ParseP12Format(rc2) = %v", err)
	}
}

func TestGeneratePassword(t *testing.T) {
	re := regexp.MustCompile(`^[a-z2-7]{4}(-[a-z2-7]{4}){6}$`)
	seen := map[string]bool{}
	for range 50 {
		p, err := GeneratePassword(rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		if !re.MatchString(p) {
			t.Fatalf("password %q has the wrong shape", p)
		}
		if seen[p] {
			t.Fatalf("duplicate password %q", p)
		}
		seen[p] = true
	}
	// Different inputs give different passwords: all 140 bits are used.
	a, _ := GeneratePassword(bytes.NewReader(make([]byte, 18)))
	b, _ := GeneratePassword(bytes.NewReader(append(make([]byte, 17), 0x40)))
	if a == b {
		t.Errorf("last used bit ignored: %q", a)
	}
	if _, err := GeneratePassword(bytes.NewReader(nil)); err == nil {
		t.Error("failing reader accepted")
	}
}

// TestPKCS12MACKey checks the RFC 7292 B.2 derivation against go-pkcs12's
// own MAC verification with a non-trivial iteration count.
func TestPKCS12MACKey(t *testing.T) {
	h := newTestHierarchy(t, KeyECDSAP256, testNow)
	pfx, err := pkcs12.Modern2023.WithIterations(1000).Encode(h.Root.Key, h.Root.Cert, nil, "pässwörd")
	if err != nil {
		t.Fatal(err)
	}
	name, _ := bmpString("root", false)
	out, err := addFriendlyName(pfx, name, "pässwörd")
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := pkcs12.Decode(out, "pässwörd"); err != nil {
		t.Errorf("MAC with 1000 iterations and non-ASCII password: %v", err)
	}
}

func publicOf(k any) crypto.PublicKey {
	if s, ok := k.(crypto.Signer); ok {
		return s.Public()
	}
	return nil
}

// keyBagFriendlyName returns the friendlyName attribute of the key bag.
func keyBagFriendlyName(t *testing.T, pfxDER []byte) string {
	t.Helper()
	var pfx pfxPDU
	var authSafe, keySafe []byte
	var safes []p12ContentInfo
	var bags []p12SafeBag
	for _, step := range []func() error{
		func() error { return unmarshalStrict(pfxDER, &pfx) },
		func() error { return unmarshalStrict(pfx.AuthSafe.Content.Bytes, &authSafe) },
		func() error { return unmarshalStrict(authSafe, &safes) },
		func() error { return unmarshalStrict(safes[1].Content.Bytes, &keySafe) },
		func() error { return unmarshalStrict(keySafe, &bags) },
	} {
		if err := step(); err != nil {
			t.Fatal(err)
		}
	}
	return bagFriendlyName(t, bags[0])
}

// certBagFriendlyNames returns the friendlyName of every certificate bag.
func certBagFriendlyNames(t *testing.T, pfxDER []byte, password string) []string {
	t.Helper()
	var pfx pfxPDU
	var authSafe []byte
	var safes []p12ContentInfo
	for _, step := range []func() error{
		func() error { return unmarshalStrict(pfxDER, &pfx) },
		func() error { return unmarshalStrict(pfx.AuthSafe.Content.Bytes, &authSafe) },
		func() error { return unmarshalStrict(authSafe, &safes) },
	} {
		if err := step(); err != nil {
			t.Fatal(err)
		}
	}
	var names []string
	_, err := editCertBags(safes[0].Content, password, func(bags []p12SafeBag) error {
		for _, b := range bags {
			names = append(names, bagFriendlyName(t, b))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return names
}

func bagFriendlyName(t *testing.T, bag p12SafeBag) string {
	t.Helper()
	for _, a := range bag.Attributes {
		if !a.ID.Equal(oidFriendlyName) {
			continue
		}
		var v asn1.RawValue
		if err := unmarshalStrict(a.Values.Bytes, &v); err != nil || v.Tag != asn1.TagBMPString || len(v.Bytes)%2 != 0 {
			t.Fatalf("friendlyName value %x: %v", a.Values.Bytes, err)
		}
		u := make([]uint16, len(v.Bytes)/2)
		for i := range u {
			u[i] = uint16(v.Bytes[2*i])<<8 | uint16(v.Bytes[2*i+1])
		}
		return string(utf16.Decode(u))
	}
	return ""
}
