package ca

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/pem"
	"errors"
	"net"
	"slices"
	"strings"
	"testing"
	"time"
)

func makeCSR(t testing.TB, key crypto.Signer, tmpl *x509.CertificateRequest) []byte {
	t.Helper()
	der, err := x509.CreateCertificateRequest(rand.Reader, tmpl, key)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

func bcExt(t testing.TB, isCA bool) pkix.Extension {
	t.Helper()
	v, err := asn1.Marshal(struct {
		IsCA bool `asn1:"optional"`
	}{isCA})
	if err != nil {
		t.Fatal(err)
	}
	return pkix.Extension{Id: oidBasicConstraints, Critical: true, Value: v}
}

func TestParseCSR(t *testing.T) {
	key := mustKey(t, KeyECDSAP256)
	tmpl := &x509.CertificateRequest{
		Subject:     pkix.Name{CommonName: "carol", Organization: []string{"Ops"}},
		DNSNames:    []string{"carol.example.com"},
		IPAddresses: []net.IP{net.ParseIP("10.0.0.1")},
		// Requested extensions other than basicConstraints are ignored.
		ExtraExtensions: []pkix.Extension{bcExt(t, false)},
	}
	der := makeCSR(t, key, tmpl)
	pemCSR := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der})

	for name, data := range map[string][]byte{
		"DER":                     der,
		"PEM":                     pemCSR,
		"NEW CERTIFICATE REQUEST": pem.EncodeToMemory(&pem.Block{Type: "NEW CERTIFICATE REQUEST", Bytes: der}),
		"PEM with whitespace":     append(append([]byte("\n\n"), pemCSR...), "\r\n"...),
	} {
		csr, err := ParseCSR(data)
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if csr.Subject.CommonName != "carol" || !publicKeyEqual(key.Public(), csr.PublicKey) {
			t.Errorf("%s: subject %v", name, csr.Subject)
		}
	}

	csr, err := ParseCSR(pemCSR)
	if err != nil {
		t.Fatal(err)
	}
	// Only the common name and the key: the rest of the identity is the CA's decision (issue 9).
	req := LeafRequestFromCSR(csr, KindServer)
	if req.Kind != KindServer || req.Subject.CommonName != "carol" || len(req.Subject.Organization) != 0 ||
		len(req.DNSNames) != 0 || len(req.IPs) != 0 || !publicKeyEqual(req.PublicKey, key.Public()) {
		t.Errorf("LeafRequestFromCSR = %+v", req)
	}
	if got, want := Missing(CSRIdentity(csr), req.Identity()), []string{"O=Ops", "dns:carol.example.com", "ip:10.0.0.1"}; !slices.Equal(got, want) {
		t.Errorf("ignored = %q, want %q", got, want)
	}
	req = WithCSRNames(req, csr)
	if len(req.Subject.Organization) != 1 || len(req.DNSNames) != 1 || len(req.IPs) != 1 {
		t.Errorf("WithCSRNames = %+v", req)
	}
	if c := WithCSRNames(LeafRequestFromCSR(csr, KindClient), csr); len(c.DNSNames) != 0 || len(c.IPs) != 0 {
		t.Errorf("WithCSRNames put server names into a client request: %+v", c)
	}
	h := newTestHierarchy(t, KeyECDSAP256, testNow)
	req.Validity = 24 * time.Hour
	leaf, err := Issue(rand.Reader, testNow, h.Intermediate, req)
	if err != nil {
		t.Fatal(err)
	}
	if leaf.Subject.CommonName != "carol" || leaf.IsCA || len(leaf.ExtKeyUsage) != 1 || leaf.ExtKeyUsage[0] != x509.ExtKeyUsageServerAuth {
		t.Errorf("leaf from CSR: %v CA=%v EKU=%v", leaf.Subject, leaf.IsCA, leaf.ExtKeyUsage)
	}
	if r := LeafRequestFromCSR(nil, KindClient); r.PublicKey != nil {
		t.Error("LeafRequestFromCSR(nil) has a key")
	}
}

func TestParseCSRRejects(t *testing.T) {
	key := mustKey(t, KeyECDSAP256)
	good := makeCSR(t, key, &x509.CertificateRequest{Subject: pkix.Name{CommonName: "eve"}})
	caCSR := makeCSR(t, key, &x509.CertificateRequest{Subject: pkix.Name{CommonName: "eve"}, ExtraExtensions: []pkix.Extension{bcExt(t, true)}})
	rsa1024, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	weak := makeCSR(t, rsa1024, &x509.CertificateRequest{Subject: pkix.Name{CommonName: "eve"}})
	// Flip a bit of the signature (the last byte of the DER).
	badSig := append([]byte{}, good...)
	badSig[len(badSig)-1] ^= 1
	pemGood := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: good})

	tests := []struct {
		name string
		data []byte
		is   error
		msg  string
	}{
		{"CA:TRUE requested", caCSR, ErrCSRRequestsCA, `"eve"`},
		{"RSA-1024", weak, ErrWeakKey, "1024"},
		{"bad signature", badSig, nil, "self-signature"},
		{"empty", []byte(" \n"), nil, "empty"},
		{"garbage", []byte("hello"), nil, "not a PEM or DER"},
		{"DER trailing", append(append([]byte{}, good...), 0), nil, "not a PEM or DER"},
		{"PEM trailing", append(append([]byte{}, pemGood...), "junk"...), nil, "trailing data"},
		{"two PEM blocks", append(append([]byte{}, pemGood...), pemGood...), nil, "more than one PEM block"},
		{"wrong PEM type", pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: good}), nil, `"CERTIFICATE"`},
		{"too large", make([]byte, maxCSRSize+1), nil, "too large"},
	}
	for _, tt := range tests {
		_, err := ParseCSR(tt.data)
		if err == nil {
			t.Errorf("%s: accepted", tt.name)
			continue
		}
		if tt.is != nil && !errors.Is(err, tt.is) {
			t.Errorf("%s: got %v, want %v", tt.name, err, tt.is)
		}
		if !strings.Contains(err.Error(), tt.msg) {
			t.Errorf("%s: error %q does not mention %q", tt.name, err, tt.msg)
		}
	}
}
