package relay

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"io"
	"net"
	"testing"
	"time"
	"unsafe"
)

// TestTLSReadBuffersFound: this Go's crypto/tls.Conn has the read buffers releaseTLSReadBuffers releases. If a Go
// release renames or retypes them, the relay still works but idle sessions keep them again: update tlstrim.go.
func TestTLSReadBuffersFound(t *testing.T) {
	if !tlsBuffers.ok {
		t.Fatal("crypto/tls.Conn has no rawInput/hand bytes.Buffer and input bytes.Reader any more: update tlstrim.go")
	}
}

// tlsPair returns the two ends of a TLS connection over loopback TCP, handshake done, and the server's TCP socket.
func tlsPair(t *testing.T) (srv, cli *tls.Conn, srvTCP net.Conn, cliTCP net.Conn) {
	t.Helper()
	p := getPKI(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	cliTCP, err = net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cliTCP.Close() })
	srvTCP, err = ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srvTCP.Close() })
	pool := x509.NewCertPool()
	pool.AddCert(p.root.Cert)
	srv = tls.Server(srvTCP, &tls.Config{Certificates: []tls.Certificate{p.server}})
	cli = tls.Client(cliTCP, &tls.Config{RootCAs: pool, ServerName: "127.0.0.1"})
	errc := make(chan error, 1)
	go func() { errc <- cli.Handshake() }()
	if err := srv.Handshake(); err != nil {
		t.Fatal(err)
	}
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	return srv, cli, srvTCP, cliTCP
}

// readBufCaps returns the capacity of c's rawInput and hand and the length of rawInput.
func readBufCaps(c *tls.Conn) (rawCap, rawLen, handCap int) {
	raw := (*bytes.Buffer)(unsafe.Add(unsafe.Pointer(c), tlsBuffers.rawInput))
	hand := (*bytes.Buffer)(unsafe.Add(unsafe.Pointer(c), tlsBuffers.hand))
	return raw.Cap(), raw.Len(), hand.Cap()
}

// TestReleaseTLSReadBuffers: after a large record the read buffers are released, and the connection still reads
// what comes next; a partial record waiting in the buffer is kept.
func TestReleaseTLSReadBuffers(t *testing.T) {
	if !tlsBuffers.ok {
		t.Skip("see TestTLSReadBuffersFound")
	}
	srv, cli, srvTCP, cliTCP := tlsPair(t)
	big := bytes.Repeat([]byte("x"), 16<<10)
	go cli.Write(big) //nolint:errcheck
	if _, err := io.ReadFull(srv, make([]byte, len(big))); err != nil {
		t.Fatal(err)
	}
	if rawCap, _, _ := readBufCaps(srv); rawCap < 4<<10 {
		t.Fatalf("rawInput holds %d bytes after 16 KiB of records, want more (is this still the buffer?)", rawCap)
	}
	releaseTLSReadBuffers(srv)
	if rawCap, _, handCap := readBufCaps(srv); rawCap != 0 || handCap != 0 {
		t.Fatalf("after release: rawInput cap %d, hand cap %d, want 0", rawCap, handCap)
	}
	go cli.Write([]byte("after")) //nolint:errcheck
	got := make([]byte, 5)
	if _, err := io.ReadFull(srv, got); err != nil || string(got) != "after" {
		t.Fatalf("read after release: %q, %v", got, err)
	}

	// Half a record header on the wire: the read times out with it buffered, and it must stay.
	if _, err := cliTCP.Write([]byte{0x17, 0x03}); err != nil {
		t.Fatal(err)
	}
	srvTCP.SetReadDeadline(time.Now().Add(200 * time.Millisecond)) //nolint:errcheck
	if _, err := srv.Read(make([]byte, 10)); !isTimeout(err) {
		t.Fatalf("read of half a header: %v, want a timeout", err)
	}
	releaseTLSReadBuffers(srv)
	if _, rawLen, _ := readBufCaps(srv); rawLen != 2 {
		t.Fatalf("after release: rawInput holds %d bytes, want the 2 of the partial header", rawLen)
	}
}
