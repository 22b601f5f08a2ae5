//go:build linux

package main

import (
	"bufio"
	"bytes"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestAcceptKey(t *testing.T) {
	// RFC 6455 §1.3's example.
	if got := acceptKey("dGhlIHNhbXBsZSBub25jZQ=="); got != "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=" {
		t.Errorf("acceptKey = %q", got)
	}
}

func TestMaskBytes(t *testing.T) {
	mask := [4]byte{1, 2, 3, 4}
	for _, n := range []int{0, 1, 7, 8, 9, 33, 1000} {
		for _, off := range []int{0, 1, 2, 3, 4, 32768} {
			p := bytes.Repeat([]byte{0xaa}, n)
			want := make([]byte, n)
			for i := range want {
				want[i] = 0xaa ^ mask[(off+i)%4]
			}
			maskBytes(p, mask, off)
			if !bytes.Equal(p, want) {
				t.Fatalf("n=%d off=%d: wrong mask", n, off)
			}
		}
	}
}

// TestEchoRoundTrip runs the echo server and a masking client over an in-memory connection, across every
// length encoding of RFC 6455 §5.2, and the close handshake.
func TestEchoRoundTrip(t *testing.T) {
	cli, srv := net.Pipe()
	defer cli.Close()
	done := make(chan error, 1)
	go func() {
		defer srv.Close()
		ws, err := acceptWS(srv)
		if err != nil {
			done <- err
			return
		}
		done <- ws.echo()
	}()
	_ = cli.SetDeadline(time.Now().Add(10 * time.Second))
	req := "GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
	go func() { _, _ = io.WriteString(cli, req) }()
	br := bufio.NewReader(cli)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 101 || resp.Header.Get("Sec-WebSocket-Accept") != "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=" {
		t.Fatalf("upgrade answer %s %v", resp.Status, resp.Header)
	}
	w := newWSConn(cli, br, true)
	for _, n := range []int{0, 5, 125, 126, 65535, 65536, 1 << 20} {
		msg := bytes.Repeat([]byte{byte(n)}, n)
		errc := make(chan error, 1)
		go func() { errc <- w.writeFrame(opBinary, true, msg) }()
		got, err := w.readMessage()
		if err != nil {
			t.Fatalf("%d bytes: %v", n, err)
		}
		if !bytes.Equal(got, msg) {
			t.Fatalf("%d bytes: echo differs", n)
		}
		if err := <-errc; err != nil {
			t.Fatal(err)
		}
	}
	go func() { _ = w.writeFrame(opClose, true, []byte{0x03, 0xe8}) }()
	if _, err := w.readMessage(); err == nil || !strings.Contains(err.Error(), "closed") {
		t.Errorf("after close: %v, want the close answered", err)
	}
	if err := <-done; err != nil {
		t.Errorf("echo: %v", err)
	}
}

func TestAcceptWSRefusesPlainRequest(t *testing.T) {
	cli, srv := net.Pipe()
	defer cli.Close()
	go func() { _, _ = io.WriteString(cli, "GET / HTTP/1.1\r\nHost: x\r\n\r\n") }()
	go func() { _, _ = io.Copy(io.Discard, cli) }()
	if _, err := acceptWS(srv); err == nil {
		t.Error("acceptWS upgraded a request without Upgrade: websocket")
	}
	srv.Close()
}

func TestReadFrameRejectsHugeFrame(t *testing.T) {
	hdr := []byte{0x82, 127, 0, 0, 0, 0, 0x7f, 0, 0, 0}
	w := newWSConn(nil, bufio.NewReader(bytes.NewReader(hdr)), false)
	if _, _, _, err := w.readFrame(); err == nil {
		t.Error("a 2 GiB frame was accepted")
	}
}

func TestPercentile(t *testing.T) {
	var ds []time.Duration
	for i := 1; i <= 100; i++ {
		ds = append(ds, time.Duration(101-i)*time.Millisecond)
	}
	for _, tt := range []struct {
		p    float64
		want time.Duration
	}{{50, 50 * time.Millisecond}, {99, 99 * time.Millisecond}, {100, 100 * time.Millisecond}} {
		if got := percentile(ds, tt.p); got != tt.want {
			t.Errorf("p%.0f = %v, want %v", tt.p, got, tt.want)
		}
	}
	if percentile(nil, 99) != 0 {
		t.Error("percentile of nothing is not 0")
	}
}

// FuzzReadFrame feeds arbitrary bytes to the frame parser: it must return a frame or an error, never panic,
// and never accept a frame over maxFrame.
func FuzzReadFrame(f *testing.F) {
	f.Add([]byte{0x82, 0x05, 'h', 'e', 'l', 'l', 'o'})
	f.Add([]byte{0x81, 0x85, 1, 2, 3, 4, 'h' ^ 1, 'e' ^ 2, 'l' ^ 3, 'l' ^ 4, 'o' ^ 1})
	f.Add([]byte{0x82, 126, 0x01, 0x00})
	f.Add([]byte{0x82, 127, 0xff, 0, 0, 0, 0, 0, 0, 0})
	f.Add([]byte{0x88, 0x02, 0x03, 0xe8})
	f.Fuzz(func(t *testing.T, data []byte) {
		w := newWSConn(nil, bufio.NewReader(bytes.NewReader(data)), false)
		for range 8 {
			_, _, p, err := w.readFrame()
			if err != nil {
				return
			}
			if len(p) > maxFrame {
				t.Fatalf("accepted a %d-byte frame", len(p))
			}
		}
	})
}
