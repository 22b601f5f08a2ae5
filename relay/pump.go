package relay

import (
	"errors"
	"io"
	"net"
	"sync/atomic"
	"syscall"
	"time"
)

// Relay buffers. An idle WebSocket costs no big buffer: each direction reads into a smallBufSize buffer of its own
// (none while it is parked), and takes a pooled bigBufSize buffer only when a read fills the small one (more data
// is then almost certainly ready: the rest of a TLS record, or of a socket buffer) and only until that data is
// written.
const (
	smallBufSize = 256
	bigBufSize   = 32 << 10
)

// direction is one half of a session's relay. It runs in a goroutine while data flows; after Server.idleAfter
// without data it parks (see parker) and its goroutine ends, to be restarted when the socket becomes readable.
type direction struct {
	ss         *session
	src        net.Conn
	write      func([]byte) error
	small      []byte
	count      *atomic.Int64
	fromClient bool
	rc         syscall.RawConn // nil: never parks
	// raw is the socket of the source when readRaw can serve it: a plain TCP backend (ws://), or the client's TLS
	// connection through rawTLS.
	raw    syscall.RawConn
	rawTLS *trackedConn
	state  atomic.Int32 // dirRunning, dirParked, dirDone
	// armedAt is *count when the idle deadline was last armed (see armDeadline); only the running goroutine uses it.
	armedAt int64
	parkID  atomic.Uint64
}

// run copies src to write until either fails, or until src stays idle and the direction parks.
func (d *direction) run() {
	var deadline time.Time // the read deadline in force while d.rc != nil; zero: to be armed
	var err error
	for {
		d.armDeadline(&deadline)
		var n int
		var rerr error
		if d.raw != nil {
			rerr = d.readRaw()
		} else {
			n, err, rerr = d.pass(d.src.Read)
		}
		if n == 0 && d.rc != nil && isTimeout(rerr) {
			if d.count.Load() != d.armedAt {
				deadline = time.Time{} // data flowed since the deadline was armed: not idle, arm it again
				continue
			}
			// Idle. A timeout leaves crypto/tls usable (it is a temporary error; a partial record is kept),
			// and it only happens when TLS holds no complete record, so waiting on the socket is safe.
			d.src.SetReadDeadline(time.Time{}) //nolint:errcheck
			if d.park() {
				return
			}
			d.rc = nil // cannot park: block in Read from now on
			continue
		}
		if isTimeout(rerr) {
			rerr = nil // the idle deadline: no more data for now
		}
		if err == nil {
			err = rerr
		}
		if err != nil {
			break
		}
	}
	d.end(err)
}

// end records why the direction stopped and finishes its half of the session.
func (d *direction) end(err error) {
	ss := d.ss
	side := "backend"
	if d.fromClient {
		side = "client"
	}
	if errors.Is(err, io.EOF) {
		ss.setWhy(side + " closed")
	} else {
		ss.setWhy(side + ": " + err.Error())
	}
	d.state.Store(dirDone)
	ss.finish()
}

// armDeadline sets the idle read deadline of a direction that can park, when none is set, and notes the bytes
// relayed so far. The deadline is not moved while data flows (that would cost a clock read per message and a
// timer update now and then): it is set half of idleAfter ahead, and when it fires run compares the bytes relayed
// with the count noted here and sets it again if any flowed. A busy direction pays one timer every idleAfter/2; an
// idle one parks after ½–1 idleAfter without data.
func (d *direction) armDeadline(deadline *time.Time) {
	if d.rc == nil || !deadline.IsZero() {
		return
	}
	*deadline = time.Now().Add(d.ss.srv.idleAfter / 2)
	d.armedAt = d.count.Load()
	d.src.SetReadDeadline(*deadline) //nolint:errcheck // a failed deadline shows in the next read or wait
}

// pass reads once with read into the small buffer and, when that fills it, once more into a pooled big buffer
// (more data is then almost certainly waiting: the rest of a TLS record or of a socket buffer), and relays what
// it read. It returns the bytes read, the relay's error and the last read's error.
func (d *direction) pass(read func([]byte) (int, error)) (n int, werr, rerr error) {
	buf := d.small
	n, rerr = read(buf)
	var bp *[]byte
	if rerr == nil && n == len(buf) {
		bp = d.ss.srv.bufs.Get().(*[]byte)
		buf = *bp
		copy(buf, d.small)
		var m int
		m, rerr = read(buf[n:])
		n += m
	}
	if n > 0 {
		werr = d.relay(buf[:n])
	}
	if bp != nil {
		d.ss.srv.bufs.Put(bp)
	}
	return n, werr, rerr
}

// relay accounts for p, read from the source, and writes it to the destination.
func (d *direction) relay(p []byte) error {
	ss := d.ss
	n := len(p)
	d.count.Add(int64(n))
	if d.fromClient {
		ss.heard.Store(true)
		ss.srv.metrics.bytesIn.Add(uint64(n))
	} else {
		ss.srv.metrics.bytesOut.Add(uint64(n))
	}
	if ss.idle != nil {
		ss.last.Store(time.Now().UnixNano())
	}
	return d.write(p)
}

// readRaw relays the source until it fails, ends, or (with a deadline) stays idle: the error says which, as
// d.src.Read would. It waits for the socket inside one RawConn.Read, so that a read which drained the socket (it
// returned less than asked) is followed by a wait for the next readiness edge instead of another read that could
// only fail with EAGAIN: one system call less per message and direction, the saving nginx makes too. Edges that
// arrive between a read and the wait are kept by the runtime's poller (only a new RawConn.Read or Read resets
// them), so no data is missed. A plain TCP source is read here with read(2); a TLS source through crypto/tls, whose
// reads of the socket land in trackedConn.Read in raw mode (see rawRead).
func (d *direction) readRaw() error {
	var err error
	var fd uintptr
	drained := false
	read := func(p []byte) (int, error) { return rawRead(fd, p, &drained, d.src) }
	if tc := d.rawTLS; tc != nil {
		read = d.src.Read
		tc.raw = true
		defer func() { tc.raw = false }()
	}
	rerr := d.raw.Read(func(f uintptr) bool {
		fd, drained = f, false // called first, and after each readiness edge
		if tc := d.rawTLS; tc != nil {
			tc.rawFD, tc.drained = f, false
		}
		for {
			_, werr, e := d.pass(read)
			switch {
			case werr != nil:
				err = werr
				return true
			case errors.Is(e, errDrained):
				return false // wait for the next edge
			case e != nil:
				err = e
				return true
			}
		}
	})
	if err != nil {
		return err
	}
	return rerr // the deadline, or the socket closed under the wait
}

// errDrained is what rawRead returns instead of reading a socket known to be empty, or when read(2) says EAGAIN.
// It is a temporary net.Error, so crypto/tls keeps its state (as it does on a deadline) and can be read again.
var errDrained error = drainedError{}

type drainedError struct{}

func (drainedError) Error() string   { return "relay: socket drained" }
func (drainedError) Timeout() bool   { return true }
func (drainedError) Temporary() bool { return true }
