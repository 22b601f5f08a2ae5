package crl

import (
	"bytes"
	"encoding/base64"
)

// PEM framing of a CRL as Signed.WritePEMTo, EncodePEM and openssl crl write it.
var (
	pemBegin = []byte("-----BEGIN X509 CRL-----\n")
	pemEnd   = []byte("\n-----END X509 CRL-----")
)

// splitPEM returns the DER of every block of data when data is PEM in its
// plain form: "X509 CRL" blocks with LF line ends, no headers, base64 lines
// only, nothing but whitespace around the blocks. ok is false for anything
// else, and Parse decodes data with parsePEM, whose checks and error messages
// then apply. It exists for speed: encoding/pem.Decode searches each block
// backwards for its BEGIN line and parsePEM counts BEGIN lines again, which
// for a 1M-entry CRL (45 MiB of PEM) costs about as much as the base64
// decoding itself. It accepts nothing parsePEM refuses, and decodes to the
// same bytes: every byte of a body is a base64 character or a newline (so no
// header, no second BEGIN line), and base64 decoding is what pem.Decode does
// after removing spaces and tabs. Each DER is a new buffer that Parse keeps
// as CRL.Raw without a copy.
func splitPEM(data []byte) (ders [][]byte, ok bool) {
	rest := bytes.TrimLeft(data, " \t\r\n")
	for len(rest) > 0 {
		if !bytes.HasPrefix(rest, pemBegin) {
			return nil, false
		}
		rest = rest[len(pemBegin):]
		end := bytes.Index(rest, pemEnd)
		if end < 0 {
			return nil, false
		}
		body, after := rest[:end+1], rest[end+len(pemEnd):]
		if len(after) > 0 && after[0] != '\n' {
			return nil, false
		}
		if bytes.IndexByte(body, '\r') >= 0 {
			return nil, false // base64 skips CR, pem.Decode keeps it in lines: leave such files to parsePEM
		}
		// Sized without the newlines, so that Raw, which keeps this buffer, holds
		// no spare capacity (1.5% of a CRL); Decode skips only CR and LF, and
		// CR was refused above.
		der := make([]byte, base64.StdEncoding.DecodedLen(len(body)-bytes.Count(body, []byte{'\n'})))
		n, err := base64.StdEncoding.Decode(der, body)
		if err != nil || n == 0 {
			return nil, false
		}
		ders = append(ders, der[:n])
		rest = bytes.TrimLeft(after, " \t\r\n")
	}
	return ders, len(ders) > 0
}
