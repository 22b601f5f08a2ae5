// Package ca is wsca's certificate authority core: key generation, the
// root/intermediate hierarchy, client and server certificate profiles, CSR
// checks, encrypted PKCS#8 keys at rest and PKCS#12 bundles.
//
// The package is pure: every function takes its keys, requests, an io.Reader
// for randomness and the current time as arguments and returns certificates
// or bytes. It never reads files, environment variables or terminals; that is
// the job of internal/cadir and cmd/wsca.
//
// Decisions a caller may need to make are reported with the sentinel errors
// below (test with errors.Is); every returned error is wrapped with the
// context in which it happened.
package ca

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"fmt"
	"io"
	"math/big"
	"strings"
)

// Sentinel errors. Each is returned wrapped with context; callers decide with
// errors.Is and may print a hint for the fix named in the message.
var (
	// ErrOutlivesIssuer means the requested certificate would expire after its
	// issuer; the fix is a shorter validity or a new intermediate. Issue returns
	// it as an *OutlivesIssuerError that says how short.
	ErrOutlivesIssuer = errors.New("certificate would outlive its issuer")
	// ErrNoSigningKey means the issuing authority has no private key loaded
	// (for example the root key is kept offline).
	ErrNoSigningKey = errors.New("issuer has no signing key (the CA key is offline or was not loaded)")
	// ErrCSRRequestsCA means a certificate signing request asked for
	// basicConstraints CA:TRUE; wsca only issues end-entity certificates.
	ErrCSRRequestsCA = errors.New("CSR requests a CA certificate (basicConstraints CA:TRUE); wsca signs only end-entity certificates: create the CSR without -addext basicConstraints")
	// ErrWeakKey means a public key is of an unsupported type or too weak:
	// allowed are RSA 2048..16384 bits, ECDSA P-256/P-384/P-521 and Ed25519.
	ErrWeakKey = errors.New("unsupported or weak public key (allowed: RSA 2048-16384 bits, ECDSA P-256/P-384/P-521, Ed25519)")
	// ErrPassphraseRequired means an encrypted private key was given without
	// a passphrase.
	ErrPassphraseRequired = errors.New("private key is encrypted and no passphrase was given")
	// ErrWrongPassphrase means the passphrase does not decrypt the key.
	ErrWrongPassphrase = errors.New("wrong passphrase for encrypted private key")
	// ErrMalformedKey means the data is not a private key wsca can read.
	ErrMalformedKey = errors.New("malformed or unsupported private key (want PEM PRIVATE KEY, ENCRYPTED PRIVATE KEY, EC PRIVATE KEY or RSA PRIVATE KEY)")
	// ErrKeyMismatch means a private key does not belong to a certificate.
	ErrKeyMismatch = errors.New("private key does not match the certificate's public key")
	// ErrOutsideNameConstraints means a name is not permitted by the issuing
	// CA's name constraints (set at wsca init): relying parties would reject
	// the certificate, so it is not issued.
	ErrOutsideNameConstraints = errors.New("name is outside the issuing CA's name constraints")
	// ErrNotCA means a certificate used as an issuer is not a CA certificate
	// (basicConstraints CA:TRUE with keyCertSign).
	ErrNotCA = errors.New("issuer certificate is not a CA (needs basicConstraints CA:TRUE and keyCertSign)")
)

// KeyType names an algorithm and size for GenerateKey.
type KeyType string

// The key types wsca can generate. KeyECDSAP256 is the default: small,
// fast, and accepted by every TLS stack and browser.
const (
	KeyECDSAP256 KeyType = "ecdsa-p256"
	KeyECDSAP384 KeyType = "ecdsa-p384"
	KeyRSA2048   KeyType = "rsa-2048"
	KeyRSA3072   KeyType = "rsa-3072"
	KeyRSA4096   KeyType = "rsa-4096"
	KeyEd25519   KeyType = "ed25519"
)

// DefaultKeyType is used when a request leaves KeyType empty.
const DefaultKeyType = KeyECDSAP256

// KeyTypes returns every supported key type, default first.
func KeyTypes() []KeyType {
	return []KeyType{KeyECDSAP256, KeyECDSAP384, KeyRSA2048, KeyRSA3072, KeyRSA4096, KeyEd25519}
}

// ParseKeyType returns the KeyType named by s (case-insensitive, surrounding
// space ignored); the empty string yields DefaultKeyType. An unknown name is
// an error that lists the valid names.
func ParseKeyType(s string) (KeyType, error) {
	s = strings.ToLower(strings.TrimSpace(s))
	if s == "" {
		return DefaultKeyType, nil
	}
	names := make([]string, 0, 6)
	for _, kt := range KeyTypes() {
		if string(kt) == s {
			return kt, nil
		}
		names = append(names, string(kt))
	}
	return "", fmt.Errorf("unknown key type %q (valid: %s)", s, strings.Join(names, ", "))
}

// KeyTypeOf returns the KeyType that generates keys like pub (same algorithm
// and size), and false for a key wsca does not generate (such as RSA-2560 or
// P-521 from an imported CA).
func KeyTypeOf(pub crypto.PublicKey) (KeyType, bool) {
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		switch k.Curve {
		case elliptic.P256():
			return KeyECDSAP256, true
		case elliptic.P384():
			return KeyECDSAP384, true
		}
	case *rsa.PublicKey:
		switch k.N.BitLen() {
		case 2048:
			return KeyRSA2048, true
		case 3072:
			return KeyRSA3072, true
		case 4096:
			return KeyRSA4096, true
		}
	case ed25519.PublicKey:
		return KeyEd25519, true
	}
	return "", false
}

// GenerateKey creates a new private key of type kt (DefaultKeyType when
// empty) using rand. It fails for an unknown type or a failing reader.
func GenerateKey(rand io.Reader, kt KeyType) (crypto.Signer, error) {
	if kt == "" {
		kt = DefaultKeyType
	}
	var (
		key crypto.Signer
		err error
	)
	switch kt {
	case KeyECDSAP256:
		key, err = ecdsa.GenerateKey(elliptic.P256(), rand)
	case KeyECDSAP384:
		key, err = ecdsa.GenerateKey(elliptic.P384(), rand)
	case KeyRSA2048:
		key, err = rsa.GenerateKey(rand, 2048)
	case KeyRSA3072:
		key, err = rsa.GenerateKey(rand, 3072)
	case KeyRSA4096:
		key, err = rsa.GenerateKey(rand, 4096)
	case KeyEd25519:
		_, priv, gerr := ed25519.GenerateKey(rand)
		key, err = priv, gerr
	default:
		_, perr := ParseKeyType(string(kt))
		return nil, fmt.Errorf("generating key: %w", perr)
	}
	if err != nil {
		return nil, fmt.Errorf("generating %s key: %w", kt, err)
	}
	return key, nil
}

// NewSerial returns a random positive serial number of at most 128 bits: 16
// bytes from rand with the top bit cleared. RFC 5280 4.1.2.2 requires a
// positive integer of at most 20 octets; CA/B Forum practice asks for at
// least 64 random bits so serials cannot be predicted. Zero is never
// returned (a zero draw is retried a bounded number of times).
func NewSerial(rand io.Reader) (*big.Int, error) {
	buf := make([]byte, 16)
	for range 8 {
		if _, err := io.ReadFull(rand, buf); err != nil {
			return nil, fmt.Errorf("generating serial number: %w", err)
		}
		buf[0] &= 0x7f
		n := new(big.Int).SetBytes(buf)
		if n.Sign() > 0 {
			return n, nil
		}
	}
	return nil, errors.New("generating serial number: random source returned only zeros")
}

// CheckPublicKey returns nil if pub is a key wsca accepts in certificates:
// RSA of 2048 to 16384 bits, ECDSA on P-256, P-384 or P-521, or Ed25519.
// Anything else is ErrWeakKey, wrapped with what was found.
func CheckPublicKey(pub crypto.PublicKey) error {
	switch k := pub.(type) {
	case *rsa.PublicKey:
		if k == nil || k.N == nil {
			return fmt.Errorf("%w: empty RSA key", ErrWeakKey)
		}
		if bits := k.N.BitLen(); bits < 2048 || bits > 16384 {
			return fmt.Errorf("%w: RSA key has %d bits", ErrWeakKey, bits)
		}
		// RFC 8017 3.1: e must be odd and at least 3; Go parsers already
		// bound it, but keys may come from elsewhere.
		if k.E < 3 || k.E%2 == 0 {
			return fmt.Errorf("%w: RSA public exponent %d", ErrWeakKey, k.E)
		}
		return nil
	case *ecdsa.PublicKey:
		if k == nil || k.Curve == nil {
			return fmt.Errorf("%w: empty ECDSA key", ErrWeakKey)
		}
		switch k.Curve {
		case elliptic.P256(), elliptic.P384(), elliptic.P521():
			return nil
		}
		return fmt.Errorf("%w: ECDSA curve %s", ErrWeakKey, k.Curve.Params().Name)
	case ed25519.PublicKey:
		if len(k) != ed25519.PublicKeySize {
			return fmt.Errorf("%w: Ed25519 key of %d bytes", ErrWeakKey, len(k))
		}
		return nil
	default:
		return fmt.Errorf("%w: key type %T", ErrWeakKey, pub)
	}
}

// subjectKeyID computes the Subject Key Identifier of pub with RFC 7093
// section 2 method 1: the leftmost 160 bits of the SHA-256 hash of the
// subjectPublicKey BIT STRING value. Computing it ourselves (rather than
// relying on crypto/x509's choice, which has changed between Go releases and
// only applies to CA certificates) makes it identical for every key type and
// every certificate we issue.
func subjectKeyID(pub crypto.PublicKey) ([]byte, error) {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return nil, fmt.Errorf("computing subject key identifier: %w", err)
	}
	var spki struct {
		Algorithm        pkix.AlgorithmIdentifier
		SubjectPublicKey asn1.BitString
	}
	if _, err := asn1.Unmarshal(der, &spki); err != nil {
		return nil, fmt.Errorf("computing subject key identifier: %w", err)
	}
	sum := sha256.Sum256(spki.SubjectPublicKey.Bytes)
	return sum[:20], nil
}

// publicKeyEqual reports whether a and b are the same public key.
func publicKeyEqual(a, b crypto.PublicKey) bool {
	ka, ok := a.(interface{ Equal(crypto.PublicKey) bool })
	return ok && ka.Equal(b)
}
