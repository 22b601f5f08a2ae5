package relay

import (
	"bytes"
	"crypto/tls"
	"reflect"
	"unsafe"
)

// tlsReadBuffers is where the read buffers of a crypto/tls.Conn are: rawInput (the records read from the socket),
// input (the plaintext of the current record: a view into rawInput) and hand (handshake messages). crypto/tls grows
// them to the largest record and handshake message the connection has seen and never shrinks them: ~3.5 KiB from the
// handshake alone (a ClientHello with a post-quantum key share, the client's certificates), and a 16 KiB record
// read once keeps ~17 KiB. An idle session holds them for its whole life, so a parking direction hands them back
// (releaseTLSReadBuffers; issue 15). crypto/tls offers no call for it: the fields are located by name and type
// once, and if a Go release renames or retypes any of them, ok is false and nothing is released (the relay works
// as before; TestTLSReadBuffersFound then fails and says so).
type tlsReadBuffers struct {
	rawInput, input, hand uintptr // offsets in tls.Conn
	ok                    bool
}

// tlsBuffers is computed once from the tls.Conn type and never written again.
var tlsBuffers = findTLSReadBuffers()

func findTLSReadBuffers() tlsReadBuffers {
	t := reflect.TypeFor[tls.Conn]()
	field := func(name string, want reflect.Type) (uintptr, bool) {
		f, ok := t.FieldByName(name)
		if !ok || len(f.Index) != 1 || f.Type != want {
			return 0, false
		}
		return f.Offset, true
	}
	var b tlsReadBuffers
	var okRaw, okIn, okHand bool
	b.rawInput, okRaw = field("rawInput", reflect.TypeFor[bytes.Buffer]())
	b.input, okIn = field("input", reflect.TypeFor[bytes.Reader]())
	b.hand, okHand = field("hand", reflect.TypeFor[bytes.Buffer]())
	b.ok = okRaw && okIn && okHand
	return b
}

// releaseTLSReadBuffers drops the read buffers of c that hold nothing (a partial record or an unread handshake
// message is kept); the next read allocates what it needs. The caller must be c's only reader and no Read may be
// running: a relay direction calls it when it parks, before the parker can start the next reader. Nothing else in
// crypto/tls touches these fields after the handshake (writes, Close and ConnectionState use others).
func releaseTLSReadBuffers(c *tls.Conn) {
	b := tlsBuffers
	if !b.ok {
		return
	}
	base := unsafe.Pointer(c)
	raw := (*bytes.Buffer)(unsafe.Add(base, b.rawInput))
	in := (*bytes.Reader)(unsafe.Add(base, b.input))
	hand := (*bytes.Buffer)(unsafe.Add(base, b.hand))
	if raw.Len() == 0 && in.Len() == 0 {
		*raw = bytes.Buffer{}
		in.Reset(nil)
	}
	if hand.Len() == 0 {
		*hand = bytes.Buffer{}
	}
}
