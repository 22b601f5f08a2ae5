package ca

import (
	"crypto"
	"crypto/cipher"
	"crypto/des"
	"crypto/hmac"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/base32"
	"errors"
	"fmt"
	"hash"
	"io"
	"strings"
	"unicode/utf16"

	pkcs12 "software.sslmate.com/src/go-pkcs12"
)

// P12Format selects the algorithms of a PKCS#12 bundle.
type P12Format string

// PKCS#12 formats. The compatibility notes were verified by the team with
// OpenSSL 3.0, NSS 3.87 and Java 17, and match go-pkcs12's documentation.
const (
	// P12Legacy is PBE-SHA1-3DES for keys and certificates and an
	// HMAC-SHA-1 MAC (go-pkcs12 LegacyDES, OpenSSL's -descert). It imports in
	// OpenSSL 3 without -legacy, NSS, Java keytool, macOS Keychain and every
	// Windows version, hence the default. Its protection rests on the
	// password's entropy (see GeneratePassword), not on the cipher.
	P12Legacy P12Format = "legacy"
	// P12Modern is PBES2 (PBKDF2-HMAC-SHA256, AES-256-CBC) with an
	// HMAC-SHA-256 MAC (go-pkcs12 Modern2023): OpenSSL 1.1.1+/3, NSS, Java
	// 12+, Windows 10 1709+; macOS Keychain may refuse it.
	P12Modern P12Format = "modern"
)

// DefaultP12Format is the format used when none is given.
const DefaultP12Format = P12Legacy

// ParseP12Format returns the P12Format named by s (case-insensitive); the
// empty string yields DefaultP12Format. Unknown names are an error listing
// the valid ones.
func ParseP12Format(s string) (P12Format, error) {
	switch f := P12Format(strings.ToLower(strings.TrimSpace(s))); f {
	case "":
		return DefaultP12Format, nil
	case P12Legacy, P12Modern:
		return f, nil
	}
	return "", fmt.Errorf("unknown PKCS#12 format %q (valid: %s, %s)", s, P12Legacy, P12Modern)
}

// EncodePKCS12 returns a PKCS#12 (RFC 7292) bundle holding key, its
// certificate leaf and the chain certificates (intermediate first, then
// root), protected by password, in the given format (DefaultP12Format when
// empty).
//
// The key bag and the leaf's certificate bag carry the friendlyName
// attribute (RFC 2985 5.5.1) set to friendlyName, or to the leaf's common
// name when friendlyName is empty: Java keytool lists the entry under that
// alias, and certificate managers show it. go-pkcs12 sets no friendly name,
// so the bundle it encodes is re-opened, the attribute added to both bags
// (the certificate SafeContents is decrypted and encrypted again) and the
// MAC recomputed.
//
// It fails if the key does not match leaf (ErrKeyMismatch), the password is
// empty, the friendly name has characters outside the Basic Multilingual
// Plane or control characters, or the format is unknown.
func EncodePKCS12(rand io.Reader, key crypto.Signer, leaf *x509.Certificate, chain []*x509.Certificate,
	friendlyName, password string, format P12Format) ([]byte, error) {
	if leaf == nil {
		return nil, errors.New("encoding PKCS#12: certificate is nil")
	}
	if err := CheckKeyMatches(key, leaf); err != nil {
		return nil, fmt.Errorf("encoding PKCS#12: %w", err)
	}
	if password == "" {
		// Several importers (macOS Keychain, Windows) mishandle empty
		// passwords, and the key would be protected by nothing.
		return nil, errors.New("encoding PKCS#12: password is empty")
	}
	if friendlyName == "" {
		friendlyName = leaf.Subject.CommonName
	}
	nameBMP, err := bmpString(friendlyName, false)
	if err != nil {
		return nil, fmt.Errorf("encoding PKCS#12: friendly name %q: %w", friendlyName, err)
	}
	if err := checkPrintable(friendlyName); err != nil {
		return nil, fmt.Errorf("encoding PKCS#12: friendly name %q: %w", friendlyName, err)
	}
	var enc *pkcs12.Encoder
	switch format {
	case "", P12Legacy:
		// go-pkcs12's LegacyDES derives the MAC key with a single iteration, which makes the MAC a
		// one-hash password oracle; 2048 (OpenSSL 3's -descert default) costs nothing and every platform
		// that reads LegacyDES reads it.
		enc = pkcs12.LegacyDES.WithIterations(2048)
	case P12Modern:
		enc = pkcs12.Modern2023
	default:
		_, err := ParseP12Format(string(format))
		return nil, fmt.Errorf("encoding PKCS#12: %w", err)
	}
	for i, c := range chain {
		if c == nil {
			return nil, fmt.Errorf("encoding PKCS#12: chain certificate %d is nil", i)
		}
	}
	pfx, err := enc.WithRand(rand).Encode(key, leaf, chain, password)
	if err != nil {
		return nil, fmt.Errorf("encoding PKCS#12: %w", err)
	}
	pfx, err = addFriendlyName(pfx, nameBMP, password)
	if err != nil {
		return nil, fmt.Errorf("encoding PKCS#12: adding friendly name: %w", err)
	}
	return pfx, nil
}

// GeneratePassword returns a random password with 140 bits of entropy that
// is easy to read aloud and type: 28 lowercase base32 characters (a-z, 2-7;
// no 0/O or 1/l confusion) in groups of four, like "abcd-efgh-…". It fails
// only if rand fails.
func GeneratePassword(rand io.Reader) (string, error) {
	buf := make([]byte, 18) // 144 bits; 28 base32 characters use 140 of them
	if _, err := io.ReadFull(rand, buf); err != nil {
		return "", fmt.Errorf("generating password: %w", err)
	}
	s := strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(buf))[:28]
	groups := make([]string, 0, 7)
	for i := 0; i < len(s); i += 4 {
		groups = append(groups, s[i:i+4])
	}
	return strings.Join(groups, "-"), nil
}

// ASN.1 structures of RFC 7292 needed to edit a PFX produced by go-pkcs12.
var (
	oidData               = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 7, 1}
	oidEncryptedData      = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 7, 6}
	oidShroudedKeyBag     = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 12, 10, 1, 2}
	oidCertBag            = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 12, 10, 1, 3}
	oidLocalKeyID         = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 21}
	oidPBEWithSHA3DES     = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 12, 1, 3}
	oidFriendlyName       = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 20}
	oidSHA1               = asn1.ObjectIdentifier{1, 3, 14, 3, 2, 26}
	oidSHA256             = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 2, 1}
	errUnexpectedPFXShape = errors.New("unexpected PFX structure from go-pkcs12")
)

type pfxPDU struct {
	Version  int
	AuthSafe p12ContentInfo
	MacData  p12MacData `asn1:"optional"`
}

// p12ContentInfo is a PKCS#7 ContentInfo. With an explicit tag,
// encoding/asn1 keeps the whole [0] element in Content (it does not descend
// into a RawValue), and marshals a RawValue verbatim, so it round-trips.
type p12ContentInfo struct {
	ContentType asn1.ObjectIdentifier
	Content     asn1.RawValue `asn1:"tag:0,explicit,optional"`
}

type p12MacData struct {
	Mac struct {
		Algorithm pkix.AlgorithmIdentifier
		Digest    []byte
	}
	MacSalt    []byte
	Iterations int `asn1:"optional,default:1"`
}

type p12EncryptedData struct {
	Version int
	Info    struct {
		ContentType asn1.ObjectIdentifier
		Algorithm   pkix.AlgorithmIdentifier
		Content     []byte `asn1:"tag:0,optional"`
	}
}

type p12PBEParams struct {
	Salt       []byte
	Iterations int
}

type p12SafeBag struct {
	ID         asn1.ObjectIdentifier
	Value      asn1.RawValue  `asn1:"tag:0,explicit"`
	Attributes []p12Attribute `asn1:"set,optional"`
}

type p12Attribute struct {
	ID     asn1.ObjectIdentifier
	Values asn1.RawValue `asn1:"set"`
}

// explicitData wraps der as the [0] EXPLICIT OCTET STRING content of a data
// ContentInfo.
func explicitData(der []byte) (asn1.RawValue, error) {
	octets, err := asn1.Marshal(der)
	if err != nil {
		return asn1.RawValue{}, err
	}
	return asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: 0, IsCompound: true, Bytes: octets}, nil
}

// addFriendlyName adds a friendlyName attribute with the BMPString contents
// nameBMP to the shrouded key bag and to the leaf certificate bag of pfxDER,
// and recomputes the password-based MAC (RFC 7292 appendix B.2, ID 3) with
// the same digest, salt and iteration count. It relies on the layout of
// go-pkcs12's Encode (certificates encrypted in the first SafeContents, the
// key bag alone in the second, unencrypted one); anything else is an error.
func addFriendlyName(pfxDER, nameBMP []byte, password string) ([]byte, error) {
	var pfx pfxPDU
	if err := unmarshalStrict(pfxDER, &pfx); err != nil {
		return nil, err
	}
	if !pfx.AuthSafe.ContentType.Equal(oidData) {
		return nil, errUnexpectedPFXShape
	}
	var authSafeDER []byte
	if err := unmarshalStrict(pfx.AuthSafe.Content.Bytes, &authSafeDER); err != nil {
		return nil, err
	}
	var safes []p12ContentInfo
	if err := unmarshalStrict(authSafeDER, &safes); err != nil {
		return nil, err
	}
	if len(safes) != 2 || !safes[0].ContentType.Equal(oidEncryptedData) || !safes[1].ContentType.Equal(oidData) {
		return nil, errUnexpectedPFXShape
	}
	attr, err := friendlyNameAttribute(nameBMP)
	if err != nil {
		return nil, err
	}
	// The key bag: alone in the second, unencrypted SafeContents.
	var keySafeDER []byte
	if err := unmarshalStrict(safes[1].Content.Bytes, &keySafeDER); err != nil {
		return nil, err
	}
	var bags []p12SafeBag
	if err := unmarshalStrict(keySafeDER, &bags); err != nil {
		return nil, err
	}
	if len(bags) != 1 || !bags[0].ID.Equal(oidShroudedKeyBag) {
		return nil, errUnexpectedPFXShape
	}
	bags[0].Attributes = append(bags[0].Attributes, attr)
	if keySafeDER, err = asn1.Marshal(bags); err != nil {
		return nil, err
	}
	if safes[1].Content, err = explicitData(keySafeDER); err != nil {
		return nil, err
	}
	// The leaf's certificate bag: in the first, encrypted SafeContents.
	if safes[0].Content, err = addCertFriendlyName(safes[0].Content, attr, password); err != nil {
		return nil, err
	}
	if authSafeDER, err = asn1.Marshal(safes); err != nil {
		return nil, err
	}
	if pfx.AuthSafe.Content, err = explicitData(authSafeDER); err != nil {
		return nil, err
	}

	var newHash func() hash.Hash
	switch alg := pfx.MacData.Mac.Algorithm.Algorithm; {
	case alg.Equal(oidSHA1):
		newHash = sha1.New
	case alg.Equal(oidSHA256):
		newHash = sha256.New
	default:
		return nil, fmt.Errorf("%w: MAC algorithm %v", errUnexpectedPFXShape, alg)
	}
	pwBMP, err := bmpString(password, true)
	if err != nil {
		return nil, fmt.Errorf("password: %w", err)
	}
	macKey := pkcs12KDF(newHash, pfx.MacData.MacSalt, pwBMP, pfx.MacData.Iterations, 3, newHash().Size())
	mac := hmac.New(newHash, macKey)
	mac.Write(authSafeDER)
	pfx.MacData.Mac.Digest = mac.Sum(nil)
	return asn1.Marshal(pfx)
}

// friendlyNameAttribute returns the PKCS#9 friendlyName attribute (RFC 2985
// 5.5.1: a SET with one BMPString) for the encoded name.
func friendlyNameAttribute(nameBMP []byte) (p12Attribute, error) {
	value, err := asn1.Marshal(asn1.RawValue{Tag: asn1.TagBMPString, Bytes: nameBMP})
	if err != nil {
		return p12Attribute{}, err
	}
	return p12Attribute{
		ID:     oidFriendlyName,
		Values: asn1.RawValue{Class: asn1.ClassUniversal, Tag: asn1.TagSet, IsCompound: true, Bytes: value},
	}, nil
}

// addCertFriendlyName adds attr to the certificate bag carrying localKeyId
// (the leaf; go-pkcs12 gives CA certificates no attributes) inside the
// encrypted certificate SafeContents.
func addCertFriendlyName(content asn1.RawValue, attr p12Attribute, password string) (asn1.RawValue, error) {
	return editCertBags(content, password, func(bags []p12SafeBag) error {
		for i := range bags {
			if !bags[i].ID.Equal(oidCertBag) {
				continue
			}
			for _, a := range bags[i].Attributes {
				if a.ID.Equal(oidLocalKeyID) {
					bags[i].Attributes = append(bags[i].Attributes, attr)
					return nil
				}
			}
		}
		return fmt.Errorf("%w: no leaf certificate bag", errUnexpectedPFXShape)
	})
}

// editCertBags decrypts the encryptedData content of a SafeContents
// (PBE-SHA1-3DES or PBES2/AES as go-pkcs12 writes them), lets edit change
// the bags, and encrypts the result again.
//
// It re-encrypts with the same key and IV: the original ciphertext is
// discarded and never leaves EncodePKCS12, so to the outside this is a
// single encryption with the freshly drawn salt and IV.
func editCertBags(content asn1.RawValue, password string, edit func([]p12SafeBag) error) (asn1.RawValue, error) {
	var ed p12EncryptedData
	if err := unmarshalStrict(content.Bytes, &ed); err != nil {
		return content, err
	}
	var (
		block cipher.Block
		iv    []byte
		err   error
	)
	switch alg := ed.Info.Algorithm; {
	case alg.Algorithm.Equal(oidPBEWithSHA3DES): // RFC 7292 appendix C, B.2
		var params p12PBEParams
		if err := unmarshalStrict(alg.Parameters.FullBytes, &params); err != nil {
			return content, err
		}
		pw, err := bmpString(password, true)
		if err != nil {
			return content, err
		}
		key := pkcs12KDF(sha1.New, params.Salt, pw, params.Iterations, 1, 24)
		iv = pkcs12KDF(sha1.New, params.Salt, pw, params.Iterations, 2, des.BlockSize)
		if block, err = des.NewTripleDESCipher(key); err != nil {
			return content, err
		}
	case alg.Algorithm.Equal(oidPBES2):
		// RFC 8018 3 / RFC 9579: PBES2 in PKCS#12 takes the UTF-8 password,
		// not the BMPString, as OpenSSL and go-pkcs12 do.
		if block, iv, err = pbes2Cipher(alg.Parameters.FullBytes, []byte(password)); err != nil {
			return content, err
		}
	default:
		return content, fmt.Errorf("%w: certificate encryption %v", errUnexpectedPFXShape, alg.Algorithm)
	}
	bs := block.BlockSize()
	if len(ed.Info.Content) == 0 || len(ed.Info.Content)%bs != 0 {
		return content, errUnexpectedPFXShape
	}
	plain := make([]byte, len(ed.Info.Content))
	cipher.NewCBCDecrypter(block, iv).CryptBlocks(plain, ed.Info.Content)
	plain, ok := pkcs7Unpad(plain, bs)
	if !ok {
		return content, errors.New("decrypting certificate bags: bad padding")
	}
	var bags []p12SafeBag
	if err := unmarshalStrict(plain, &bags); err != nil {
		return content, err
	}
	if err := edit(bags); err != nil {
		return content, err
	}
	if plain, err = asn1.Marshal(bags); err != nil {
		return content, err
	}
	ct := pkcs7Pad(plain, bs)
	cipher.NewCBCEncrypter(block, iv).CryptBlocks(ct, ct)
	ed.Info.Content = ct
	der, err := asn1.Marshal(ed)
	if err != nil {
		return content, err
	}
	return asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: 0, IsCompound: true, Bytes: der}, nil
}

// pkcs12KDF is the password-based key derivation of RFC 7292 appendix B.2:
// n bytes for purpose id (1 key, 2 IV, 3 MAC key) from the BMPString
// password and salt with r iterations of the hash. v, the hash block size,
// is 64 bytes for SHA-1 and SHA-256, the only hashes used here.
func pkcs12KDF(newHash func() hash.Hash, salt, password []byte, r int, id byte, n int) []byte {
	const v = 64
	if r < 1 {
		r = 1
	}
	fill := func(p []byte) []byte { // repeat p to a whole number of v-byte blocks
		if len(p) == 0 {
			return nil
		}
		out := make([]byte, v*((len(p)+v-1)/v))
		for i := range out {
			out[i] = p[i%len(p)]
		}
		return out
	}
	d := make([]byte, v)
	for i := range d {
		d[i] = id
	}
	in := append(fill(salt), fill(password)...) // I = S || P
	h := newHash()
	var out []byte
	for len(out) < n {
		h.Reset()
		h.Write(d)
		h.Write(in)
		a := h.Sum(nil)
		for range r - 1 {
			h.Reset()
			h.Write(a)
			a = h.Sum(a[:0])
		}
		out = append(out, a...)
		if len(out) >= n {
			break
		}
		// B = A repeated to v bytes; each v-byte block I_j of I becomes
		// (I_j + B + 1) mod 2^(8v).
		b := make([]byte, v)
		for i := range b {
			b[i] = a[i%len(a)]
		}
		for j := 0; j < len(in); j += v {
			carry := 1
			for k := v - 1; k >= 0; k-- {
				sum := int(in[j+k]) + int(b[k]) + carry
				in[j+k] = byte(sum)
				carry = sum >> 8
			}
		}
	}
	return out[:n]
}

// bmpString encodes s as big-endian UCS-2 (ASN.1 BMPString). RFC 7292 B.1
// passwords are additionally terminated by two zero bytes (zeroTerminated).
// Characters outside the Basic Multilingual Plane cannot be represented.
func bmpString(s string, zeroTerminated bool) ([]byte, error) {
	out := make([]byte, 0, 2*len(s)+2)
	for _, r := range s {
		if r > 0xffff || utf16.IsSurrogate(r) {
			return nil, fmt.Errorf("character %U is outside the Basic Multilingual Plane", r)
		}
		out = append(out, byte(r>>8), byte(r))
	}
	if zeroTerminated {
		out = append(out, 0, 0)
	}
	return out, nil
}
