//go:build linux

package main

import (
	"bufio"
	"crypto/rand"
	"crypto/sha1"
	"crypto/tls"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"
)

// A minimal RFC 6455 WebSocket, just enough for an echo server and a load generator: one frame per message
// (continuations are echoed as they come), no extensions. The library-free version keeps the harness's own
// cost per message small and the same for every peer.

const (
	opText   = 0x1
	opBinary = 0x2
	opClose  = 0x8
	opPing   = 0x9
	opPong   = 0xA

	// maxFrame bounds a frame the harness accepts (RFC 6455 §5.2 allows 2^63; we never send more than 1 MiB).
	maxFrame = 16 << 20
	// wsGUID is the RFC 6455 §1.3 key suffix.
	wsGUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
)

// errNotUpgraded reports a server that answered the upgrade with something other than 101: how nginx (400)
// and wsca (403) refuse a client after the TLS handshake.
var errNotUpgraded = errors.New("WebSocket upgrade refused")

func acceptKey(key string) string {
	h := sha1.Sum([]byte(key + wsGUID))
	return base64.StdEncoding.EncodeToString(h[:])
}

// wsConn is one WebSocket connection. It is not safe for concurrent writers or concurrent readers; one
// reader and one writer may run at once.
type wsConn struct {
	c      net.Conn
	br     *bufio.Reader
	bw     *bufio.Writer
	client bool    // clients mask what they send (RFC 6455 §5.3)
	mask   [4]byte // per connection: the harness measures relays, not its own XOR
	hdr    [14]byte
	rbuf   []byte
	wbuf   []byte
}

func newWSConn(c net.Conn, br *bufio.Reader, client bool) *wsConn {
	w := &wsConn{c: c, br: br, bw: bufio.NewWriterSize(c, 4096), client: client}
	if client {
		_, _ = rand.Read(w.mask[:])
	}
	return w
}

// dialWS opens a TLS connection to addr and upgrades it to a WebSocket on path. The whole exchange is bounded
// by timeout. A refused client certificate shows up here: as a TLS alert during the handshake or on the first
// read (TLS 1.3), or as a non-101 answer.
func dialWS(addr, path string, conf *tls.Config, timeout time.Duration) (*wsConn, error) {
	return dialWSFrom(nil, addr, path, conf, timeout)
}

// dialWSFrom is dialWS from the local address local (nil: the kernel's choice): the sessions workload spreads its
// connections over 127.0.0.x source addresses, each with its own ephemeral ports.
func dialWSFrom(local net.Addr, addr, path string, conf *tls.Config, timeout time.Duration) (*wsConn, error) {
	d := net.Dialer{Timeout: timeout, LocalAddr: local}
	raw, err := d.Dial("tcp", addr)
	if err != nil {
		return nil, err
	}
	_ = raw.SetDeadline(time.Now().Add(timeout))
	c := tls.Client(raw, conf)
	if err := c.Handshake(); err != nil {
		raw.Close()
		return nil, fmt.Errorf("TLS handshake: %w", err)
	}
	var k [16]byte
	_, _ = rand.Read(k[:])
	key := base64.StdEncoding.EncodeToString(k[:])
	req := "GET " + path + " HTTP/1.1\r\nHost: " + addr + "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Key: " + key + "\r\nSec-WebSocket-Version: 13\r\n\r\n"
	if _, err := io.WriteString(c, req); err != nil {
		c.Close()
		return nil, fmt.Errorf("sending the upgrade: %w", err)
	}
	br := bufio.NewReaderSize(c, 4096)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		c.Close()
		return nil, fmt.Errorf("reading the upgrade answer: %w", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSwitchingProtocols {
		c.Close()
		return nil, fmt.Errorf("%w: %s", errNotUpgraded, resp.Status)
	}
	if resp.Header.Get("Sec-WebSocket-Accept") != acceptKey(key) {
		c.Close()
		return nil, fmt.Errorf("%w: bad Sec-WebSocket-Accept", errNotUpgraded)
	}
	_ = raw.SetDeadline(time.Time{})
	return newWSConn(c, br, true), nil
}

// acceptWS answers an upgrade request on c (server side). A request that is not an upgrade gets a 200 with
// a short body, so that health checks work, and an error.
func acceptWS(c net.Conn) (*wsConn, error) {
	br := bufio.NewReaderSize(c, 4096)
	req, err := http.ReadRequest(br)
	if err != nil {
		return nil, err
	}
	key := req.Header.Get("Sec-WebSocket-Key")
	if !strings.EqualFold(req.Header.Get("Upgrade"), "websocket") || key == "" {
		_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nConnection: close\r\n\r\nok\n")
		return nil, errors.New("not a WebSocket upgrade")
	}
	resp := "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: " +
		acceptKey(key) + "\r\n\r\n"
	if _, err := io.WriteString(c, resp); err != nil {
		return nil, err
	}
	return newWSConn(c, br, false), nil
}

// writeFrame sends one frame; fin false leaves the message open for continuations.
func (w *wsConn) writeFrame(op byte, fin bool, p []byte) error {
	h := w.hdr[:0]
	b0 := op
	if fin {
		b0 |= 0x80
	}
	h = append(h, b0)
	var m byte
	if w.client {
		m = 0x80
	}
	switch n := len(p); {
	case n < 126:
		h = append(h, m|byte(n))
	case n <= 0xffff:
		h = append(h, m|126, byte(n>>8), byte(n))
	default:
		h = append(h, m|127)
		h = binary.BigEndian.AppendUint64(h, uint64(n))
	}
	if w.client {
		h = append(h, w.mask[:]...)
	}
	if _, err := w.bw.Write(h); err != nil {
		return err
	}
	if !w.client {
		if _, err := w.bw.Write(p); err != nil {
			return err
		}
		return w.bw.Flush()
	}
	if cap(w.wbuf) < 32<<10 {
		w.wbuf = make([]byte, 32<<10)
	}
	for off := 0; off < len(p); {
		k := copy(w.wbuf[:cap(w.wbuf)], p[off:])
		maskBytes(w.wbuf[:k], w.mask, off)
		if _, err := w.bw.Write(w.wbuf[:k]); err != nil {
			return err
		}
		off += k
	}
	return w.bw.Flush()
}

// maskBytes XORs b with the mask, b starting at offset off of the payload (RFC 6455 §5.3).
func maskBytes(b []byte, mask [4]byte, off int) {
	var m [8]byte
	for i := range m {
		m[i] = mask[(off+i)%4]
	}
	word := binary.LittleEndian.Uint64(m[:])
	i := 0
	for ; i+8 <= len(b); i += 8 {
		binary.LittleEndian.PutUint64(b[i:], binary.LittleEndian.Uint64(b[i:])^word)
	}
	for ; i < len(b); i++ {
		b[i] ^= mask[(off+i)%4]
	}
}

// readFrame reads one frame. The payload aliases an internal buffer valid until the next readFrame.
func (w *wsConn) readFrame() (op byte, fin bool, p []byte, err error) {
	var h [8]byte
	if _, err = io.ReadFull(w.br, h[:2]); err != nil {
		return 0, false, nil, err
	}
	op, fin = h[0]&0x0f, h[0]&0x80 != 0
	masked := h[1]&0x80 != 0
	n := uint64(h[1] & 0x7f)
	switch n {
	case 126:
		if _, err = io.ReadFull(w.br, h[:2]); err != nil {
			return 0, false, nil, err
		}
		n = uint64(binary.BigEndian.Uint16(h[:2]))
	case 127:
		if _, err = io.ReadFull(w.br, h[:8]); err != nil {
			return 0, false, nil, err
		}
		n = binary.BigEndian.Uint64(h[:8])
	}
	if n > maxFrame {
		return 0, false, nil, fmt.Errorf("frame of %d bytes is over the %d limit", n, maxFrame)
	}
	var key [4]byte
	if masked {
		if _, err = io.ReadFull(w.br, key[:]); err != nil {
			return 0, false, nil, err
		}
	}
	if uint64(cap(w.rbuf)) < n {
		w.rbuf = make([]byte, n)
	}
	p = w.rbuf[:n]
	if _, err = io.ReadFull(w.br, p); err != nil {
		return 0, false, nil, err
	}
	if masked {
		maskBytes(p, key, 0)
	}
	return op, fin, p, nil
}

// readMessage reads the next data message, answering pings, and fails on a close frame.
func (w *wsConn) readMessage() ([]byte, error) {
	for {
		op, _, p, err := w.readFrame()
		if err != nil {
			return nil, err
		}
		switch op {
		case opPing:
			if err := w.writeFrame(opPong, true, p); err != nil {
				return nil, err
			}
		case opPong:
		case opClose:
			return nil, fmt.Errorf("closed by peer (%d bytes of close frame)", len(p))
		default:
			return p, nil
		}
	}
}

// close sends a close frame (1000) and closes the connection without waiting for the answer.
func (w *wsConn) close() {
	_ = w.c.SetWriteDeadline(time.Now().Add(time.Second))
	_ = w.writeFrame(opClose, true, []byte{0x03, 0xe8})
	w.c.Close()
}

// echo serves one upgraded connection: every data frame goes back as it came, pings are answered, a close is
// returned and ends the loop.
func (w *wsConn) echo() error {
	for {
		op, fin, p, err := w.readFrame()
		if err != nil {
			return err
		}
		switch op {
		case opClose:
			_ = w.writeFrame(opClose, true, p)
			return nil
		case opPing:
			err = w.writeFrame(opPong, true, p)
		case opPong:
		default:
			err = w.writeFrame(op, fin, p)
		}
		if err != nil {
			return err
		}
	}
}
