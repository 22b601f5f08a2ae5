//go:build unix

package relay

import (
	"io"
	"net"
	"os"
	"syscall"
)

// rawReads reports whether rawRead can read a socket here: it can on every Unix.
const rawReads = true

// rawRead reads the non-blocking socket fd into p, unless *drained says it is empty. A read that returns less than
// len(p) has emptied the socket's receive queue: it sets *drained. c names the connection in errors.
func rawRead(fd uintptr, p []byte, drained *bool, c net.Conn) (int, error) {
	if *drained {
		return 0, errDrained
	}
	for {
		n, errno := sysRead(fd, p)
		switch {
		case errno == syscall.EINTR:
			continue
		case errno == syscall.EAGAIN:
			*drained = true
			return 0, errDrained
		case errno != 0:
			return 0, &net.OpError{Op: "read", Net: "tcp", Source: c.LocalAddr(), Addr: c.RemoteAddr(),
				Err: os.NewSyscallError("read", errno)}
		case n == 0:
			return 0, io.EOF
		}
		if n < len(p) {
			*drained = true
		}
		return n, nil
	}
}
