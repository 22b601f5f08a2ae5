//go:build linux

package main

import (
	"bytes"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// The relay workloads of issue #5, run by benchtool itself (pinned to the load generator's core) against a
// peer listening on addr. Every loop is bounded by a count and a deadline.

const dialTimeout = 10 * time.Second

// percentile returns the p-th percentile (0 < p ≤ 100) of ds, nearest rank.
func percentile(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	i := int(float64(len(s))*p/100+0.5) - 1
	return s[min(max(i, 0), len(s)-1)]
}

// echoOnce sends msg and checks that the same bytes come back.
func echoOnce(w *wsConn, msg []byte) error {
	if err := w.writeFrame(opBinary, true, msg); err != nil {
		return err
	}
	got, err := w.readMessage()
	if err != nil {
		return err
	}
	if !bytes.Equal(got, msg) {
		return fmt.Errorf("echo returned %d bytes that differ from the %d sent", len(got), len(msg))
	}
	return nil
}

// checkPeer is the correctness gate every peer passes before it is measured: a valid client is relayed to
// the echo backend; a client without a certificate and a revoked client are refused (by a TLS alert, a
// non-101 answer, or a closed connection at the first message).
func checkPeer(addr string, valid, noCert, revoked *tls.Config) error {
	w, err := dialWS(addr, "/", valid, dialTimeout)
	if err != nil {
		return fmt.Errorf("valid client refused: %w", err)
	}
	_ = w.c.SetDeadline(time.Now().Add(dialTimeout))
	err = echoOnce(w, []byte("hello through the relay"))
	w.close()
	if err != nil {
		return fmt.Errorf("valid client: no echo: %w", err)
	}
	for name, conf := range map[string]*tls.Config{"a client without a certificate": noCert, "a revoked client": revoked} {
		w, err := dialWS(addr, "/", conf, dialTimeout)
		if err != nil {
			continue // refused at the handshake or the upgrade
		}
		_ = w.c.SetDeadline(time.Now().Add(dialTimeout))
		err = echoOnce(w, []byte("should not pass"))
		w.close()
		if err == nil {
			return fmt.Errorf("%s was relayed to the backend", name)
		}
	}
	return nil
}

// RTTResult is the rtt workload's outcome.
type RTTResult struct {
	MsgsPerSec float64
	P50, P99   time.Duration
}

// runRTT opens conns WebSockets, then has each make trips echo round trips of size bytes, all connections at
// once: round trips per second over the whole run, and the latency percentiles of every round trip. opened, if
// not nil, is called once every connection is open, before the first round trip: the proxy's CPU per round trip
// is read from there, without the handshakes.
func runRTT(addr string, conf *tls.Config, conns, trips, size int, limit time.Duration, opened func()) (RTTResult, error) {
	ws := make([]*wsConn, 0, conns)
	defer func() {
		for _, w := range ws {
			w.close()
		}
	}()
	for range conns {
		w, err := dialWS(addr, "/", conf, dialTimeout)
		if err != nil {
			return RTTResult{}, err
		}
		ws = append(ws, w)
	}
	if opened != nil {
		opened()
	}
	lat := make([][]time.Duration, conns)
	errs := make([]error, conns)
	var wg sync.WaitGroup
	start := time.Now()
	deadline := start.Add(limit)
	for i, w := range ws {
		lat[i] = make([]time.Duration, 0, trips)
		_ = w.c.SetDeadline(deadline)
		wg.Add(1)
		go func() {
			defer wg.Done()
			msg := bytes.Repeat([]byte{byte('a' + i%26)}, size)
			for range trips {
				t0 := time.Now()
				if err := echoOnce(w, msg); err != nil {
					errs[i] = err
					return
				}
				lat[i] = append(lat[i], time.Since(t0))
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	if err := errors.Join(errs...); err != nil {
		return RTTResult{}, fmt.Errorf("rtt: %w", err)
	}
	all := slices.Concat(lat...)
	return RTTResult{MsgsPerSec: float64(len(all)) / elapsed.Seconds(), P50: percentile(all, 50), P99: percentile(all, 99)}, nil
}

// HandshakeResult is the handshake workload's outcome.
type HandshakeResult struct {
	PerSec float64
	P99    time.Duration
	Count  int // handshakes completed
	Errors int
}

// runHandshake has workers open new connections back to back for dur — TCP, a full TLS handshake with the
// client certificate (no session cache: no resumption), the WebSocket upgrade — and closes each at once.
func runHandshake(addr string, conf *tls.Config, workers int, dur time.Duration) (HandshakeResult, error) {
	conf = conf.Clone()
	conf.ClientSessionCache = nil
	lat := make([][]time.Duration, workers)
	var failed atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	end := start.Add(dur)
	for i := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := 0; n < 1_000_000 && time.Now().Before(end); n++ {
				t0 := time.Now()
				w, err := dialWS(addr, "/", conf, dialTimeout)
				if err != nil {
					failed.Add(1)
					continue
				}
				lat[i] = append(lat[i], time.Since(t0))
				w.close()
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	all := slices.Concat(lat...)
	res := HandshakeResult{PerSec: float64(len(all)) / elapsed.Seconds(), P99: percentile(all, 99), Count: len(all), Errors: int(failed.Load())}
	if res.Errors > len(all)/100 {
		return res, fmt.Errorf("handshake: %d of %d connections failed", res.Errors, res.Errors+len(all))
	}
	return res, nil
}

// runBulk streams msgSize-byte messages through conns connections for dur, each with a writer and a reader
// running at once, and returns the echoed bytes per second in MB/s (10^6): the rate in each direction.
func runBulk(addr string, conf *tls.Config, conns, msgSize int, dur time.Duration) (float64, error) {
	ws := make([]*wsConn, 0, conns)
	defer func() {
		for _, w := range ws {
			w.c.Close()
		}
	}()
	for range conns {
		w, err := dialWS(addr, "/", conf, dialTimeout)
		if err != nil {
			return 0, err
		}
		ws = append(ws, w)
	}
	var got atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	end := start.Add(dur)
	errs := make([]error, conns)
	for i, w := range ws {
		_ = w.c.SetDeadline(end)
		wg.Add(2)
		go func() {
			defer wg.Done()
			msg := bytes.Repeat([]byte{0x5a}, msgSize)
			for n := 0; n < 1_000_000 && time.Now().Before(end); n++ {
				if err := w.writeFrame(opBinary, true, msg); err != nil {
					return // the deadline
				}
			}
		}()
		go func() {
			defer wg.Done()
			for n := 0; n < 10_000_000; n++ {
				p, err := w.readMessage()
				if err != nil {
					if time.Now().Before(end.Add(-100 * time.Millisecond)) {
						errs[i] = err
					}
					return
				}
				if time.Now().Before(end) {
					got.Add(int64(len(p)))
				}
			}
		}()
	}
	wg.Wait()
	elapsed := min(time.Since(start), dur)
	if err := errors.Join(errs...); err != nil {
		return 0, fmt.Errorf("bulk: %w", err)
	}
	return float64(got.Load()) / elapsed.Seconds() / 1e6, nil
}

// openIdle opens n WebSockets to "/", parallel at a time, and checks each with one small echo (openSessions from
// the kernel's choice of source address). The caller measures the peer's memory while they are open and then
// closes them.
func openIdle(addr string, conf *tls.Config, n, parallel int, limit time.Duration) ([]*wsConn, error) {
	out, err := openSessions(addr, conf, n, parallel, limit,
		func(int) string { return "/" }, func(int) net.Addr { return nil })
	if err != nil {
		return nil, fmt.Errorf("idle: %w", err)
	}
	return out, nil
}

func closeAll(ws []*wsConn) {
	for _, w := range ws {
		if w != nil {
			w.c.Close()
		}
	}
}

// watchCut echoes a small message on w every 20 ms until the connection fails or limit passes, and returns
// when it failed, measured from t0. A session that merely stops answering until the limit (the read deadline
// expires) was not cut: a peer that stalls the session after its reload is not one that closed it.
func watchCut(w *wsConn, t0 time.Time, limit time.Duration) (time.Duration, bool) {
	end := t0.Add(limit)
	for n := 0; n < 100_000 && time.Now().Before(end); n++ {
		_ = w.c.SetDeadline(end)
		if err := echoOnce(w, []byte("still here?")); err != nil {
			if errors.Is(err, os.ErrDeadlineExceeded) {
				return 0, false
			}
			return time.Since(t0), true
		}
		time.Sleep(20 * time.Millisecond)
	}
	return 0, false
}
