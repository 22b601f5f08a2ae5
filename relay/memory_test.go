package relay

import (
	"runtime"
	"sync"
	"testing"
	"time"
)

// TestReleaseWhenQuiet: after a burst of allocation, a quiet process gets a forced GC (debug.FreeOSMemory) within a
// few checks; nothing else collects while nothing allocates. The stop function ends the goroutine.
func TestReleaseWhenQuiet(t *testing.T) {
	startReleaseWhenQuiet(t)
	time.Sleep(30 * time.Millisecond) // the first sample
	for range 2 * burstAlloc / (1 << 20) {
		runtime.KeepAlive(make([]byte, 1<<20)) // 1 MiB: on the heap, garbage at once
	}
	before := forcedGCs()
	if !waitForcedGC(before, 5*time.Second) {
		t.Fatalf("no forced GC within 5s of going quiet after %d MiB", 2*burstAlloc>>20)
	}
}

// startReleaseWhenQuiet runs the memory policy with a 20 ms period until the test ends.
func startReleaseWhenQuiet(t *testing.T) {
	stop, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		releaseWhenQuiet(stop, 20*time.Millisecond)
	}()
	t.Cleanup(func() {
		close(stop)
		<-done
	})
}

func forcedGCs() uint32 {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.NumForcedGC
}

// waitForcedGC reports whether a forced GC happens, after the count before, within limit.
func waitForcedGC(before uint32, limit time.Duration) bool {
	for deadline := time.Now().Add(limit); time.Now().Before(deadline); {
		time.Sleep(50 * time.Millisecond)
		if forcedGCs() > before {
			return true
		}
	}
	return false
}

// TestReleaseWhenGoroutinesEnd: when many goroutines end (relay directions parking a while after the burst that
// opened their sessions) a quiet process gets a forced GC too, with no allocation burst: their stacks are handed
// back to the operating system.
func TestReleaseWhenGoroutinesEnd(t *testing.T) {
	startReleaseWhenQuiet(t)
	end := make(chan struct{})
	var wg sync.WaitGroup
	for range 2 * goroutineDrop {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-end
		}()
	}
	time.Sleep(100 * time.Millisecond) // seen at their peak
	before := forcedGCs()
	close(end)
	wg.Wait()
	if !waitForcedGC(before, 5*time.Second) {
		t.Fatalf("no forced GC within 5s of %d goroutines ending", 2*goroutineDrop)
	}
}

// TestReleaseMemoryWhenQuietStops: the exported start returns a stop that ends the policy's goroutine.
func TestReleaseMemoryWhenQuietStops(t *testing.T) {
	before := runtime.NumGoroutine()
	stop := ReleaseMemoryWhenQuiet()
	stop()
	for deadline := time.Now().Add(2 * time.Second); runtime.NumGoroutine() > before; {
		if time.Now().After(deadline) {
			t.Fatalf("goroutines: %d before, %d after stop", before, runtime.NumGoroutine())
		}
		time.Sleep(10 * time.Millisecond)
	}
}
