package relay

import (
	"crypto/rand"
	"encoding/binary"
)

// WebSocket close codes (RFC 6455 §7.4.1).
const (
	closeGoingAway       = 1001
	closePolicyViolation = 1008
)

// closeFrame encodes an unmasked close frame (server to client, RFC 6455 §5.5.1) with a status code and a reason
// cut to fit a control frame's 125-byte payload.
func closeFrame(code uint16, reason string) []byte {
	if len(reason) > 123 {
		reason = reason[:123]
	}
	f := make([]byte, 4, 4+len(reason))
	f[0] = 0x88 // FIN + opcode 8
	f[1] = byte(2 + len(reason))
	binary.BigEndian.PutUint16(f[2:], code)
	return append(f, reason...)
}

// maskedCloseFrame is closeFrame as a client sends it: with the mask bit and a random masking key.
func maskedCloseFrame(code uint16, reason string) []byte {
	f := closeFrame(code, reason)
	payload := f[2:]
	var key [4]byte
	rand.Read(key[:]) //nolint:errcheck // crypto/rand.Read does not fail (Go 1.24+)
	out := make([]byte, 0, len(f)+4)
	out = append(out, f[0], f[1]|0x80)
	out = append(out, key[:]...)
	for i, b := range payload {
		out = append(out, b^key[i%4])
	}
	return out
}

// frameTracker follows RFC 6455 §5.2 frame boundaries in a byte stream without buffering payloads: it reads each
// header (2 to 14 bytes) and then skips the payload length.
type frameTracker struct {
	remaining uint64 // payload bytes left in the current frame
	hdr       [14]byte
	hdrLen    int
	broken    bool // lost track (write error, bad length): never inject again
}

func (f *frameTracker) atBoundary() bool { return !f.broken && f.remaining == 0 && f.hdrLen == 0 }

func (f *frameTracker) feed(p []byte) {
	for len(p) > 0 && !f.broken {
		if f.remaining > 0 {
			n := uint64(len(p))
			if n > f.remaining {
				n = f.remaining
			}
			f.remaining -= n
			p = p[n:]
			continue
		}
		f.hdr[f.hdrLen] = p[0]
		f.hdrLen++
		p = p[1:]
		if f.hdrLen < 2 {
			continue
		}
		need := 2
		switch f.hdr[1] & 0x7f {
		case 126:
			need += 2
		case 127:
			need += 8
		}
		if f.hdr[1]&0x80 != 0 {
			need += 4 // masking key
		}
		if f.hdrLen < need {
			continue
		}
		var length uint64
		switch l := f.hdr[1] & 0x7f; l {
		case 126:
			length = uint64(binary.BigEndian.Uint16(f.hdr[2:4]))
		case 127:
			length = binary.BigEndian.Uint64(f.hdr[2:10])
			if length>>63 != 0 { // the most significant bit must be 0 (RFC 6455 §5.2)
				f.broken = true
				return
			}
		default:
			length = uint64(l)
		}
		f.remaining = length
		f.hdrLen = 0
	}
}
