package relay

import (
	"runtime"
	"runtime/debug"
	rtmetrics "runtime/metrics"
	"time"
)

// The memory policy of a running relay (see ReleaseMemoryWhenQuiet).
const (
	// releaseCheck is how often the relay looks at its allocation rate.
	releaseCheck = 250 * time.Millisecond
	// quietAlloc is the allocation within one releaseCheck under which the relay counts as quiet (1 MiB/s):
	// parked sessions, pings and the file watcher allocate far less.
	quietAlloc = 256 << 10
	// burstAlloc is the allocation since the last release that makes a release worth a forced GC.
	burstAlloc = 16 << 20
	// goroutineDrop is the fall of the goroutine count from its peak since the last release that makes a release
	// worth a forced GC too: the stacks of ended goroutines (relay directions that parked, two per session, a
	// defaultIdleAfter after the burst that opened them) are free memory the process keeps until a GC and a
	// release hand it back. 1024 goroutines: at least 2 MiB of stacks, 8 MiB for a relay direction's.
	goroutineDrop = 1024
)

// ReleaseMemoryWhenQuiet starts the relay's memory policy for a process run at the default GC target (GOGC=100: a
// tighter one costs handshake CPU, docs/benchmarks.md: GOGC=50 took ~3% of the handshake rate). The heap may then
// grow to twice its live size, so once a burst of work is over the garbage is handed back: thousands of idle
// sessions cost their live size, not the GC's headroom nor the stacks their directions had before they parked. It
// returns a function that stops the policy and waits for it to end. The policy is process-wide (it reads the
// runtime's allocation and goroutine counters): start it once per process.
func ReleaseMemoryWhenQuiet() (stop func()) {
	quit, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		releaseWhenQuiet(quit, releaseCheck)
	}()
	return func() {
		close(quit)
		<-done
	}
}

// releaseWhenQuiet returns the heap's free memory to the operating system (debug.FreeOSMemory: a GC, then the
// free pages released) when the relay has gone quiet after allocating at least burstAlloc, or after goroutineDrop
// goroutines ended, since the last release. While the relay is busy the GC runs at its default target and costs no
// extra CPU; a forced GC comes at most once per burst (and once more when the directions it opened park), when
// nothing else needs the CPU. It returns when stop is closed.
func releaseWhenQuiet(stop <-chan struct{}, every time.Duration) {
	s := []rtmetrics.Sample{{Name: "/gc/heap/allocs:bytes"}}
	allocs := func() uint64 {
		rtmetrics.Read(s)
		if s[0].Value.Kind() != rtmetrics.KindUint64 {
			return 0
		}
		return s[0].Value.Uint64()
	}
	last := allocs()
	released := last
	peak := runtime.NumGoroutine() // since the last release
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
		}
		now := allocs()
		g := runtime.NumGoroutine()
		peak = max(peak, g)
		if now-last < quietAlloc && (now-released >= burstAlloc || peak-g >= goroutineDrop) {
			debug.FreeOSMemory()
			now = allocs()
			released = now
			peak = g
		}
		last = now
	}
}
