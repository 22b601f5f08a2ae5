package crl

import "io"

// Signed is a signed CRL held in memory as a short head, the encoded
// revokedCertificates in chunks, and a short tail. Keeping the entries in
// chunks means a CRL of a million entries (45 MiB) is never copied to grow a
// buffer or to shift it behind a length prefix, and can be hashed and written
// out piece by piece. A Signed is immutable; its methods may be called any
// number of times, also concurrently.
type Signed struct {
	head   []byte   // CertificateList header, TBSCertList header and fields up to the revokedCertificates header
	chunks [][]byte // revokedCertificates content
	tail   []byte   // crlExtensions, signatureAlgorithm, signatureValue
	size   int
}

// chunksLen returns the total length of chunks in octets.
func chunksLen(chunks [][]byte) int {
	n := 0
	for _, c := range chunks {
		n += len(c)
	}
	return n
}

// Len returns the length of the DER encoding in octets.
func (s *Signed) Len() int { return s.size }

// Bytes returns the DER encoding in a new slice of exactly Len octets.
func (s *Signed) Bytes() []byte {
	out := make([]byte, 0, s.size)
	out = append(out, s.head...)
	for _, c := range s.chunks {
		out = append(out, c...)
	}
	return append(out, s.tail...)
}

// WriteTo writes the DER encoding to w and returns the number of octets
// written; it implements io.WriterTo. A write error is returned as is, and
// w may then hold part of the CRL: write to a temporary file (see
// internal/atomicfile) when readers must never see half of one.
func (s *Signed) WriteTo(w io.Writer) (int64, error) {
	var total int64
	for _, p := range s.pieces() {
		n, err := w.Write(p)
		total += int64(n)
		if err != nil {
			return total, err
		}
	}
	return total, nil
}

// WritePEMTo writes the CRL to w as one "X509 CRL" PEM block, byte for byte
// what EncodePEM returns for its DER, without building the encoding in
// memory. It returns the number of octets written; write errors are
// returned as is, as by WriteTo.
func (s *Signed) WritePEMTo(w io.Writer) (int64, error) {
	p := newPEMWriter(w, pemType)
	for _, piece := range s.pieces() {
		if err := p.write(piece); err != nil {
			return p.n, err
		}
	}
	err := p.close()
	return p.n, err
}

// pieces returns the DER encoding as its head, entry chunks and tail, in order, without copying them.
func (s *Signed) pieces() [][]byte {
	ps := make([][]byte, 0, len(s.chunks)+2)
	ps = append(ps, s.head)
	ps = append(ps, s.chunks...)
	return append(ps, s.tail)
}
