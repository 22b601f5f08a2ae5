package relay

import (
	"crypto/tls"
	"errors"
	"net"
	"os"
	"syscall"
	"time"
)

// defaultIdleAfter is how long a relay direction waits for data in a Read before it parks: its goroutine exits and the
// socket is handed to the server's parker, which starts a new goroutine when data arrives. An idle WebSocket then
// costs no goroutine at all (two 4 KiB stacks saved), only its connection state.
const defaultIdleAfter = 2 * time.Second

// Direction states.
const (
	dirRunning int32 = iota
	dirParked
	dirDone
)

// rawConnOf returns the syscall.RawConn of the socket under c (through TLS and the relay's connection wrapper), or
// nil when there is none.
func rawConnOf(c net.Conn) syscall.RawConn {
	for {
		switch v := c.(type) {
		case *tls.Conn:
			c = v.NetConn()
			continue
		case *trackedConn:
			c = v.Conn
			continue
		}
		break
	}
	sc, ok := c.(syscall.Conn)
	if !ok {
		return nil
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return nil
	}
	return rc
}

func isTimeout(err error) bool { return err != nil && errors.Is(err, os.ErrDeadlineExceeded) }
