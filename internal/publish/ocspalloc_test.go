package publish

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"golang.org/x/crypto/ocsp"
)

// discardWriter is a ResponseWriter that keeps one header map for every request, so that AllocsPerRun counts
// what the publisher allocates, not what a recorder does.
type discardWriter struct {
	h    http.Header
	code int
	n    int
}

func (d *discardWriter) Header() http.Header         { return d.h }
func (d *discardWriter) WriteHeader(code int)        { d.code = code }
func (d *discardWriter) Write(p []byte) (int, error) { d.n += len(p); return len(p), nil }

// TestOCSPPresignedAllocations bounds the allocations of a pre-signed answer (what nginx and openssl ocsp
// -no_nonce get) through the publisher's handler: reading the body, parsing, the cache lookup and the headers.
// It was 15 before the headers were assigned as shared values, the serial looked up without big.Int.Bytes
// and the MaxBytesError target kept off the success path.
func TestOCSPPresignedAllocations(t *testing.T) {
	f := newFixture(t)
	plain, err := ocsp.CreateRequest(f.alice, f.inter, nil)
	if err != nil {
		t.Fatal(err)
	}
	h := f.srv.Handler()
	w := &discardWriter{h: http.Header{}}
	body := bytes.NewReader(plain)
	req := httptest.NewRequest(http.MethodPost, "/ocsp", io.NopCloser(body))
	serve := func() {
		clear(w.h)
		w.code, w.n = 0, 0
		body.Reset(plain)
		req.Body = io.NopCloser(body)
		h.ServeHTTP(w, req)
	}
	serve()
	if w.code != http.StatusOK || w.n < 100 || w.h.Get("Content-Type") != "application/ocsp-response" || w.h.Get("Cache-Control") != "no-store" {
		t.Fatalf("HTTP %d, %d bytes, headers %v", w.code, w.n, w.h)
	}
	if _, err := ocsp.ParseResponse(mustPost(t, h, plain), f.inter); err != nil {
		t.Fatal(err)
	}
	const limit = 11
	n := testing.AllocsPerRun(200, serve)
	t.Logf("%.0f allocations per pre-signed OCSP answer", n)
	if n > limit {
		t.Errorf("%.0f allocations per pre-signed OCSP answer, want at most %d", n, limit)
	}
}

func mustPost(t *testing.T, h http.Handler, der []byte) []byte {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/ocsp", bytes.NewReader(der)))
	return rec.Body.Bytes()
}
