package relay

import (
	"sync"
	"syscall"
)

// parker waits, in one goroutine and one epoll instance of its own, on the sockets of idle relay directions. Its
// registrations are level-triggered and one-shot: data that arrived before the registration fires at once, so
// nothing is missed between a direction's last read and its parking. Registration and removal run inside
// RawConn.Control, which holds the descriptor open, so a concurrently closed socket can never leave a stale
// registration on a reused descriptor number.
type parker struct {
	epfd    int
	mu      sync.Mutex
	waiters map[uint64]*parkedDir
	next    uint64
	stop    chan struct{}
	done    chan struct{}
}

type parkedDir struct {
	rc   syscall.RawConn
	wake func()
}

// newParker returns a running parker, or nil if epoll is unavailable (directions then block in Read).
func newParker() *parker {
	epfd, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
	if err != nil {
		return nil
	}
	p := &parker{epfd: epfd, waiters: make(map[uint64]*parkedDir), stop: make(chan struct{}), done: make(chan struct{})}
	go p.loop()
	return p
}

// park registers rc; wake runs (on the parker's goroutine: it must not block) once the socket is readable, closed or
// failed. It returns an id for unpark, or an error (the socket is closed, or epoll refused it).
func (p *parker) park(rc syscall.RawConn, wake func()) (uint64, error) {
	p.mu.Lock()
	p.next++
	id := p.next
	p.waiters[id] = &parkedDir{rc: rc, wake: wake}
	p.mu.Unlock()
	ev := syscall.EpollEvent{Events: syscall.EPOLLIN | syscall.EPOLLRDHUP | syscall.EPOLLONESHOT,
		Fd: int32(uint32(id)), Pad: int32(uint32(id >> 32))}
	var cerr error
	err := rc.Control(func(fd uintptr) { cerr = syscall.EpollCtl(p.epfd, syscall.EPOLL_CTL_ADD, int(fd), &ev) })
	if err == nil {
		err = cerr
	}
	if err != nil {
		p.mu.Lock()
		delete(p.waiters, id)
		p.mu.Unlock()
		return 0, err
	}
	return id, nil
}

// unpark removes a registration that has not fired. It reports whether it was still registered.
func (p *parker) unpark(id uint64) bool {
	p.mu.Lock()
	w := p.waiters[id]
	delete(p.waiters, id)
	p.mu.Unlock()
	if w == nil {
		return false
	}
	p.del(w.rc)
	return true
}

func (p *parker) del(rc syscall.RawConn) {
	// A closed socket has left the epoll set by itself; Control then fails, which is fine.
	rc.Control(func(fd uintptr) { syscall.EpollCtl(p.epfd, syscall.EPOLL_CTL_DEL, int(fd), nil) }) //nolint:errcheck
}

func (p *parker) loop() {
	defer close(p.done)
	events := make([]syscall.EpollEvent, 128)
	for {
		select {
		case <-p.stop:
			return
		default:
		}
		// The timeout bounds how long close waits for this loop; it costs five wake-ups a second.
		n, err := syscall.EpollWait(p.epfd, events, 200)
		if err != nil {
			if err == syscall.EINTR {
				continue
			}
			return
		}
		for i := range n {
			id := uint64(uint32(events[i].Fd)) | uint64(uint32(events[i].Pad))<<32
			p.mu.Lock()
			w := p.waiters[id]
			delete(p.waiters, id)
			p.mu.Unlock()
			if w != nil {
				p.del(w.rc)
				w.wake()
			}
		}
	}
}

// close stops the loop and releases the epoll instance. Registered directions must have been unparked.
func (p *parker) close() {
	close(p.stop)
	<-p.done
	syscall.Close(p.epfd) //nolint:errcheck
}
