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
	stop, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		releaseWhenQuiet(stop, 20*time.Millisecond)
	}()
	defer func() {
		close(stop)
		<-done
	}()
	time.Sleep(30 * time.Millisecond) // the first sample
	for range 2 * burstAlloc / (1 << 20) {
		runtime.KeepAlive(make([]byte, 1<<20)) // 1 MiB: on the heap, garbage at once
	}
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	before := ms.NumForcedGC
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); {
		time.Sleep(50 * time.Millisecond)
		runtime.ReadMemStats(&ms)
		if ms.NumForcedGC > before {
			return
		}
	}
	t.Fatalf("no forced GC within 5s of going quiet after %d MiB", 2*burstAlloc>>20)
}

// TestReleaseWhenGoroutinesEnd: when many goroutines end (relay directions parking a while after the burst that
// opened their sessions) a quiet process gets a forced GC too, with no allocation burst: their stacks are handed
// back to the operating system.
func TestReleaseWhenGoroutinesEnd(t *testing.T) {
	stop, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		releaseWhenQuiet(stop, 20*time.Millisecond)
	}()
	defer func() {
		close(stop)
		<-done
	}()
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
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	before := ms.NumForcedGC
	close(end)
	wg.Wait()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); {
		time.Sleep(50 * time.Millisecond)
		runtime.ReadMemStats(&ms)
		if ms.NumForcedGC > before {
			return
		}
	}
	t.Fatalf("no forced GC within 5s of %d goroutines ending", 2*goroutineDrop)
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
