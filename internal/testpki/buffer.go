package testpki

import (
	"bytes"
	"sync"
)

// Buffer is a bytes.Buffer safe for concurrent use: the relay's log (shown when a test fails) and the output of
// child processes are written from other goroutines than the test's.
type Buffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

// Write appends p.
func (s *Buffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

// String returns what was written so far.
func (s *Buffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
