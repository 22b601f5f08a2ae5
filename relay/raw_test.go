//go:build unix

package relay

import (
	"errors"
	"io"
	"net"
	"testing"
	"time"
)

// TestRawRead checks the read that lets a relay direction skip the EAGAIN read after draining a socket: a short read
// marks the socket drained, a drained socket is not read again until the caller resets the mark (after a readiness
// edge), an empty socket says errDrained, and a closed peer io.EOF.
func TestRawRead(t *testing.T) {
	tests := []struct {
		name        string
		send        []byte // written by the peer before the read
		closePeer   bool
		drained     bool // the mark before the read
		bufLen      int
		wantN       int
		wantErr     error
		wantDrained bool
	}{
		{name: "short read drains", send: []byte("hello"), bufLen: 64, wantN: 5, wantDrained: true},
		{name: "full buffer may leave more", send: []byte("0123456789"), bufLen: 4, wantN: 4},
		{name: "marked drained: no read", send: []byte("hello"), drained: true, bufLen: 64, wantErr: errDrained,
			wantDrained: true},
		{name: "empty socket", bufLen: 64, wantErr: errDrained, wantDrained: true},
		{name: "peer closed", closePeer: true, bufLen: 64, wantErr: io.EOF},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			defer ln.Close()
			peer, err := net.Dial("tcp", ln.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			defer peer.Close()
			c, err := ln.Accept()
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if len(tt.send) > 0 {
				if _, err := peer.Write(tt.send); err != nil {
					t.Fatal(err)
				}
			}
			if tt.closePeer {
				peer.Close()
			}
			time.Sleep(20 * time.Millisecond) // loopback delivery
			rc := rawConnOf(c)
			if rc == nil {
				t.Fatal("no raw connection")
			}
			drained := tt.drained
			buf := make([]byte, tt.bufLen)
			var n int
			var rerr error
			if err := rc.Read(func(fd uintptr) bool {
				n, rerr = rawRead(fd, buf, &drained, c)
				return true
			}); err != nil {
				t.Fatal(err)
			}
			if n != tt.wantN || !errors.Is(rerr, tt.wantErr) || drained != tt.wantDrained {
				t.Fatalf("rawRead = %d, %v, drained %v; want %d, %v, drained %v", n, rerr, drained, tt.wantN,
					tt.wantErr, tt.wantDrained)
			}
			if tt.wantN > 0 && string(buf[:n]) != string(tt.send[:n]) {
				t.Fatalf("read %q, want %q", buf[:n], tt.send[:n])
			}
		})
	}
	var ne net.Error
	//lint:ignore SA1019 crypto/tls decides on Temporary whether a read error poisons the connection
	if !errors.As(errDrained, &ne) || !ne.Temporary() {
		t.Fatal("errDrained must be a temporary net.Error, or crypto/tls would poison the connection")
	}
}
