package ca

import (
	"bytes"
	"crypto"
	"crypto/aes"
	"crypto/cipher"
	"crypto/des"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/pbkdf2"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/subtle"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/pem"
	"errors"
	"fmt"
	"hash"
	"io"

	"github.com/youmark/pkcs8"
)

// KDFIterations is the PBKDF2-HMAC-SHA256 iteration count EncryptKey uses.
//
// `wsca issue` decrypts the intermediate key on every run and aims at a total
// wall time of at most 50 ms. One derivation at 150,000 iterations costs about
// 20 ms on the 2-core development machine (BenchmarkParseKeyEncrypted), which
// leaves room for the rest of the command while costing an offline guesser
// 150,000 HMAC-SHA256 pairs per guess. That is below OWASP's 600,000 for
// password storage, deliberately: the key file is also protected by file
// mode 0600, and the passphrase's entropy matters far more than the count.
// Keys written with other counts (OpenSSL's default is 2048) still decrypt.
const KDFIterations = 150_000

// maxKDFIterations bounds the iteration count ParseKey accepts, so that a
// hostile key file cannot make a decrypt run for minutes (about 0.7 s here).
const maxKDFIterations = 5_000_000

// EncryptKey returns key as a PEM "ENCRYPTED PRIVATE KEY" block: PKCS#8
// EncryptedPrivateKeyInfo with PBES2 (RFC 8018 6.2), PBKDF2-HMAC-SHA256 with
// KDFIterations iterations and a 16-byte salt, and AES-256-CBC. OpenSSL 3
// reads it (`openssl pkey -in key.pem -passin file:pass`).
//
// The salt and IV come from crypto/rand inside github.com/youmark/pkcs8,
// which takes no reader; rand is accepted for symmetry with the rest of the
// package and must not be nil. An empty passphrase is ErrPassphraseRequired.
func EncryptKey(rand io.Reader, key crypto.Signer, passphrase []byte) ([]byte, error) {
	if rand == nil {
		return nil, errors.New("encrypting private key: no random source")
	}
	if len(passphrase) == 0 {
		return nil, fmt.Errorf("encrypting private key: %w", ErrPassphraseRequired)
	}
	if key == nil {
		return nil, errors.New("encrypting private key: key is nil")
	}
	der, err := pkcs8.MarshalPrivateKey(key, passphrase, &pkcs8.Opts{
		Cipher: pkcs8.AES256CBC,
		KDFOpts: pkcs8.PBKDF2Opts{
			SaltSize:       16, // RFC 8018 4.1: at least 64 bits; NIST SP 800-132: 128 bits
			IterationCount: KDFIterations,
			HMACHash:       crypto.SHA256,
		},
	})
	if err != nil {
		return nil, fmt.Errorf("encrypting private key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "ENCRYPTED PRIVATE KEY", Bytes: der}), nil
}

// MarshalKey returns key as an unencrypted PKCS#8 PEM "PRIVATE KEY" block.
func MarshalKey(key crypto.Signer) ([]byte, error) {
	if key == nil {
		return nil, errors.New("marshaling private key: key is nil")
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("marshaling private key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

// ParseKey reads one PEM private key: "ENCRYPTED PRIVATE KEY" (PKCS#8 PBES2
// with PBKDF2 and AES-CBC, as written by EncryptKey or OpenSSL 3, or
// des-ede3-cbc, as OpenSSL 3 writes for -des3 and `req -newkey`), "PRIVATE
// KEY" (PKCS#8), "EC PRIVATE KEY" (SEC 1) or "RSA PRIVATE KEY" (PKCS#1), the
// last three also in OpenSSL's legacy "Proc-Type: 4,ENCRYPTED" form
// (decrypt-only, for `wsca import`; see legacykey.go).
// Decoding is strict: exactly one PEM block, nothing but whitespace around it.
//
// An encrypted key without a passphrase is ErrPassphraseRequired; a
// passphrase that does not decrypt it is ErrWrongPassphrase. Anything else
// that is not a usable signing key (other block types, other ciphers, X25519
// keys, garbage) is ErrMalformedKey with what was found;
// a key that fails CheckPublicKey is ErrWeakKey. The passphrase is ignored
// for unencrypted keys.
func ParseKey(pemData, passphrase []byte) (crypto.Signer, error) {
	block, err := decodeOnePEM(pemData)
	if err != nil {
		return nil, fmt.Errorf("reading private key: %w: %w", ErrMalformedKey, err)
	}
	var parsed any
	switch {
	case len(block.Headers) > 0:
		plain, err := decryptLegacyPEM(block, passphrase)
		if err != nil {
			return nil, fmt.Errorf("reading private key: %w", err)
		}
		if parsed, err = parsePlainKey(block.Type, plain); err != nil {
			// Valid padding by chance (about 1 in 256 for a wrong key), but no key: a wrong passphrase.
			return nil, fmt.Errorf("reading private key: %w", ErrWrongPassphrase)
		}
	case block.Type == "ENCRYPTED PRIVATE KEY":
		if len(passphrase) == 0 {
			return nil, fmt.Errorf("reading private key: %w", ErrPassphraseRequired)
		}
		plain, err := decryptPKCS8(block.Bytes, passphrase)
		if err != nil {
			return nil, fmt.Errorf("reading private key: %w", err)
		}
		parsed, err = x509.ParsePKCS8PrivateKey(plain)
		if err != nil {
			// The padding happened to be valid (1 in 256 for a wrong key)
			// but the plaintext is not a key: still a wrong passphrase.
			return nil, fmt.Errorf("reading private key: %w", ErrWrongPassphrase)
		}
	case block.Type == "PRIVATE KEY", block.Type == "EC PRIVATE KEY", block.Type == "RSA PRIVATE KEY":
		if parsed, err = parsePlainKey(block.Type, block.Bytes); err != nil {
			return nil, fmt.Errorf("reading private key: %w: %q block: %w", ErrMalformedKey, block.Type, err)
		}
	default:
		return nil, fmt.Errorf("reading private key: %w: found PEM block %q", ErrMalformedKey, block.Type)
	}
	var key crypto.Signer
	switch k := parsed.(type) {
	case *rsa.PrivateKey:
		key = k
	case *ecdsa.PrivateKey:
		key = k
	case ed25519.PrivateKey:
		key = k
	default:
		return nil, fmt.Errorf("reading private key: %w: %T cannot sign certificates", ErrMalformedKey, parsed)
	}
	if err := CheckPublicKey(key.Public()); err != nil {
		return nil, fmt.Errorf("reading private key: %w", err)
	}
	return key, nil
}

// parsePlainKey parses the DER of an unencrypted key block of type typ.
func parsePlainKey(typ string, der []byte) (any, error) {
	switch typ {
	case "PRIVATE KEY":
		return x509.ParsePKCS8PrivateKey(der)
	case "EC PRIVATE KEY":
		return x509.ParseECPrivateKey(der)
	case "RSA PRIVATE KEY":
		return x509.ParsePKCS1PrivateKey(der)
	}
	return nil, fmt.Errorf("found PEM block %q", typ)
}

// CheckKeyMatches returns nil if key is the private key for cert's public
// key, and ErrKeyMismatch (naming the certificate) otherwise.
func CheckKeyMatches(key crypto.Signer, cert *x509.Certificate) error {
	if cert == nil {
		return errors.New("checking key: certificate is nil")
	}
	if key == nil {
		return fmt.Errorf("checking key for %q: key is nil", cert.Subject.CommonName)
	}
	if !publicKeyEqual(key.Public(), cert.PublicKey) {
		return fmt.Errorf("key for %q: %w", cert.Subject.CommonName, ErrKeyMismatch)
	}
	return nil
}

// decodeOnePEM decodes exactly one PEM block with only whitespace around it.
func decodeOnePEM(data []byte) (*pem.Block, error) {
	trimmed := bytes.TrimSpace(data)
	if len(trimmed) == 0 {
		return nil, errors.New("input is empty")
	}
	if !bytes.HasPrefix(trimmed, []byte("-----BEGIN ")) {
		return nil, errors.New("no PEM block found (input does not start with -----BEGIN)")
	}
	block, rest := pem.Decode(trimmed)
	if block == nil {
		return nil, errors.New("invalid PEM encoding")
	}
	if len(bytes.TrimSpace(rest)) != 0 {
		if next, _ := pem.Decode(rest); next != nil {
			return nil, fmt.Errorf("more than one PEM block (found %q after %q)", next.Type, block.Type)
		}
		return nil, fmt.Errorf("trailing data after the %q PEM block", block.Type)
	}
	return block, nil
}

// OIDs for PBES2 (RFC 8018 appendix A and C) and AES (NIST).
var (
	oidPBES2        = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 5, 13}
	oidPBKDF2       = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 5, 12}
	oidHMACWithSHA1 = asn1.ObjectIdentifier{1, 2, 840, 113549, 2, 7}
	oidHMACSHA256   = asn1.ObjectIdentifier{1, 2, 840, 113549, 2, 9}
	oidHMACSHA384   = asn1.ObjectIdentifier{1, 2, 840, 113549, 2, 10}
	oidHMACSHA512   = asn1.ObjectIdentifier{1, 2, 840, 113549, 2, 11}
	oidAES128CBC    = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 1, 2}
	oidAES192CBC    = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 1, 22}
	oidAES256CBC    = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 1, 42}
	oidDESEDE3CBC   = asn1.ObjectIdentifier{1, 2, 840, 113549, 3, 7} // RFC 8018 B.2.2, decrypt-only
)

type encryptedPrivateKeyInfo struct {
	Algorithm pkix.AlgorithmIdentifier
	Data      []byte
}

type pbes2Params struct {
	KDF    pkix.AlgorithmIdentifier
	Scheme pkix.AlgorithmIdentifier
}

type pbkdf2Params struct {
	Salt       []byte
	Iterations int
	KeyLength  int                      `asn1:"optional"`
	PRF        pkix.AlgorithmIdentifier `asn1:"optional"`
}

// decryptPKCS8 decrypts a PKCS#8 EncryptedPrivateKeyInfo (RFC 5958 3) that
// uses PBES2 with PBKDF2 and AES-CBC, and returns the PrivateKeyInfo DER.
//
// github.com/youmark/pkcs8 is used for encryption only: its decryption
// panics on a ciphertext that is not a whole number of blocks or an IV of the
// wrong size (crypto/cipher panics) and does not check the CBC padding, so a
// crafted file could crash wsca and a wrong passphrase is only detected by
// luck. This decoder validates every length and the PKCS#7 padding.
func decryptPKCS8(der, passphrase []byte) ([]byte, error) {
	var epki encryptedPrivateKeyInfo
	if err := unmarshalStrict(der, &epki); err != nil {
		return nil, fmt.Errorf("%w: encrypted key is not PKCS#8 EncryptedPrivateKeyInfo: %w", ErrMalformedKey, err)
	}
	if !epki.Algorithm.Algorithm.Equal(oidPBES2) {
		return nil, fmt.Errorf("%w: encryption scheme %s is not supported (want PBES2; re-encrypt with `openssl pkcs8 -topk8 -v2 aes-256-cbc`)",
			ErrMalformedKey, epki.Algorithm.Algorithm)
	}
	block, iv, err := pbes2Cipher(epki.Algorithm.Parameters.FullBytes, passphrase)
	if err != nil {
		return nil, err
	}
	ct, bs := epki.Data, block.BlockSize()
	if len(ct) == 0 || len(ct)%bs != 0 {
		return nil, fmt.Errorf("%w: encrypted key length %d is not a multiple of the cipher's block size %d", ErrMalformedKey, len(ct), bs)
	}
	plain := make([]byte, len(ct))
	cipher.NewCBCDecrypter(block, iv).CryptBlocks(plain, ct)
	// A wrong passphrase yields random plaintext whose padding is almost
	// always invalid.
	plain, ok := pkcs7Unpad(plain, bs)
	if !ok {
		return nil, ErrWrongPassphrase
	}
	return plain, nil
}

// pkcs7Pad appends RFC 8018 6.1.1 / RFC 5652 6.3 padding for blockSize.
func pkcs7Pad(b []byte, blockSize int) []byte {
	n := blockSize - len(b)%blockSize
	return append(b, bytes.Repeat([]byte{byte(n)}, n)...)
}

// pkcs7Unpad removes and checks the padding added by pkcs7Pad.
func pkcs7Unpad(b []byte, blockSize int) ([]byte, bool) {
	if len(b) == 0 || len(b)%blockSize != 0 {
		return nil, false
	}
	n := int(b[len(b)-1])
	if n < 1 || n > blockSize {
		return nil, false
	}
	if subtle.ConstantTimeCompare(b[len(b)-n:], bytes.Repeat([]byte{byte(n)}, n)) != 1 {
		return nil, false
	}
	return b[:len(b)-n], true
}

// pbes2Cipher parses PBES2-params (RFC 8018 A.4) restricted to PBKDF2 with
// HMAC-SHA-1/256/384/512 and AES-CBC or DES-EDE3-CBC (read only: OpenSSL 3's
// default for -des3 and `req -newkey`, so Debian's easy-rsa 3.1 CA keys),
// derives the key from passphrase and returns the block cipher and IV. Every length is validated so that
// crypto/cipher cannot panic later. Errors wrap ErrMalformedKey.
func pbes2Cipher(paramsDER, passphrase []byte) (cipher.Block, []byte, error) {
	var params pbes2Params
	if err := unmarshalStrict(paramsDER, &params); err != nil {
		return nil, nil, fmt.Errorf("%w: invalid PBES2 parameters: %w", ErrMalformedKey, err)
	}
	if !params.KDF.Algorithm.Equal(oidPBKDF2) {
		return nil, nil, fmt.Errorf("%w: key derivation %s is not supported (want PBKDF2)", ErrMalformedKey, params.KDF.Algorithm)
	}
	var kdf pbkdf2Params
	if err := unmarshalStrict(params.KDF.Parameters.FullBytes, &kdf); err != nil {
		return nil, nil, fmt.Errorf("%w: invalid PBKDF2 parameters: %w", ErrMalformedKey, err)
	}
	if kdf.Iterations < 1 || kdf.Iterations > maxKDFIterations {
		return nil, nil, fmt.Errorf("%w: PBKDF2 iteration count %d outside 1..%d", ErrMalformedKey, kdf.Iterations, maxKDFIterations)
	}
	var prf func() hash.Hash
	switch alg := kdf.PRF.Algorithm; {
	case len(alg) == 0 || alg.Equal(oidHMACWithSHA1): // RFC 8018 A.2: DEFAULT algid-hmacWithSHA1
		prf = sha1.New
	case alg.Equal(oidHMACSHA256):
		prf = sha256.New
	case alg.Equal(oidHMACSHA384):
		prf = sha512.New384
	case alg.Equal(oidHMACSHA512):
		prf = sha512.New
	default:
		return nil, nil, fmt.Errorf("%w: PBKDF2 PRF %s is not supported", ErrMalformedKey, alg)
	}
	keyLen, blockSize, newCipher := 0, aes.BlockSize, aes.NewCipher
	switch alg := params.Scheme.Algorithm; {
	case alg.Equal(oidAES128CBC):
		keyLen = 16
	case alg.Equal(oidAES192CBC):
		keyLen = 24
	case alg.Equal(oidAES256CBC):
		keyLen = 32
	case alg.Equal(oidDESEDE3CBC):
		keyLen, blockSize, newCipher = 24, des.BlockSize, des.NewTripleDESCipher
	default:
		return nil, nil, fmt.Errorf("%w: cipher %s is not supported (want AES-CBC or DES-EDE3-CBC)", ErrMalformedKey, alg)
	}
	if kdf.KeyLength != 0 && kdf.KeyLength != keyLen {
		return nil, nil, fmt.Errorf("%w: PBKDF2 key length %d does not fit the cipher", ErrMalformedKey, kdf.KeyLength)
	}
	var iv []byte
	if err := unmarshalStrict(params.Scheme.Parameters.FullBytes, &iv); err != nil || len(iv) != blockSize {
		return nil, nil, fmt.Errorf("%w: invalid CBC IV (want %d bytes)", ErrMalformedKey, blockSize)
	}
	key, err := pbkdf2.Key(prf, string(passphrase), kdf.Salt, kdf.Iterations, keyLen)
	if err != nil {
		return nil, nil, fmt.Errorf("deriving key encryption key: %w", err)
	}
	block, err := newCipher(key)
	if err != nil {
		return nil, nil, fmt.Errorf("deriving key encryption key: %w", err)
	}
	return block, iv, nil
}

// unmarshalStrict is asn1.Unmarshal that rejects trailing bytes.
func unmarshalStrict(der []byte, v any) error {
	rest, err := asn1.Unmarshal(der, v)
	if err != nil {
		return err
	}
	if len(rest) != 0 {
		return fmt.Errorf("%d trailing bytes after ASN.1 value", len(rest))
	}
	return nil
}
