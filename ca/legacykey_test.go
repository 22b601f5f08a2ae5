package ca

import (
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
)

// TestParseKeyOpenSSLLegacyEncryption reads CA keys encrypted the way OpenSSL 3 writes them by default for
// -des3 and `req -newkey` (PBES2 with DES-EDE3-CBC, which is also what easy-rsa 3.1 build-ca leaves) and
// in the traditional "Proc-Type: 4,ENCRYPTED" form, with every DEK-Info cipher OpenSSL offers there.
func TestParseKeyOpenSSLLegacyEncryption(t *testing.T) {
	openssl := requireTool(t, "openssl")
	dir := t.TempDir()
	const secret = "hunter2 hunter2"
	pass := writeFile(t, dir, "pass", []byte(secret+"\n"))
	tests := []struct {
		name, wantHead string
		args           []string
	}{
		{"genrsa -des3 (PBES2 3DES)", "ENCRYPTED PRIVATE KEY", []string{"genrsa", "-des3", "-passout", "file:" + pass}},
		{"genrsa -des3 -traditional", "Proc-Type: 4,ENCRYPTED", []string{"genrsa", "-des3", "-traditional", "-passout", "file:" + pass}},
		{"genrsa -aes256 -traditional", "DEK-Info: AES-256-CBC", []string{"genrsa", "-aes256", "-traditional", "-passout", "file:" + pass}},
		{"req -newkey (PBES2 3DES)", "ENCRYPTED PRIVATE KEY", []string{"req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
			"-x509", "-subj", "/CN=Old CA", "-passout", "file:" + pass, "-out", dir + "/req.crt", "-keyout"}},
		{"ec -des3 traditional (SEC 1)", "BEGIN EC PRIVATE KEY", nil},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out := fmt.Sprintf("%s/k%d.pem", dir, i)
			if tt.args == nil {
				plain := fmt.Sprintf("%s/plain%d.pem", dir, i)
				run(t, true, openssl, "ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", plain)
				run(t, true, openssl, "ec", "-in", plain, "-des3", "-passout", "file:"+pass, "-out", out)
			} else if tt.args[0] == "req" {
				run(t, true, openssl, append(tt.args, out)...)
			} else {
				run(t, true, openssl, append(tt.args, "-out", out, "2048")...)
			}
			data, err := os.ReadFile(out)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(string(data), tt.wantHead) {
				t.Fatalf("openssl wrote an unexpected format (want %q):\n%.200s", tt.wantHead, data)
			}
			if strings.Contains(tt.wantHead, "ENCRYPTED PRIVATE KEY") {
				checkScheme(t, data, oidDESEDE3CBC.String())
			}
			key, err := ParseKey(data, []byte(secret))
			if err != nil {
				t.Fatalf("ParseKey: %v", err)
			}
			want, _ := run(t, true, openssl, "pkey", "-in", out, "-passin", "file:"+pass, "-pubout")
			if got := pubPEM(t, key.Public()); got != want {
				t.Errorf("public key %s, openssl says %s", got, want)
			}
			if _, err := ParseKey(data, []byte("wrong passphrase")); !errors.Is(err, ErrWrongPassphrase) {
				t.Errorf("wrong passphrase: %v, want ErrWrongPassphrase", err)
			}
			if _, err := ParseKey(data, nil); !errors.Is(err, ErrPassphraseRequired) {
				t.Errorf("no passphrase: %v, want ErrPassphraseRequired", err)
			}
		})
	}
}

// checkScheme asserts the PBES2 encryption scheme OID of an ENCRYPTED PRIVATE KEY.
func checkScheme(t *testing.T, data []byte, oid string) {
	t.Helper()
	block, _ := pem.Decode(data)
	var epki encryptedPrivateKeyInfo
	var params pbes2Params
	if err := unmarshalStrict(block.Bytes, &epki); err != nil {
		t.Fatal(err)
	}
	if err := unmarshalStrict(epki.Algorithm.Parameters.FullBytes, &params); err != nil {
		t.Fatal(err)
	}
	if params.Scheme.Algorithm.String() != oid {
		t.Fatalf("scheme %s, want %s", params.Scheme.Algorithm, oid)
	}
}

func TestParseKeyLegacyPEMMalformed(t *testing.T) {
	enc := func(headers map[string]string, typ string, body []byte) []byte {
		return pem.EncodeToMemory(&pem.Block{Type: typ, Headers: headers, Bytes: body})
	}
	ok := map[string]string{"Proc-Type": "4,ENCRYPTED", "DEK-Info": "DES-EDE3-CBC,0011223344556677"}
	tests := []struct {
		name string
		data []byte
		want string
	}{
		{"no DEK-Info", enc(map[string]string{"Proc-Type": "4,ENCRYPTED"}, "RSA PRIVATE KEY", make([]byte, 16)), "unexpected PEM headers"},
		{"extra header", enc(map[string]string{"Proc-Type": "4,ENCRYPTED", "DEK-Info": ok["DEK-Info"], "X": "y"}, "RSA PRIVATE KEY", make([]byte, 16)), "unexpected PEM headers"},
		{"unknown cipher", enc(map[string]string{"Proc-Type": "4,ENCRYPTED", "DEK-Info": "RC2-CBC,0011223344556677"}, "RSA PRIVATE KEY", make([]byte, 16)), "unknown encryption mode"},
		{"short IV", enc(map[string]string{"Proc-Type": "4,ENCRYPTED", "DEK-Info": "AES-256-CBC,00"}, "RSA PRIVATE KEY", make([]byte, 16)), "incorrect IV size"},
		{"bad IV hex", enc(map[string]string{"Proc-Type": "4,ENCRYPTED", "DEK-Info": "AES-256-CBC,zz"}, "RSA PRIVATE KEY", make([]byte, 16)), "malformed"},
		{"partial block", enc(ok, "RSA PRIVATE KEY", make([]byte, 13)), "block size"},
		{"empty body", enc(ok, "RSA PRIVATE KEY", nil), "padding"},
		{"other type", enc(ok, "DSA PRIVATE KEY", make([]byte, 16)), `"DSA PRIVATE KEY"`},
	}
	for _, tt := range tests {
		_, err := ParseKey(tt.data, []byte("pw"))
		if !errors.Is(err, ErrMalformedKey) || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: %v, want ErrMalformedKey mentioning %q", tt.name, err, tt.want)
		}
	}
	// Zero bytes decrypt to invalid padding: a wrong passphrase, not a crash.
	if _, err := ParseKey(enc(ok, "RSA PRIVATE KEY", make([]byte, 16)), []byte("pw")); !errors.Is(err, ErrWrongPassphrase) {
		t.Errorf("garbage ciphertext: %v, want ErrWrongPassphrase", err)
	}
}
