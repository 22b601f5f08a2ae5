package ca

import (
	"bytes"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
)

// ParseCertificates parses one or more PEM "CERTIFICATE" blocks. It is
// strict: every block must be a CERTIFICATE (the error names any other
// type), and nothing but whitespace may appear before, between or after the
// blocks (text such as OpenSSL's "Bag Attributes" or trailing garbage is an
// error with its byte offset). Input without any block is the error
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
		if !bytes.HasPrefix(trimmed, []byte("-----BEGIN ")) {
			if len(certs) == 0 {
				return nil, fmt.Errorf("reading certificates: no PEM certificate found (unexpected data at byte %d)", offset)
			}
			return nil, fmt.Errorf("reading certificates: unexpected non-PEM data at byte %d after certificate %d", offset, len(certs))
		}
		block, next := pem.Decode(trimmed)
		if block == nil {
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
