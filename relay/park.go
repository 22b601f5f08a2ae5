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

// park hands the socket to the parker and reports whether the goroutine may end. A parked direction holds no read
// buffer: its small buffer is dropped (wake allocates a new one: a wake-up is rare next to the reads of a busy
// direction, and a pool would keep the buffers of a whole parking wave alive for two more GCs) and so are
// crypto/tls's empty read buffers (releaseTLSReadBuffers): ~4 KiB an idle session (issue 15). Both happen before
// the registration: from then on a wake may start the next reader at once (the parker's mutex orders these writes
// before it).
func (d *direction) park() bool {
	if c, ok := d.src.(*tls.Conn); ok {
		releaseTLSReadBuffers(c)
	}
	d.small = nil
	d.state.Store(dirParked)
	id, err := d.ss.srv.parker.park(d.rc, d.wake)
	if err != nil {
		if !d.state.CompareAndSwap(dirParked, dirRunning) {
			return true // woken or unparked meanwhile (cannot happen without a registration, but be safe)
		}
		d.small = make([]byte, smallBufSize)
		return false
	}
	d.parkID.Store(id)
	d.ss.srv.metrics.parked.Add(1)
	if d.ss.closing.Load() {
		d.unpark() // the session ended while this direction was parking
	}
	if d.state.Load() == dirDone {
		// unpark ran before parkID was stored and could not remove the registration: do it now.
		d.ss.srv.parker.unpark(id)
	}
	return true
}

// wake runs on the parker's goroutine when the socket is readable: restart the direction.
func (d *direction) wake() {
	if d.state.CompareAndSwap(dirParked, dirRunning) {
		d.ss.srv.metrics.parked.Add(-1)
		d.small = make([]byte, smallBufSize)
		go d.run()
	}
}

// unpark ends a parked direction of a closing session.
func (d *direction) unpark() {
	if d.state.CompareAndSwap(dirParked, dirDone) {
		d.ss.srv.metrics.parked.Add(-1)
		if id := d.parkID.Load(); id != 0 {
			d.ss.srv.parker.unpark(id)
		}
		d.ss.finish()
	}
}
