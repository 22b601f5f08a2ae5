package relay

import (
	"crypto/tls"
	"fmt"
	"slices"
)

// DefaultCipherSuites are the TLS 1.2 cipher suites the relay offers unless tls.cipher_suites says otherwise:
// ECDHE key exchange (forward secrecy) with an AEAD cipher only. Go's own default adds the CBC suites with
// HMAC-SHA1, which testssl.sh and similar scanners flag as obsolete (MAC-then-encrypt, Lucky13-style padding
// oracles). Current browsers, OpenSSL and Java offer an ECDHE-GCM suite; only old clients without an AEAD suite
// for the server's key type lose access (docs/serve.md). TLS 1.3 suites are not configurable in Go and are always
// AEAD.
var DefaultCipherSuites = []string{
	"TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
	"TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
	"TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
	"TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
	"TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256",
	"TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
}

// cipherSuiteIDs maps tls.cipher_suites names to crypto/tls IDs (DefaultCipherSuites when names is empty). Only
// TLS 1.2 suites that crypto/tls counts as secure are accepted: a TLS 1.3 suite cannot be chosen, and an insecure
// one (RC4, 3DES, CBC-SHA256 with RSA key exchange) is refused rather than silently enabled.
func cipherSuiteIDs(names []string) ([]uint16, error) {
	if len(names) == 0 {
		names = DefaultCipherSuites
	}
	ids := make([]uint16, 0, len(names))
	for _, n := range names {
		id, err := cipherSuiteID(n)
		if err != nil {
			return nil, err
		}
		ids = append(ids, id)
	}
	return ids, nil
}

func cipherSuiteID(name string) (uint16, error) {
	for _, cs := range tls.CipherSuites() {
		if cs.Name != name {
			continue
		}
		if !slices.Contains(cs.SupportedVersions, tls.VersionTLS12) {
			return 0, fmt.Errorf("tls.cipher_suites: %s is a TLS 1.3 suite, which Go does not let you configure (it is always offered)", name)
		}
		return cs.ID, nil
	}
	for _, cs := range tls.InsecureCipherSuites() {
		if cs.Name == name {
			return 0, fmt.Errorf("tls.cipher_suites: %s is insecure and not supported", name)
		}
	}
	return 0, fmt.Errorf("tls.cipher_suites: unknown suite %q (use the IANA names, e.g. %s)", name, DefaultCipherSuites[0])
}
