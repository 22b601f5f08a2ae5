package enroll

import (
	"sync"
	"time"
)

// FailLimit refused requests without a valid certificate (wrong tokens, no token, a revoked or foreign
// certificate) per address within FailWindow, then renewals and enrollments without a valid certificate are
// answered 429, unaudited, until the window is over: a 128-bit token cannot be guessed, but the limit keeps a
// guesser from loading the CA and from filling the audit log. Holders with a valid certificate are not limited.
const (
	FailLimit  = 5
	FailWindow = time.Minute
)

// maxTracked bounds the limiter's memory; when it is full, the oldest windows are forgotten first.
const maxTracked = 10000

type failLimiter struct {
	limit  int
	window time.Duration
	mu     sync.Mutex
	fails  map[string]*failWindow
}

type failWindow struct {
	start time.Time
	n     int
}

func newFailLimiter(limit int, window time.Duration) *failLimiter {
	return &failLimiter{limit: limit, window: window, fails: make(map[string]*failWindow)}
}

// allow reports whether addr may try a token now.
func (l *failLimiter) allow(addr string, now time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	f := l.fails[addr]
	if f == nil || now.Sub(f.start) >= l.window {
		return true
	}
	return f.n < l.limit
}

// fail counts a failed attempt from addr.
func (l *failLimiter) fail(addr string, now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	f := l.fails[addr]
	if f == nil || now.Sub(f.start) >= l.window {
		if len(l.fails) >= maxTracked {
			for a, w := range l.fails {
				if now.Sub(w.start) >= l.window {
					delete(l.fails, a)
				}
			}
			if len(l.fails) >= maxTracked {
				return // under a flood from many addresses the limit lapses rather than the memory
			}
		}
		f = &failWindow{start: now}
		l.fails[addr] = f
	}
	f.n++
}
