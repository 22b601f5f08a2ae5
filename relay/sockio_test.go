//go:build unix

package relay

import (
	"bytes"
	"crypto/rand"
	"errors"
	"io"
	"net"
	"os"
	"strings"
	"testing"
	"time"
)

// tcpPair returns both ends of a loopback TCP connection.
func tcpPair(t *testing.T) (*net.TCPConn, *net.TCPConn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	type res struct {
		c   net.Conn
		err error
	}
	ch := make(chan res, 1)
	go func() { c, err := ln.Accept(); ch <- res{c, err} }()
	a, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	r := <-ch
	if r.err != nil {
		t.Fatal(r.err)
	}
	t.Cleanup(func() { a.Close(); r.c.Close() })
	return a.(*net.TCPConn), r.c.(*net.TCPConn)
}

// A write larger than the socket buffers waits for the reader (EAGAIN, then the poller) and delivers every byte in
// order.
func TestSockWriterWaitsForSlowReader(t *testing.T) {
	a, b := tcpPair(t)
	w := socketWriter(a)
	if w == nil {
		t.Fatal("no socket writer for a TCP connection")
	}
	want := make([]byte, 8<<20)
	rand.Read(want) //nolint:errcheck
	got := make(chan []byte, 1)
	go func() {
		time.Sleep(100 * time.Millisecond) // let the writer fill both socket buffers first
		b.SetReadDeadline(time.Now().Add(20 * time.Second))
		data, _ := io.ReadAll(io.LimitReader(b, int64(len(want))))
		got <- data
	}()
	n, err := w.Write(want)
	if err != nil || n != len(want) {
		t.Fatalf("Write = %d, %v; want %d, nil", n, err, len(want))
	}
	if data := <-got; !bytes.Equal(data, want) {
		t.Fatalf("the reader got %d bytes, not the %d written (or not in order)", len(data), len(want))
	}
}

// A write to a socket nobody reads ends at the write deadline (injected close frames rely on it), and a write to a
// closed connection fails naming the write.
func TestSockWriterDeadlineAndClose(t *testing.T) {
	a, _ := tcpPair(t)
	w := socketWriter(a)
	a.SetWriteDeadline(time.Now().Add(100 * time.Millisecond))
	start := time.Now()
	n, err := w.Write(make([]byte, 64<<20))
	if !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("Write to an unread socket = %d, %v; want the deadline error", n, err)
	}
	if n <= 0 || n >= 64<<20 {
		t.Fatalf("Write reported %d bytes written: want part of the buffer (what the socket took)", n)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("the deadline took %v to end the write", d)
	}
	a.Close()
	if _, err := w.Write([]byte("x")); err == nil || !strings.Contains(err.Error(), "closed") {
		t.Fatalf("Write after Close = %v; want a closed-connection error", err)
	}
}

// A peer that resets the connection makes the write fail with the system's error, as net.Conn.Write would.
func TestSockWriterReset(t *testing.T) {
	a, b := tcpPair(t)
	b.SetLinger(0) //nolint:errcheck // close with RST
	b.Close()
	w := socketWriter(a)
	deadline := time.Now().Add(5 * time.Second)
	var err error
	for i := 0; err == nil && time.Now().Before(deadline) && i < 1000; i++ {
		_, err = w.Write([]byte("after the reset"))
		time.Sleep(time.Millisecond)
	}
	if err == nil || !strings.Contains(err.Error(), "write") {
		t.Fatalf("Write to a reset connection = %v; want a write error", err)
	}
}
