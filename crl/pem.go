package crl

import (
	"encoding/base64"
	"io"
)

// pemLineLen is the base64 line length of RFC 7468 §2 (and encoding/pem).
const pemLineLen = 64

// pemLineIn is the number of octets one full base64 line encodes.
const pemLineIn = pemLineLen / 4 * 3

// pemWriter streams one PEM block (RFC 7468): the BEGIN line, the data in
// base64 lines of 64 characters, the END line. Its output is byte for byte
// that of pem.Encode with no headers, which is what EncodePEM writes, so a
// streamed crl.pem equals the one built in memory.
type pemWriter struct {
	w    io.Writer
	typ  string
	n    int64           // octets written to w
	part [pemLineIn]byte // input octets not yet making a full line
	np   int
	out  []byte // whole encoded lines waiting for w
	err  error
}

// pemFlushAt is how many encoded octets pemWriter collects before writing:
// 512 lines, so that w sees few, large writes.
const pemFlushAt = 512 * (pemLineLen + 1)

func newPEMWriter(w io.Writer, typ string) *pemWriter {
	p := &pemWriter{w: w, typ: typ, out: make([]byte, 0, pemFlushAt+pemLineLen+1)}
	p.out = append(append(append(p.out, "-----BEGIN "...), typ...), "-----\n"...)
	return p
}

func (p *pemWriter) write(data []byte) error {
	if p.err != nil {
		return p.err
	}
	if p.np > 0 {
		k := copy(p.part[p.np:], data)
		p.np += k
		data = data[k:]
		if p.np < pemLineIn {
			return nil
		}
		p.line(p.part[:])
		p.np = 0
	}
	for len(data) >= pemLineIn {
		p.line(data[:pemLineIn])
		data = data[pemLineIn:]
		if len(p.out) >= pemFlushAt {
			if err := p.flush(); err != nil {
				return err
			}
		}
	}
	p.np = copy(p.part[:], data)
	return nil
}

// line appends the base64 line that encodes in, with its newline.
func (p *pemWriter) line(in []byte) {
	p.out = append(base64.StdEncoding.AppendEncode(p.out, in), '\n')
}

func (p *pemWriter) flush() error {
	if p.err != nil {
		return p.err
	}
	n, err := p.w.Write(p.out)
	p.n += int64(n)
	p.out = p.out[:0]
	p.err = err
	return err
}

// close writes the last, partial line and the END line.
func (p *pemWriter) close() error {
	if p.err != nil {
		return p.err
	}
	if p.np > 0 {
		p.line(p.part[:p.np])
		p.np = 0
	}
	p.out = append(append(append(p.out, "-----END "...), p.typ...), "-----\n"...)
	return p.flush()
}
