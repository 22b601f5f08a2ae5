package publish

import (
	"bytes"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"fmt"
	"math/big"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/wsca/wsca/crl"
	"github.com/wsca/wsca/internal/cadir"
)

// crlState is one publication of crl.pem. It is immutable once stored; changed is closed when a newer
// publication replaces it, which wakes every long-poll waiting on it at once.
type crlState struct {
	pem      []byte
	etag     string // quoted
	modified time.Time
	next     time.Time // earliest nextUpdate
	der      map[string][]byte
	numbers  map[string]*big.Int // by CA: "intermediate", "root"
	changed  chan struct{}
}

// loadCRL reads crl.pem and publishes it if its content changed. A file that does not parse against this
// CA, or that would take a CA's CRL number backwards (a stale copy written back) as judged by the persisted
// crlsync.Watermark, is refused: the current publication stays (none, right after a restart) and the
// refusal is logged and counted.
func (s *Server) loadCRL(st stamp) bool {
	if !st.ok {
		return true
	}
	path := s.cfg.Dir.File(cadir.CRLFile)
	data, err := os.ReadFile(path)
	if err != nil {
		s.log.Error("reading crl.pem", "path", path, "err", err)
		return true
	}
	cur := s.crl.Load()
	sum := sha256.Sum256(data)
	etag := `"` + hex.EncodeToString(sum[:])[:32] + `"`
	if etag == cur.etag {
		return true
	}
	inter, root, err := s.cfg.Dir.Chain()
	if err != nil {
		s.log.Error("reading the CA certificates", "err", err)
		return true
	}
	crls, err := crl.Parse(data, []*x509.Certificate{inter, root})
	if err != nil {
		s.log.Error("crl.pem refused: it does not parse as this CA's CRLs; still serving the previous one", "path", path, "err", err)
		s.metrics.crlRefused.Add(1)
		return true
	}
	if err := s.wm.Check(crls); err != nil {
		s.log.Error("crl.pem refused: CRL number goes backwards (a stale copy?); still serving the previous one",
			"path", path, "err", err, "state", s.wm.Path())
		s.metrics.crlRefused.Add(1)
		return true
	}
	next := &crlState{pem: data, etag: etag, modified: st.mtime.UTC().Truncate(time.Second),
		der: map[string][]byte{}, numbers: map[string]*big.Int{}, changed: make(chan struct{})}
	for _, c := range crls {
		name := cadir.ScopeIntermediate
		if bytes.Equal(c.Issuer.Raw, root.Raw) && !bytes.Equal(root.Raw, inter.Raw) {
			name = cadir.ScopeRoot
		}
		next.der[name], next.numbers[name] = c.Raw, c.Number
		if next.next.IsZero() || c.NextUpdate.Before(next.next) {
			next.next = c.NextUpdate
		}
	}
	// Last-Modified has one-second resolution: two publications within a second would look unchanged to an
	// If-Modified-Since poller, so each publication is at least a second after the previous one.
	if cur.pem != nil && !next.modified.After(cur.modified) {
		next.modified = cur.modified.Add(time.Second)
	}
	s.crl.Store(next)
	close(cur.changed)
	if err := s.wm.Advance(crls); err != nil {
		// The in-memory mark has advanced; only a restart would forget it.
		s.log.Error("saving the highest CRL numbers; the rule holds until this process ends", "err", err)
	}
	s.metrics.crlPublished.Add(1)
	s.log.Info("crl.pem published", "etag", etag, "intermediate_number", numString(next.numbers[cadir.ScopeIntermediate]),
		"next_update", next.next.UTC().Format(time.RFC3339))
	return true
}

func numString(n *big.Int) string {
	if n == nil {
		return ""
	}
	return n.String()
}

// loadCABundle keeps ca.crt's bytes for GET /ca.crt.
func (s *Server) loadCABundle(st stamp) bool {
	if !st.ok {
		return true
	}
	data, err := os.ReadFile(s.cfg.Dir.File(cadir.BundleFile))
	if err != nil {
		s.log.Error("reading ca.crt", "err", err)
		return true
	}
	s.caCert.Store(&data)
	return true
}

// serveCRLPEM is GET /crl.pem, with the long-poll of docs/publish.md: with ?wait=D and an If-None-Match
// equal to the current ETag, the answer waits until a new crl.pem is published (200) or D passes (304).
func (s *Server) serveCRLPEM(w http.ResponseWriter, r *http.Request) {
	wait, err := parseWait(r.URL.Query().Get("wait"))
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	st := s.crl.Load()
	if st.pem != nil && wait > 0 && etagMatches(r.Header.Get("If-None-Match"), st.etag) {
		s.metrics.waiting.Add(1)
		t := time.NewTimer(wait)
		select {
		case <-st.changed:
			st = s.crl.Load()
		case <-t.C:
		case <-r.Context().Done():
		}
		t.Stop()
		s.metrics.waiting.Add(-1)
		if r.Context().Err() != nil {
			return
		}
	}
	s.writeCRL(w, r, st, st.pem, "application/x-pem-file")
}

// serveCRLDER is GET /crl/intermediate.crl and /crl/root.crl.
func (s *Server) serveCRLDER(w http.ResponseWriter, r *http.Request) {
	st := s.crl.Load()
	name := strings.TrimSuffix(strings.TrimPrefix(r.URL.Path, "/crl/"), ".crl")
	der, ok := st.der[name]
	if st.pem != nil && !ok {
		http.Error(w, fmt.Sprintf("no CRL for %q: want /crl/intermediate.crl or /crl/root.crl", name), http.StatusNotFound)
		return
	}
	s.writeCRL(w, r, st, der, "application/pkix-crl")
}

// writeCRL answers with body and the caching headers of st: 304 when If-None-Match matches the ETag, or
// (without If-None-Match, RFC 9110 §13.1.3) when If-Modified-Since is not before Last-Modified.
func (s *Server) writeCRL(w http.ResponseWriter, r *http.Request, st *crlState, body []byte, ctype string) {
	if st.pem == nil {
		w.Header().Set("Retry-After", "1")
		http.Error(w, "no crl.pem published yet: run wsca crl", http.StatusServiceUnavailable)
		return
	}
	h := w.Header()
	h.Set("ETag", st.etag)
	h.Set("Last-Modified", st.modified.Format(http.TimeFormat))
	age := min(max(st.next.Sub(s.cfg.Now()), 0), maxCRLAge)
	h.Set("Cache-Control", "public, max-age="+strconv.Itoa(int(age/time.Second)))
	inm := r.Header.Get("If-None-Match")
	notModified := etagMatches(inm, st.etag)
	if inm == "" {
		if ims, err := http.ParseTime(r.Header.Get("If-Modified-Since")); err == nil && !st.modified.After(ims) {
			notModified = true
		}
	}
	if notModified {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	h.Set("Content-Type", ctype)
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		_, _ = w.Write(body)
	}
}

// serveCACert is GET /ca.crt: the intermediate and root certificates, PEM.
func (s *Server) serveCACert(w http.ResponseWriter, r *http.Request) {
	p := s.caCert.Load()
	if p == nil {
		http.Error(w, "no ca.crt in the CA directory", http.StatusServiceUnavailable)
		return
	}
	w.Header().Set("Content-Type", "application/x-pem-file")
	w.Header().Set("Content-Length", strconv.Itoa(len(*p)))
	if r.Method != http.MethodHead {
		_, _ = w.Write(*p)
	}
}

// parseWait reads ?wait=: a Go duration, capped at MaxWait; empty is no wait.
func parseWait(v string) (time.Duration, error) {
	if v == "" {
		return 0, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < 0 {
		return 0, fmt.Errorf("invalid wait %q: want a duration such as 30s (at most %s)", v, MaxWait)
	}
	return min(d, MaxWait), nil
}

// etagMatches reports whether an If-None-Match header names etag (weak comparison, RFC 9110 §13.1.2).
func etagMatches(header, etag string) bool {
	for _, t := range strings.Split(header, ",") {
		t = strings.TrimPrefix(strings.TrimSpace(t), "W/")
		if t == etag || t == "*" {
			return true
		}
	}
	return false
}
