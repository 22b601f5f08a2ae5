package renew

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"time"
)

// Backoff bounds: the first retry after an error waits MinBackoff, each further one twice as long up to
// MaxBackoff, and never past the moment the certificate is halfway from now to its expiry (a holder close
// to expiry retries more often, not less).
const (
	MinBackoff = 2 * time.Second
	MaxBackoff = 10 * time.Minute
)

// Events receives what the daemon does, for the command to log.
type Events interface {
	Waiting(cert *x509.Certificate, until time.Time)
	Renewed(old, renewed *x509.Certificate)
	Failed(err error, retryIn time.Duration)
}

// Run renews whenever the certificate in CertFile is due (Due), calls hook after each renewal whose files
// were written (a hook error is reported, not fatal), and retries errors with backoff. It returns when ctx
// ends (nil), when the CA refuses for good (a *RefusedError, e.g. revoked), or when the current files cannot
// be read.
func (c *Client) Run(ctx context.Context, ev Events, hook func(context.Context) error) error {
	backoff := MinBackoff
	for {
		cur, _, err := c.Load()
		if err != nil {
			return err
		}
		due := Due(cur, c.rand())
		ev.Waiting(cur, due)
		if !sleep(ctx, due.Sub(c.now())) {
			return nil
		}
		renewed, err := c.Renew(ctx)
		if ctx.Err() != nil {
			return nil
		}
		var ref *RefusedError
		if errors.As(err, &ref) && ref.Permanent() {
			return err
		}
		if err != nil {
			wait := min(backoff, MaxBackoff)
			if left := cur.NotAfter.Sub(c.now()) / 2; left > MinBackoff && wait > left {
				wait = left
			}
			ev.Failed(err, wait)
			if !sleep(ctx, wait) {
				return nil
			}
			backoff *= 2
			continue
		}
		backoff = MinBackoff
		ev.Renewed(cur, renewed)
		if hook != nil {
			if herr := hook(ctx); herr != nil {
				ev.Failed(fmt.Errorf("the hook after the renewal failed: %w", herr), 0)
			}
		}
	}
}

func (c *Client) now() time.Time {
	if c.Now != nil {
		return c.Now()
	}
	return time.Now()
}

// sleep waits d (nothing if d <= 0) and reports false if ctx ended first.
func sleep(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
