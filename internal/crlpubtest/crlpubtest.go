// Package crlpubtest is a test double of `wsca publish`'s CRL endpoint, built to the contract the HTTP CRL
// consumers rely on (GET /crl.pem with a strong ETag, 304 on If-None-Match, and the long-poll ?wait= that holds
// a request carrying the current ETag until a new CRL is published or the wait ends). It also serves broken
// answers on demand, so consumers can be tested against a publisher that misbehaves. Tests only.
package crlpubtest

import (
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"time"
)

// maxWait is the publisher's cap on ?wait=, as in the contract.
const maxWait = 60 * time.Second

// Publisher serves one crl.pem and lets the test replace it. The zero value is not usable: call New.
type Publisher struct {
	*httptest.Server
	mu      sync.Mutex
	body    []byte
	etag    string
	changed chan struct{} // closed and replaced on every Set
	handler http.Handler  // when set, answers instead of the contract (Misbehave)
	gets    int
	quit    chan struct{} // closed by Close: ends held long-polls, which httptest.Server.Close would wait for
	once    sync.Once
}

// New starts a publisher serving body at /crl.pem.
func New(body []byte) *Publisher {
	p := &Publisher{changed: make(chan struct{}), quit: make(chan struct{})}
	p.Set(body)
	p.Server = httptest.NewServer(http.HandlerFunc(p.serve))
	return p
}

// Close ends held long-polls (with a 304, as at the end of their wait) and stops the server.
func (p *Publisher) Close() {
	p.once.Do(func() { close(p.quit) })
	p.Server.Close()
}

// CRLURL is the URL of /crl.pem.
func (p *Publisher) CRLURL() string { return p.URL + "/crl.pem" }

// Set publishes a new crl.pem: waiting long-polls answer at once with it.
func (p *Publisher) Set(body []byte) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.body = body
	sum := sha256.Sum256(body)
	p.etag = `"` + hex.EncodeToString(sum[:])[:32] + `"`
	close(p.changed)
	p.changed = make(chan struct{})
}

// Misbehave makes every request answered by h until Behave; waiting long-polls are released.
func (p *Publisher) Misbehave(h http.Handler) {
	p.mu.Lock()
	p.handler = h
	close(p.changed)
	p.changed = make(chan struct{})
	p.mu.Unlock()
}

// Behave restores the contract's answers.
func (p *Publisher) Behave() { p.Misbehave(nil) }

// Gets returns how many requests reached /crl.pem.
func (p *Publisher) Gets() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.gets
}

func (p *Publisher) serve(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/crl.pem" {
		http.NotFound(w, r)
		return
	}
	var wait time.Duration
	if v := r.URL.Query().Get("wait"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < 0 {
			http.Error(w, "bad wait", http.StatusBadRequest)
			return
		}
		wait = min(d, maxWait)
	}
	p.mu.Lock()
	p.gets++
	h, body, etag, changed := p.handler, p.body, p.etag, p.changed
	p.mu.Unlock()
	if h != nil {
		h.ServeHTTP(w, r)
		return
	}
	if inm := r.Header.Get("If-None-Match"); inm == etag && wait > 0 {
		t := time.NewTimer(wait)
		defer t.Stop()
		select {
		case <-changed:
			p.mu.Lock()
			h, body, etag = p.handler, p.body, p.etag
			p.mu.Unlock()
			if h != nil {
				h.ServeHTTP(w, r)
				return
			}
		case <-t.C:
		case <-p.quit:
		case <-r.Context().Done():
			return
		}
	}
	w.Header().Set("ETag", etag)
	w.Header().Set("Cache-Control", "public, max-age=60")
	if r.Header.Get("If-None-Match") == etag {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	w.Header().Set("Content-Type", "application/x-pem-file")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.Write(body) //nolint:errcheck // the client may be gone
}

// Garbage answers 200 with a body that is not a CRL.
func Garbage() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("ETag", `"garbage"`)
		w.Write([]byte("<html>503 upstream maintenance</html>\n")) //nolint:errcheck
	})
}

// Body answers 200 with body (a CRL signed by another CA, an old CRL…) under its own ETag.
func Body(body []byte) http.Handler {
	sum := sha256.Sum256(body)
	etag := `"` + hex.EncodeToString(sum[:])[:32] + `"`
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("ETag", etag)
		if r.Header.Get("If-None-Match") == etag {
			w.WriteHeader(http.StatusNotModified)
			return
		}
		w.Write(body) //nolint:errcheck
	})
}

// Truncated announces body's full length and sends only its first half before closing the connection.
func Truncated(body []byte) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		w.Write(body[:len(body)/2]) //nolint:errcheck
		if hj, ok := w.(http.Hijacker); ok {
			if c, _, err := hj.Hijack(); err == nil {
				c.Close()
			}
		}
	})
}

// SlowLoris sends headers, then one byte of body every interval for up to n bytes: a publisher that never
// finishes.
func SlowLoris(interval time.Duration, n int) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", strconv.Itoa(n))
		w.WriteHeader(http.StatusOK)
		rc := http.NewResponseController(w)
		for i := 0; i < n; i++ {
			if _, err := w.Write([]byte{'-'}); err != nil {
				return
			}
			rc.Flush() //nolint:errcheck
			select {
			case <-r.Context().Done():
				return
			case <-time.After(interval):
			}
		}
	})
}

// Huge answers 200 with size bytes, streamed without a Content-Length.
func Huge(size int) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		chunk := make([]byte, 64<<10)
		for i := range chunk {
			chunk[i] = 'A'
		}
		for sent := 0; sent < size; sent += len(chunk) {
			if _, err := w.Write(chunk); err != nil {
				return
			}
		}
	})
}
