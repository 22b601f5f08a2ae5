//go:build unix

package relay

import (
	"io"
	"net"
	"os"
	"syscall"
)

// sockWriter writes to a relayed connection's socket with write(2) inside RawConn.Write: the poller still waits
// when the socket is full and still honours write deadlines and Close, but the write itself goes through sysWrite
// (see sockio_linux.go). Callers serialize Write (the session's write mutexes; crypto/tls's own for the client).
type sockWriter struct {
	rc   syscall.RawConn
	conn net.Conn // names the connection in errors
	p    []byte
	n    int
	err  error
	step func(uintptr) bool // w.writeSome, bound once so that a write allocates nothing
}

// socketWriter returns a writer for the socket under c, or nil when c has none (then write through c).
func socketWriter(c net.Conn) io.Writer {
	rc := rawConnOf(c)
	if rc == nil {
		return nil
	}
	w := &sockWriter{rc: rc, conn: c}
	w.step = w.writeSome
	return w
}

// Write writes all of p, waiting for the socket when it is full, as net.Conn.Write does.
func (w *sockWriter) Write(p []byte) (int, error) {
	w.p, w.n, w.err = p, 0, nil
	err := w.rc.Write(w.step)
	n := w.n
	if w.err != nil {
		err = w.err
	}
	w.p, w.err = nil, nil
	return n, err
}

// writeSome writes what it can of the rest of w.p and reports whether it is done (written, or failed): false asks
// RawConn.Write to wait until the socket is writable.
func (w *sockWriter) writeSome(fd uintptr) bool {
	for w.n < len(w.p) {
		m, errno := sysWrite(fd, w.p[w.n:])
		switch errno {
		case 0:
			w.n += m
		case syscall.EINTR:
		case syscall.EAGAIN:
			return false
		default:
			w.err = &net.OpError{Op: "write", Net: "tcp", Source: w.conn.LocalAddr(), Addr: w.conn.RemoteAddr(),
				Err: os.NewSyscallError("write", errno)}
			return true
		}
	}
	return true
}
