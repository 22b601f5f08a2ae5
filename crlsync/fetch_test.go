package crlsync

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wsca/wsca/internal/crlpubtest"
)

// TestFetcherContract: a first GET answers at once with the body and its ETag; a long-poll with that ETag is held
// until a new CRL is published and then answers with it; a long-poll that sees nothing new ends in a 304.
func TestFetcherContract(t *testing.T) {
	p := newTestPKI(t)
	one, two := p.crlPEM(t, 1), p.crlPEM(t, 2)
	pub := crlpubtest.New(one)
	defer pub.Close()
	f := &Fetcher{URL: pub.CRLURL(), Wait: 300 * time.Millisecond}
	ctx := context.Background()
	r, err := f.Get(ctx, Validators{})
	if err != nil || r.NotModified || !bytes.Equal(r.Body, one) || r.Validators.ETag == "" {
		t.Fatalf("first GET: %+v %v", r, err)
	}
	start := time.Now()
	r2, err := f.Get(ctx, r.Validators)
	if err != nil || !r2.NotModified || time.Since(start) < 250*time.Millisecond {
		t.Fatalf("long-poll without news: %+v %v after %v, want 304 after the wait", r2, err, time.Since(start))
	}
	f.Wait = 5 * time.Second
	go func() {
		time.Sleep(200 * time.Millisecond)
		pub.Set(two)
	}()
	start = time.Now()
	r3, err := f.Get(ctx, r.Validators)
	took := time.Since(start)
	if err != nil || r3.NotModified || !bytes.Equal(r3.Body, two) {
		t.Fatalf("long-poll with news: %+v %v", r3, err)
	}
	if took > 2*time.Second {
		t.Fatalf("long-poll answered after %v, want soon after the publication (200 ms)", took)
	}
}

// TestFetcherBadInput: garbage is fetched (Verify refuses it), a truncated body, a slow-loris publisher, a 10 MB
// body, an HTTP error and an unreachable publisher each end in a clear error, bounded in time.
func TestFetcherBadInput(t *testing.T) {
	p := newTestPKI(t)
	good := p.crlPEM(t, 1)
	for _, tc := range []struct {
		name string
		h    http.Handler
		want string
	}{
		{"truncated", crlpubtest.Truncated(good), "unexpected EOF"},
		{"slow loris", crlpubtest.SlowLoris(50*time.Millisecond, 10000), "deadline exceeded"},
		{"10 MB body", crlpubtest.Huge(10 << 20), "CRL download too large: more than 8388608 bytes"},
		{"HTTP error", http.NotFoundHandler(), "HTTP 404 Not Found"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pub := crlpubtest.New(good)
			defer pub.Close()
			pub.Misbehave(tc.h)
			start := time.Now()
			_, err := (&Fetcher{URL: pub.CRLURL(), Timeout: 500 * time.Millisecond}).Get(context.Background(), Validators{})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error containing %q", err, tc.want)
			}
			if took := time.Since(start); took > 3*time.Second {
				t.Fatalf("took %v", took)
			}
			t.Logf("%s: %v", tc.name, err)
		})
	}
	dead := httptest.NewServer(http.NotFoundHandler())
	dead.Close()
	if _, err := (&Fetcher{URL: dead.URL + "/crl.pem"}).Get(context.Background(), Validators{}); err == nil ||
		!strings.Contains(err.Error(), "connection refused") {
		t.Fatalf("unreachable publisher: %v", err)
	}
	if _, err := ParseURL("ftp://example.com/crl.pem"); err == nil {
		t.Fatal("ParseURL accepted ftp://")
	}
}

// sidecar runs a Poller feeding a FileSync, as `wsca crl fetch --watch` does, and records every round.
type sidecar struct {
	fs      *FileSync
	mu      sync.Mutex
	results []Result
	changes int
	cancel  context.CancelFunc
	done    chan struct{}
}

func startSidecar(t *testing.T, p *testPKI, url string, interval time.Duration) *sidecar {
	t.Helper()
	dir := t.TempDir()
	out := filepath.Join(dir, "crl.pem")
	w, err := OpenWatermark(out + StateSuffix)
	if err != nil {
		t.Fatal(err)
	}
	sc := &sidecar{done: make(chan struct{})}
	sc.fs = &FileSync{Out: out, CAs: p.cas(), Watermark: w, OnChange: func() error {
		sc.mu.Lock()
		sc.changes++
		sc.mu.Unlock()
		return nil
	}}
	ctx, cancel := context.WithCancel(context.Background())
	sc.cancel = cancel
	poller := &Poller{Fetcher: &Fetcher{URL: url, Wait: 2 * time.Second, Timeout: time.Second}, Interval: interval,
		Accept: func(body []byte) error { _, err := sc.fs.Offer(body); return err },
		Report: func(r Result) { sc.mu.Lock(); sc.results = append(sc.results, r); sc.mu.Unlock() }}
	go func() {
		defer close(sc.done)
		poller.Run(ctx, Validators{}, [32]byte{})
	}()
	t.Cleanup(sc.stop)
	return sc
}

func (sc *sidecar) stop() {
	sc.cancel()
	<-sc.done
}

// waitFile waits until the sidecar's file holds want.
func (sc *sidecar) waitFile(t *testing.T, want []byte, within time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	for time.Since(start) < within {
		if got, _ := os.ReadFile(sc.fs.Out); bytes.Equal(got, want) {
			return time.Since(start)
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("the CRL file does not hold the expected CRL after %v", within)
	return 0
}

// waitErr waits for a round that failed with an error containing want.
func (sc *sidecar) waitErr(t *testing.T, want string) error {
	t.Helper()
	for i := 0; i < 300; i++ {
		sc.mu.Lock()
		for _, r := range sc.results {
			if r.Err != nil && strings.Contains(r.Err.Error(), want) {
				sc.mu.Unlock()
				return r.Err
			}
		}
		sc.results = nil
		sc.mu.Unlock()
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("no round failed with %q", want)
	return nil
}

// TestPollerLongPoll: against the publisher, a new CRL reaches the file well within a second (the long-poll
// answers at once), the change hook runs once per change and not for a republication of the same bytes.
func TestPollerLongPoll(t *testing.T) {
	p := newTestPKI(t)
	one, two := p.crlPEM(t, 1), p.crlPEM(t, 2, 42)
	pub := crlpubtest.New(one)
	defer pub.Close()
	sc := startSidecar(t, p, pub.CRLURL(), time.Hour) // an hour: only the long-poll can deliver in time
	sc.waitFile(t, one, 3*time.Second)
	time.Sleep(100 * time.Millisecond) // the poller is now waiting in a long-poll
	pub.Set(two)
	took := sc.waitFile(t, two, time.Second)
	t.Logf("new CRL in the file %v after publication", took)
	pub.Set(two) // same bytes, new publication: no change
	time.Sleep(200 * time.Millisecond)
	sc.stop()
	if sc.changes != 2 {
		t.Fatalf("change hook ran %d times, want 2", sc.changes)
	}
}

// TestPollerStaticServer: a plain file server (no long-poll, ETag from the file's modification time) is polled at
// the interval and a new file is picked up.
func TestPollerStaticServer(t *testing.T) {
	p := newTestPKI(t)
	dir := t.TempDir()
	one, two := p.crlPEM(t, 1), p.crlPEM(t, 2, 42)
	if err := os.WriteFile(filepath.Join(dir, "crl.pem"), one, 0o644); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(http.FileServer(http.Dir(dir)))
	defer srv.Close()
	sc := startSidecar(t, p, srv.URL+"/crl.pem", 100*time.Millisecond)
	sc.waitFile(t, one, 3*time.Second)
	if err := os.WriteFile(filepath.Join(dir, "crl.pem"), two, 0o644); err != nil {
		t.Fatal(err)
	}
	sc.waitFile(t, two, 3*time.Second)
}

// TestPollerBadPublisher: garbage, a CRL signed by another CA, an older CRL, a truncated download, a slow loris
// and a 10 MB body are each refused with a clear error; the file keeps the last good CRL; a good CRL afterwards
// is taken.
func TestPollerBadPublisher(t *testing.T) {
	p := newTestPKI(t)
	one, two, three := p.crlPEM(t, 1), p.crlPEM(t, 2, 42), p.crlPEM(t, 3, 42, 43)
	foreign := append(crlOf(t, p.other, 9, time.Hour), p.rootCRL...)
	pub := crlpubtest.New(one)
	defer pub.Close()
	sc := startSidecar(t, p, pub.CRLURL(), 50*time.Millisecond)
	pub.Set(two)
	sc.waitFile(t, two, 3*time.Second)
	for _, tc := range []struct {
		name string
		h    http.Handler
		want string
	}{
		{"garbage", crlpubtest.Garbage(), "refusing the downloaded CRL: malformed CRL"},
		{"other CA", crlpubtest.Body(foreign), "unknown CRL issuer"},
		{"older CRL", crlpubtest.Body(one), "CRL number 1 from \"CN=Test Intermediate\" is lower than 2"},
		{"truncated", crlpubtest.Truncated(three), "unexpected EOF"},
		{"slow loris", crlpubtest.SlowLoris(100*time.Millisecond, 1000), "deadline exceeded"},
		{"10 MB", crlpubtest.Huge(10 << 20), "too large"},
	} {
		pub.Misbehave(tc.h)
		err := sc.waitErr(t, tc.want)
		t.Logf("%s: %v", tc.name, err)
		if got, _ := os.ReadFile(sc.fs.Out); !bytes.Equal(got, two) {
			t.Fatalf("%s: the file no longer holds the last good CRL", tc.name)
		}
	}
	pub.Behave()
	pub.Set(three)
	sc.waitFile(t, three, 3*time.Second)
}

// TestFileSyncRefusesRollbackAcrossRestart: the sidecar's state file keeps the highest number across runs.
func TestFileSyncRefusesRollbackAcrossRestart(t *testing.T) {
	p := newTestPKI(t)
	out := filepath.Join(t.TempDir(), "crl.pem")
	open := func() *FileSync {
		w, err := OpenWatermark(out + StateSuffix)
		if err != nil {
			t.Fatal(err)
		}
		return &FileSync{Out: out, CAs: p.cas(), Watermark: w}
	}
	if changed, err := open().Offer(p.crlPEM(t, 7)); err != nil || !changed {
		t.Fatalf("first offer: %v %v", changed, err)
	}
	cur, _ := os.ReadFile(out)
	_, err := open().Offer(p.crlPEM(t, 6))
	if !errors.Is(err, ErrRollback) {
		t.Fatalf("older CRL after a restart: %v, want a rollback refusal", err)
	}
	if now, _ := os.ReadFile(out); !bytes.Equal(now, cur) {
		t.Fatal("the refused CRL was written")
	}
}

// FuzzVerify: whatever a publisher sends, Verify and the watermark return an error or CRLs, never panic.
func FuzzVerify(f *testing.F) {
	p := newTestPKI(f)
	good := p.crlPEM(f, 3)
	f.Add(good)
	f.Add(good[:len(good)/2])
	f.Add([]byte("<html>"))
	w, _ := OpenWatermark("")
	f.Fuzz(func(t *testing.T, data []byte) {
		crls, err := Verify(data, p.cas())
		if err != nil {
			return
		}
		_ = w.Check(crls)
	})
}
