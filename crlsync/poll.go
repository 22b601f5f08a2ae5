package crlsync

import (
	"context"
	"crypto/sha256"
	"time"
)

// DefaultInterval is how long a Poller waits between requests to a server that does not hold them (a static web
// server) and after an error.
const DefaultInterval = 30 * time.Second

// Result is what one round of a Poller reports.
type Result struct {
	Changed bool          // a new body was offered and accepted
	Err     error         // the fetch failed or the body was refused; the consumer keeps its last good CRL
	Took    time.Duration // time spent in the request
}

// Poller runs a Fetcher in a loop: it offers every new body to Accept, holds requests open against `wsca publish`
// (long-poll) and polls every Interval against a server that answers at once. Errors — network, HTTP status, size,
// deadline, or Accept refusing the body — are reported and retried after Interval; the consumer keeps what it has.
type Poller struct {
	Fetcher  *Fetcher
	Interval time.Duration // 0: DefaultInterval
	// Accept verifies and applies a downloaded body (the CRL's signature, the rollback rule, then the swap).
	// It is called only with a body that differs from the last one accepted.
	Accept func(body []byte) error
	// Report, if set, is called after every round.
	Report func(Result)
	// Sleep waits d or until ctx ends; nil uses a timer (tests shorten it).
	Sleep func(ctx context.Context, d time.Duration)
}

// Run polls until ctx ends. prev and last describe what the consumer already holds (from its cache), so the first
// request can already be conditional; last is the SHA-256 of that body, or zero.
func (p *Poller) Run(ctx context.Context, prev Validators, last [sha256.Size]byte) {
	interval := p.Interval
	if interval <= 0 {
		interval = DefaultInterval
	}
	sleep := p.Sleep
	if sleep == nil {
		sleep = sleepCtx
	}
	for ctx.Err() == nil {
		start := time.Now()
		sent := prev.ETag
		resp, err := p.Fetcher.Get(ctx, prev)
		res := Result{Took: time.Since(start), Err: err}
		if err == nil && !resp.NotModified {
			if sum := sha256.Sum256(resp.Body); sum != last {
				if res.Err = p.Accept(resp.Body); res.Err == nil {
					res.Changed, last = true, sum
				}
			}
		}
		if res.Err == nil {
			prev = resp.Validators
		}
		if ctx.Err() != nil {
			return
		}
		if p.Report != nil {
			p.Report(res)
		}
		// Ask again at once after a long-poll that was held, after news, or with a first ETag (the next request can
		// be held); otherwise the server answers immediately (a static server, or an error): wait an interval so
		// as not to hammer it.
		held := prev.ETag != "" && res.Took >= p.Fetcher.wait()/2 && p.Fetcher.wait() > 0
		newTag := res.Err == nil && prev.ETag != "" && prev.ETag != sent
		if res.Err != nil || (!res.Changed && !held && !newTag) {
			sleep(ctx, interval)
		}
	}
}

func sleepCtx(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}
