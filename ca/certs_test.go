package ca

import (
	"encoding/pem"
	"strings"
	"testing"
)

func TestParseCertificates(t *testing.T) {
	h := newTestHierarchy(t, KeyECDSAP256, testNow)
	chain := EncodeCertificates(h.Intermediate.Cert, nil, h.Root.Cert)
	if strings.Count(string(chain), "-----BEGIN CERTIFICATE-----") != 2 {
		t.Fatalf("EncodeCertificates:\n%s", chain)
	}
	certs, err := ParseCertificates(chain)
	if err != nil {
		t.Fatal(err)
	}
	if len(certs) != 2 || !certs[0].Equal(h.Intermediate.Cert) || !certs[1].Equal(h.Root.Cert) {
		t.Errorf("round trip gave %d certificates in wrong order", len(certs))
	}
	if got, err := ParseCertificates([]byte("\n" + string(chain) + "\n\n")); err != nil || len(got) != 2 {
		t.Errorf("surrounding whitespace: %v", err)
	}

	one := string(EncodeCertificates(h.Root.Cert))
	// OpenSSL's text dump before each block (openssl ca, easy-rsa issued/*.crt) is skipped.
	dump := "Certificate:\n    Data:\n        Version: 3 (0x2)\n        Subject: CN = x\n"
	if got, err := ParseCertificates([]byte(dump + one + "Bag Attributes\r\n    localKeyID: 01\r\n" + one)); err != nil || len(got) != 2 {
		t.Errorf("text before the blocks: %d certificates, %v", len(got), err)
	}
	key, _ := MarshalKey(h.Root.Key)
	tests := []struct {
		name, data, msg string
	}{
		{"empty", "", "no PEM certificate found"},
		{"whitespace", " \n\t", "no PEM certificate found"},
		{"garbage", "hello", "no PEM certificate found"},
		{"key block", string(key), `"PRIVATE KEY"`},
		{"cert then key", one + string(key), `"PRIVATE KEY"`},
		{"trusted certificate", string(pem.EncodeToMemory(&pem.Block{Type: "TRUSTED CERTIFICATE", Bytes: h.Root.Cert.Raw})), `"TRUSTED CERTIFICATE"`},
		{"trailing garbage", one + "garbage", "unexpected non-PEM data"},
		{"text only", "Certificate:\n    Data:\n", "no PEM certificate found"},
		{"text before a key", "Bag Attributes\n" + string(key), `"PRIVATE KEY"`},
		{"text hiding a broken block", "text\n-----BEGIN CERTIFICATE-----\nAAAA\n" + one, "invalid PEM block"},
		{"text after the last block", one + "Certificate:\n", "unexpected non-PEM data"},
		{"broken PEM", "-----BEGIN CERTIFICATE-----\nAAAA", "invalid PEM block"},
		{"bad DER", string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: []byte{0x30, 0x00}})), "certificate 1"},
	}
	for _, tt := range tests {
		_, err := ParseCertificates([]byte(tt.data))
		if err == nil {
			t.Errorf("%s: accepted", tt.name)
			continue
		}
		if !strings.Contains(err.Error(), tt.msg) {
			t.Errorf("%s: error %q does not mention %q", tt.name, err, tt.msg)
		}
	}
}
