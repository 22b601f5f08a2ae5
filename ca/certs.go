package ca

import (
	"bytes"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
)

// ParseCertificates parses one or more PEM "CERTIFICATE" blocks. Every block
// must be a CERTIFICATE (the error names any other type). Explanatory text
// may precede a block, as RFC 7468 section 5.2 allows and as `openssl ca`,
// easy-rsa's issued/*.crt and `openssl pkcs12` ("Bag Attributes") write it;
// such text must be whole lines, none of which starts with "-----", so a
// damaged or foreign PEM block is never skipped silently. Anything after the
// last block other than whitespace (trailing garbage, a truncated block) is
// an error with its byte offset. Input without any block is the error
// "no PEM certificate found".
func ParseCertificates(pemData []byte) ([]*x509.Certificate, error) {
	var certs []*x509.Certificate
	rest := pemData
	for {
		trimmed := bytes.TrimLeft(rest, " \t\r\n")
		if len(trimmed) == 0 {
			break
		}
		offset := len(pemData) - len(trimmed)
		if skip := leadingText(trimmed); skip > 0 {
			trimmed = trimmed[skip:]
			offset += skip
		}
		if !bytes.HasPrefix(trimmed, []byte("-----BEGIN ")) {
			if len(certs) == 0 {
				return nil, fmt.Errorf("reading certificates: no PEM certificate found (unexpected data at byte %d)", offset)
			}
			return nil, fmt.Errorf("reading certificates: unexpected non-PEM data at byte %d after certificate %d", offset, len(certs))
		}
		block, next := pem.Decode(trimmed)
		// pem.Decode skips a damaged block and returns the next good one: refuse that.
		if block == nil || bytes.Count(trimmed[:len(trimmed)-len(next)], []byte("-----BEGIN ")) != 1 {
			return nil, fmt.Errorf("reading certificates: invalid PEM block at byte %d", offset)
		}
		if block.Type != "CERTIFICATE" {
			return nil, fmt.Errorf("reading certificates: found PEM block %q at byte %d, want only \"CERTIFICATE\" blocks", block.Type, offset)
		}
		cert, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("reading certificates: certificate %d: %w", len(certs)+1, err)
		}
		certs = append(certs, cert)
		rest = next
	}
	if len(certs) == 0 {
		return nil, errors.New("reading certificates: no PEM certificate found")
	}
	return certs, nil
}

// leadingText returns the length of the text lines before the next line that
// starts with "-----BEGIN ", or 0 when there is no such line or a line in
// between starts with "-----" (then the caller reports the data as it is).
func leadingText(data []byte) int {
	for pos := 0; pos < len(data); {
		line := data[pos:]
		if bytes.HasPrefix(line, []byte("-----")) {
			if bytes.HasPrefix(line, []byte("-----BEGIN ")) {
				return pos
			}
			return 0
		}
		nl := bytes.IndexByte(line, '\n')
		if nl < 0 {
			return 0
		}
		pos += nl + 1
	}
	return 0
}

// EncodeCertificates returns certs as concatenated PEM "CERTIFICATE" blocks,
// in the order given (for a chain file: leaf first, root last). Nil entries
// are skipped.
func EncodeCertificates(certs ...*x509.Certificate) []byte {
	var buf bytes.Buffer
	for _, c := range certs {
		if c == nil {
			continue
		}
		// pem.Encode to a bytes.Buffer cannot fail: the block has no headers.
		_ = pem.Encode(&buf, &pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})
	}
	return buf.Bytes()
}
