package crlsync

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"
)

// Defaults of a Fetcher's zero fields.
const (
	// DefaultMaxBytes bounds a downloaded crl.pem: about 150,000 revoked serials in PEM. A publisher sending more
	// is broken or hostile; raise MaxBytes for a CA that really revokes that much.
	DefaultMaxBytes = 8 << 20
	// DefaultTimeout bounds one request beyond the long-poll wait it asks for: a publisher that trickles its
	// answer (slow loris) is cut off after it.
	DefaultTimeout = 30 * time.Second
	// DefaultWait is the long-poll wait asked of `wsca publish` (its cap is 60 s).
	DefaultWait = 30 * time.Second
)

// ErrTooLarge reports a response body above the Fetcher's MaxBytes.
var ErrTooLarge = errors.New("CRL download too large")

// Validators are what a Fetcher sends back to the publisher to ask "changed since?".
type Validators struct {
	ETag         string // sent as If-None-Match
	LastModified string // sent as If-Modified-Since
}

// Response is one answer of the publisher.
type Response struct {
	Body        []byte // nil when NotModified
	NotModified bool   // 304: nothing new since the Validators sent
	Validators  Validators
}

// Fetcher downloads a crl.pem over HTTP(S) with conditional GET and, when it already holds an ETag, the long-poll
// of `wsca publish` (GET url?wait=… with If-None-Match: the publisher answers when a new CRL is published, or
// 304 when the wait ends). A static web server ignores the wait parameter and answers at once; Poller notices and
// polls at its interval instead. The zero values of the optional fields take the Default* constants.
type Fetcher struct {
	URL      string
	Client   *http.Client  // nil: http.DefaultTransport without client timeout (each request has a deadline)
	MaxBytes int64         // 0: DefaultMaxBytes
	Wait     time.Duration // long-poll wait; 0: DefaultWait, negative: never long-poll
	Timeout  time.Duration // deadline of a request beyond its wait; 0: DefaultTimeout
}

// ParseURL checks that s is an absolute http:// or https:// URL with a host, as CRL sources must be.
func ParseURL(s string) (*url.URL, error) {
	u, err := url.Parse(s)
	if err != nil {
		return nil, fmt.Errorf("CRL URL %q: %w", s, err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("CRL URL %q: want http:// or https:// with a host", s)
	}
	if u.User != nil || u.Fragment != "" {
		return nil, fmt.Errorf("CRL URL %q: user info and fragment are not allowed", s)
	}
	return u, nil
}

// IsURL reports whether s names an HTTP(S) CRL source rather than a file.
func IsURL(s string) bool {
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https")
}

func (f *Fetcher) wait() time.Duration {
	switch {
	case f.Wait < 0:
		return 0
	case f.Wait == 0:
		return DefaultWait
	}
	return f.Wait
}

// Get asks for the CRL once. With prev.ETag set (and waiting enabled) the request long-polls. It fails on any
// status but 200 and 304, on a body above MaxBytes (without reading the rest), on a body shorter than its
// Content-Length, and when the request's deadline (wait + Timeout) passes.
func (f *Fetcher) Get(ctx context.Context, prev Validators) (*Response, error) {
	u, err := ParseURL(f.URL)
	if err != nil {
		return nil, err
	}
	wait := f.wait()
	if prev.ETag == "" {
		wait = 0 // without If-None-Match the publisher answers at once anyway
	}
	if wait > 0 {
		q := u.Query()
		q.Set("wait", wait.String())
		u.RawQuery = q.Encode()
	}
	timeout := f.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, wait+timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, fmt.Errorf("CRL URL %s: %w", f.URL, err)
	}
	req.Header.Set("Accept", "application/x-pem-file, application/pkix-crl")
	req.Header.Set("User-Agent", "wsca-crlsync")
	if prev.ETag != "" {
		req.Header.Set("If-None-Match", prev.ETag)
	}
	if prev.LastModified != "" {
		req.Header.Set("If-Modified-Since", prev.LastModified)
	}
	client := f.Client
	if client == nil {
		client = http.DefaultClient
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("fetching CRL from %s: %w", f.URL, deadline(err, wait+timeout))
	}
	defer resp.Body.Close()
	got := Validators{ETag: resp.Header.Get("ETag"), LastModified: resp.Header.Get("Last-Modified")}
	switch resp.StatusCode {
	case http.StatusNotModified:
		if got.ETag == "" {
			got.ETag = prev.ETag
		}
		if got.LastModified == "" {
			got.LastModified = prev.LastModified
		}
		return &Response{NotModified: true, Validators: got}, nil
	case http.StatusOK:
	default:
		return nil, fmt.Errorf("fetching CRL from %s: HTTP %s", f.URL, resp.Status)
	}
	body, err := f.readBody(resp)
	if err != nil {
		return nil, fmt.Errorf("fetching CRL from %s: %w", f.URL, deadline(err, wait+timeout))
	}
	if got.ETag == "" {
		// Last-Modified has one-second resolution: a file replaced again within the same second as the copy
		// just read would look unchanged for ever. Without an ETag, trust only a date safely in the past.
		if lm, err := http.ParseTime(got.LastModified); err != nil || time.Since(lm) < 2*time.Second {
			got.LastModified = ""
		}
	}
	return &Response{Body: body, Validators: got}, nil
}

func (f *Fetcher) readBody(resp *http.Response) ([]byte, error) {
	limit := f.MaxBytes
	if limit <= 0 {
		limit = DefaultMaxBytes
	}
	if resp.ContentLength > limit {
		return nil, fmt.Errorf("%w: Content-Length %d exceeds the limit of %d bytes", ErrTooLarge, resp.ContentLength, limit)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if err != nil {
		// A body cut short of its Content-Length ends in io.ErrUnexpectedEOF; a deadline in context errors.
		return nil, fmt.Errorf("reading the body: %w", err)
	}
	if int64(len(body)) > limit {
		return nil, fmt.Errorf("%w: more than %d bytes", ErrTooLarge, limit)
	}
	return body, nil
}

// deadline names the bound when err is the request's deadline: a slow or stalled publisher.
func deadline(err error, d time.Duration) error {
	if errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("no complete answer within %v (publisher too slow): %w", d, err)
	}
	return err
}
