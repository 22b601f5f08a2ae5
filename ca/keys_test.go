package ca

import (
	"bytes"
	"crypto"
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/asn1"
	"encoding/pem"
	"errors"
	"strings"
	"testing"

	"github.com/youmark/pkcs8"
)

func TestEncryptParseKeyRoundTrip(t *testing.T) {
	pass := []byte("correct horse battery staple")
	for _, kt := range KeyTypes() {
		if kt == KeyRSA4096 || kt == KeyRSA3072 {
			continue // same code path as rsa-2048, slow to generate
		}
		t.Run(string(kt), func(t *testing.T) {
			key := mustKey(t, kt)
			enc, err := EncryptKey(rand.Reader, key, pass)
			if err != nil {
				t.Fatal(err)
			}
			block, _ := pem.Decode(enc)
			if block == nil || block.Type != "ENCRYPTED PRIVATE KEY" {
				t.Fatalf("EncryptKey output is not an ENCRYPTED PRIVATE KEY PEM:\n%s", enc)
			}
			checkPBES2Params(t, block.Bytes)
			got, err := ParseKey(enc, pass)
			if err != nil {
				t.Fatal(err)
			}
			if !publicKeyEqual(got.Public(), key.Public()) {
				t.Error("decrypted key differs")
			}
			if _, err := ParseKey(enc, nil); !errors.Is(err, ErrPassphraseRequired) {
				t.Errorf("no passphrase: %v, want ErrPassphraseRequired", err)
			}
			if _, err := ParseKey(enc, []byte("wrong")); !errors.Is(err, ErrWrongPassphrase) {
				t.Errorf("wrong passphrase: %v, want ErrWrongPassphrase", err)
			}

			plain, err := MarshalKey(key)
			if err != nil || !bytes.HasPrefix(plain, []byte("-----BEGIN PRIVATE KEY-----\n")) {
				t.Fatalf("MarshalKey: %v\n%s", err, plain)
			}
			// The passphrase is ignored for unencrypted keys.
			if got, err := ParseKey(plain, pass); err != nil || !publicKeyEqual(got.Public(), key.Public()) {
				t.Errorf("ParseKey(MarshalKey): %v", err)
			}
		})
	}
}

// checkPBES2Params asserts the algorithms and iteration count of an
// EncryptedPrivateKeyInfo written by EncryptKey.
func checkPBES2Params(t *testing.T, der []byte) {
	t.Helper()
	var epki encryptedPrivateKeyInfo
	var params pbes2Params
	var kdf pbkdf2Params
	if err := unmarshalStrict(der, &epki); err != nil {
		t.Fatal(err)
	}
	if err := unmarshalStrict(epki.Algorithm.Parameters.FullBytes, &params); err != nil {
		t.Fatal(err)
	}
	if err := unmarshalStrict(params.KDF.Parameters.FullBytes, &kdf); err != nil {
		t.Fatal(err)
	}
	if !epki.Algorithm.Algorithm.Equal(oidPBES2) || !params.KDF.Algorithm.Equal(oidPBKDF2) ||
		!params.Scheme.Algorithm.Equal(oidAES256CBC) || !kdf.PRF.Algorithm.Equal(oidHMACSHA256) ||
		kdf.Iterations != KDFIterations || len(kdf.Salt) != 16 {
		t.Errorf("unexpected parameters: scheme %v kdf %v cipher %v prf %v iter %d salt %d",
			epki.Algorithm.Algorithm, params.KDF.Algorithm, params.Scheme.Algorithm, kdf.PRF.Algorithm, kdf.Iterations, len(kdf.Salt))
	}
}

// lowIterKey returns key encrypted (by youmark/pkcs8) with a single PBKDF2
// iteration, so that tests and fuzzing with it stay fast.
func lowIterKey(t testing.TB, key crypto.Signer, pass []byte) []byte {
	t.Helper()
	der, err := pkcs8.MarshalPrivateKey(key, pass, &pkcs8.Opts{
		Cipher:  pkcs8.AES128CBC,
		KDFOpts: pkcs8.PBKDF2Opts{SaltSize: 8, IterationCount: 1, HMACHash: crypto.SHA1},
	})
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "ENCRYPTED PRIVATE KEY", Bytes: der})
}

// tamperEncrypted re-encodes an ENCRYPTED PRIVATE KEY after edit.
func tamperEncrypted(t *testing.T, pemData []byte, edit func(*encryptedPrivateKeyInfo, *pbes2Params, *pbkdf2Params)) []byte {
	t.Helper()
	block, _ := pem.Decode(pemData)
	var epki encryptedPrivateKeyInfo
	var params pbes2Params
	var kdf pbkdf2Params
	if err := unmarshalStrict(block.Bytes, &epki); err != nil {
		t.Fatal(err)
	}
	if err := unmarshalStrict(epki.Algorithm.Parameters.FullBytes, &params); err != nil {
		t.Fatal(err)
	}
	if err := unmarshalStrict(params.KDF.Parameters.FullBytes, &kdf); err != nil {
		t.Fatal(err)
	}
	edit(&epki, &params, &kdf)
	var err error
	if params.KDF.Parameters.FullBytes, err = asn1.Marshal(kdf); err != nil {
		t.Fatal(err)
	}
	if epki.Algorithm.Parameters.FullBytes, err = asn1.Marshal(params); err != nil {
		t.Fatal(err)
	}
	der, err := asn1.Marshal(epki)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "ENCRYPTED PRIVATE KEY", Bytes: der})
}

func TestParseKeyFormats(t *testing.T) {
	ec := mustKey(t, KeyECDSAP256).(*ecdsa.PrivateKey)
	rk := mustKey(t, KeyRSA2048).(*rsa.PrivateKey)
	sec1, err := x509.MarshalECPrivateKey(ec)
	if err != nil {
		t.Fatal(err)
	}
	pass := []byte("pw")
	low := lowIterKey(t, ec, pass)
	tests := []struct {
		name string
		data []byte
		pub  crypto.PublicKey
	}{
		{"EC PRIVATE KEY", pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: sec1}), ec.Public()},
		{"RSA PRIVATE KEY", pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(rk)}), rk.Public()},
		{"PBES2 sha1/aes128 from youmark", low, ec.Public()},
		{"surrounding whitespace", append(append([]byte("\n  \r\n"), low...), "\n\n"...), ec.Public()},
	}
	for _, tt := range tests {
		got, err := ParseKey(tt.data, pass)
		if err != nil {
			t.Errorf("%s: %v", tt.name, err)
			continue
		}
		if !publicKeyEqual(got.Public(), tt.pub) {
			t.Errorf("%s: wrong key", tt.name)
		}
	}
}

func TestParseKeyMalformed(t *testing.T) {
	ec := mustKey(t, KeyECDSAP256)
	pass := []byte("pw")
	plain, _ := MarshalKey(ec)
	low := lowIterKey(t, ec, pass)
	x, err := ecdh.X25519().GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	xder, err := x509.MarshalPKCS8PrivateKey(x)
	if err != nil {
		t.Fatal(err)
	}
	rsa1024, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	weak, _ := MarshalKey(rsa1024)

	tests := []struct {
		name string
		data []byte
		is   error
		msg  string
	}{
		{"empty", nil, ErrMalformedKey, "empty"},
		{"garbage", []byte("hello world"), ErrMalformedKey, "no PEM block"},
		{"leading text", append([]byte("Bag Attributes\n"), plain...), ErrMalformedKey, "no PEM block"},
		{"certificate", pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: []byte{1}}), ErrMalformedKey, `"CERTIFICATE"`},
		{"two keys", append(append([]byte{}, plain...), plain...), ErrMalformedKey, "more than one PEM block"},
		{"trailing garbage", append(append([]byte{}, plain...), "xx"...), ErrMalformedKey, "trailing data"},
		{"bad PKCS8", pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: []byte{0x30, 0}}), ErrMalformedKey, ""},
		{"legacy PEM encryption", pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Headers: map[string]string{"Proc-Type": "4,ENCRYPTED", "DEK-Info": "AES-256-CBC,00"}, Bytes: []byte{1}}), ErrMalformedKey, "legacy encrypted PEM: incorrect IV size"},
		{"X25519", pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: xder}), ErrMalformedKey, "cannot sign"},
		{"RSA-1024", weak, ErrWeakKey, "1024 bits"},
		{"encrypted not DER", pem.EncodeToMemory(&pem.Block{Type: "ENCRYPTED PRIVATE KEY", Bytes: []byte("x")}), ErrMalformedKey, "EncryptedPrivateKeyInfo"},
		// youmark/pkcs8 (and crypto/cipher) would panic on these two.
		{"partial block", tamperEncrypted(t, low, func(e *encryptedPrivateKeyInfo, _ *pbes2Params, _ *pbkdf2Params) { e.Data = e.Data[:len(e.Data)-1] }), ErrMalformedKey, "block size"},
		{"short IV", tamperEncrypted(t, low, func(_ *encryptedPrivateKeyInfo, p *pbes2Params, _ *pbkdf2Params) {
			p.Scheme.Parameters.FullBytes, _ = asn1.Marshal([]byte{1, 2, 3})
		}), ErrMalformedKey, "IV"},
		{"huge iteration count", tamperEncrypted(t, low, func(_ *encryptedPrivateKeyInfo, _ *pbes2Params, k *pbkdf2Params) { k.Iterations = 1 << 30 }), ErrMalformedKey, "iteration count"},
		{"unknown PRF", tamperEncrypted(t, low, func(_ *encryptedPrivateKeyInfo, _ *pbes2Params, k *pbkdf2Params) {
			k.PRF.Algorithm = asn1.ObjectIdentifier{1, 2, 3}
		}), ErrMalformedKey, "PRF"},
		{"unknown cipher", tamperEncrypted(t, low, func(_ *encryptedPrivateKeyInfo, p *pbes2Params, _ *pbkdf2Params) {
			p.Scheme.Algorithm = asn1.ObjectIdentifier{1, 2, 3}
		}), ErrMalformedKey, "cipher"},
		{"flipped ciphertext", tamperEncrypted(t, low, func(e *encryptedPrivateKeyInfo, _ *pbes2Params, _ *pbkdf2Params) { e.Data[len(e.Data)-1] ^= 0x55 }), ErrWrongPassphrase, ""},
	}
	for _, tt := range tests {
		_, err := ParseKey(tt.data, pass)
		if !errors.Is(err, tt.is) {
			t.Errorf("%s: got %v, want %v", tt.name, err, tt.is)
			continue
		}
		if !strings.Contains(err.Error(), tt.msg) {
			t.Errorf("%s: error %q does not mention %q", tt.name, err, tt.msg)
		}
	}
}

func TestEncryptKeyErrors(t *testing.T) {
	key := mustKey(t, KeyEd25519)
	if _, err := EncryptKey(rand.Reader, key, nil); !errors.Is(err, ErrPassphraseRequired) {
		t.Errorf("empty passphrase: %v", err)
	}
	if _, err := EncryptKey(rand.Reader, nil, []byte("x")); err == nil {
		t.Error("nil key accepted")
	}
	if _, err := MarshalKey(nil); err == nil {
		t.Error("MarshalKey(nil) succeeded")
	}
}

func TestCheckKeyMatches(t *testing.T) {
	h := newTestHierarchy(t, KeyECDSAP256, testNow)
	if err := CheckKeyMatches(h.Root.Key, h.Root.Cert); err != nil {
		t.Errorf("matching key: %v", err)
	}
	err := CheckKeyMatches(h.Intermediate.Key, h.Root.Cert)
	if !errors.Is(err, ErrKeyMismatch) || !strings.Contains(err.Error(), "Test Corp Root CA") {
		t.Errorf("mismatch: %v", err)
	}
	if err := CheckKeyMatches(mustKey(t, KeyEd25519), h.Root.Cert); !errors.Is(err, ErrKeyMismatch) {
		t.Errorf("other key type: %v", err)
	}
	if err := CheckKeyMatches(nil, h.Root.Cert); err == nil {
		t.Error("nil key accepted")
	}
	if err := CheckKeyMatches(h.Root.Key, nil); err == nil {
		t.Error("nil cert accepted")
	}
}
