package publish

import (
	"context"
	"errors"
	"mime"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/wsca/wsca/internal/cadir"
	"github.com/wsca/wsca/store"
)

// One-time bundle pickup (wsca issue --p12 --pickup; docs/bundles.md).
//
// GET /pickup/<token> shows a page that says what the file is and how to import it, and a form that POSTs
// to the same URL for the download. The download is a POST, not a second link, because link previewers
// (chat apps, mail scanners such as Safe Links) fetch every URL they see with GET, and a plain download
// link on the page would be fetched by the ones that follow links too; none of them submits a form. The
// page view is audited but consumes nothing.
//
// Each request opens wsca.db read-write for one transaction (store.TakePickup) and closes it: publish
// holds no lock while idle, and the consuming transaction is the single-use decision, serialised by
// bbolt's writer lock across processes (and by pickupMu within this one, so requests queue instead of
// polling the flock). Of two simultaneous downloads exactly one finds the bundle.

const (
	// pickupLockTimeout is how long a pickup request waits for a writer (wsca issue, revoke, crl):
	// longer than the watcher's wait, because a person is waiting for the answer.
	pickupLockTimeout = 5 * time.Second
	// pickupSweep is how often unused bundles past their expiry are deleted.
	pickupSweep = time.Minute
	// Refused requests per client address per window before it gets 429 without a database write:
	// guessing a 256-bit token is hopeless anyway, but each refusal is an audit entry, and a guesser
	// must not be able to fill the audit log.
	pickupFailLimit  = 20
	pickupFailWindow = 10 * time.Minute
	pickupFailAddrs  = 10000 // bound of the per-address table; it is cleared when full
	// auditUAMax bounds the user agent copied into the audit log.
	auditUAMax = 200
	// auditUser is the audit log's User of requests served by wsca publish.
	auditUser = "publish"
)

// pickups is the publisher's pickup state: the database lock of this process and the failure counts.
type pickups struct {
	mu       sync.Mutex // one pickup transaction at a time in this process
	failMu   sync.Mutex
	fails    map[string]int
	failFrom time.Time
}

func (s *Server) pickupStore() (*store.Store, error) {
	d := *s.cfg.Dir
	d.LockTimeout = pickupLockTimeout
	return d.OpenStore(false)
}

// takePickup runs one recorded pickup transition.
func (s *Server) takePickup(ev store.PickupEvent, consume bool) (*store.Pickup, error) {
	s.pickup.mu.Lock()
	defer s.pickup.mu.Unlock()
	st, err := s.pickupStore()
	if err != nil {
		return nil, err
	}
	p, err := st.TakePickup(ev, consume)
	if cerr := st.Close(); err == nil && cerr != nil {
		// The transaction committed; a close error does not undo it. Log it, serve the answer.
		s.log.Warn("closing the issuance database after a pickup", "err", cerr)
	}
	return p, err
}

// tooManyFailures reports whether addr has used up its refusals for the current window.
func (p *pickups) tooManyFailures(addr string, now time.Time) bool {
	p.failMu.Lock()
	defer p.failMu.Unlock()
	if now.Sub(p.failFrom) > pickupFailWindow || len(p.fails) >= pickupFailAddrs {
		p.fails, p.failFrom = map[string]int{}, now
	}
	return p.fails[addr] >= pickupFailLimit
}

func (p *pickups) failed(addr string) {
	p.failMu.Lock()
	defer p.failMu.Unlock()
	if p.fails != nil {
		p.fails[addr]++
	}
}

func clientAddr(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// requestDetail is what the audit log keeps of a request: the client address and its user agent,
// quoted (so a crafted agent cannot forge fields) and bounded.
func requestDetail(r *http.Request) string {
	ua := r.UserAgent()
	if len(ua) > auditUAMax {
		ua = ua[:auditUAMax]
	}
	return "addr=" + r.RemoteAddr + " ua=" + strconv.Quote(ua)
}

func (s *Server) servePickupPage(w http.ResponseWriter, r *http.Request) { s.servePickup(w, r, false) }

func (s *Server) servePickupDownload(w http.ResponseWriter, r *http.Request) {
	s.servePickup(w, r, true)
}

// servePickup answers a view (consume false) or a download of /pickup/{token}.
func (s *Server) servePickup(w http.ResponseWriter, r *http.Request, consume bool) {
	pickupHeaders(w)
	tok := r.PathValue("token")
	addr := clientAddr(r)
	if s.pickup.tooManyFailures(addr, s.cfg.Now()) {
		s.log.Warn("pickup: too many refused requests", "addr", addr)
		w.Header().Set("Retry-After", strconv.Itoa(int(pickupFailWindow/time.Second)))
		s.pickupPage(w, http.StatusTooManyRequests, pageData{Kind: "busy"})
		return
	}
	ev := store.PickupEvent{Key: store.PickupKey(tok), User: auditUser, Detail: requestDetail(r)}
	p, err := s.takePickup(ev, consume)
	data := pageData{Token: tok}
	if p != nil {
		data.Pickup = *p
	}
	switch {
	case err == nil && consume:
		s.log.Info("pickup downloaded", "name", p.Name, "serial", p.Serial, "addr", addr)
		w.Header().Set("Content-Type", "application/x-pkcs12")
		cd := mime.FormatMediaType("attachment", map[string]string{"filename": p.FileName})
		if cd == "" { // a name FormatMediaType cannot encode: the browser picks a file name
			cd = "attachment"
		}
		w.Header().Set("Content-Disposition", cd)
		w.Header().Set("Content-Length", strconv.Itoa(len(p.Bundle)))
		_, _ = w.Write(p.Bundle)
	case err == nil:
		data.Kind = "offer"
		s.pickupPage(w, http.StatusOK, data)
	case errors.Is(err, store.ErrPickupConsumed), errors.Is(err, store.ErrPickupExpired), errors.Is(err, store.ErrPickupRevoked):
		s.pickup.failed(addr)
		data.Kind = "gone"
		s.pickupPage(w, http.StatusGone, data)
	case errors.Is(err, store.ErrNotFound):
		s.pickup.failed(addr)
		data.Kind = "unknown"
		s.pickupPage(w, http.StatusNotFound, data)
	default:
		// wsca.db locked for longer than pickupLockTimeout, or unreadable: nothing was consumed.
		s.log.Error("pickup", "err", err, "addr", addr)
		w.Header().Set("Retry-After", "60")
		s.pickupPage(w, http.StatusServiceUnavailable, pageData{Kind: "busy"})
	}
}

// pickupHeaders keep the page and the bundle out of caches, search engines and Referer headers, and
// allow no script: the page needs none.
func pickupHeaders(w http.ResponseWriter) {
	h := w.Header()
	h.Set("Cache-Control", "no-store")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Robots-Tag", "noindex, nofollow")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'")
}

// sweepPickups deletes unused bundles past their expiry every pickupSweep until ctx ends.
func (s *Server) sweepPickups(ctx context.Context) {
	t := time.NewTicker(pickupSweep)
	defer t.Stop()
	for {
		s.expirePickups()
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// expirePickups deletes the bundles past their expiry. It looks read-only first and opens wsca.db for writing
// only when one is due, so a publisher whose CA directory is read-only (no pickups used) stays quiet.
func (s *Server) expirePickups() {
	if !s.pickupDue() {
		return
	}
	s.pickup.mu.Lock()
	defer s.pickup.mu.Unlock()
	st, err := s.pickupStore()
	if err != nil {
		s.log.Warn("pickup expiry: opening the issuance database", "err", err)
		return
	}
	defer st.Close()
	n, err := st.ExpirePickups(auditUser)
	if err != nil {
		s.log.Warn("pickup expiry", "err", err)
	} else if n > 0 {
		s.log.Info("pickup bundles expired and deleted", "count", n)
	}
}

func (s *Server) pickupDue() bool {
	st, err := s.cfg.Dir.OpenStore(true)
	if errors.Is(err, cadir.ErrNotInitialized) || errors.Is(err, store.ErrLocked) {
		return false // nothing yet, or a writer: the next sweep
	}
	if err != nil {
		s.log.Warn("pickup expiry: opening the issuance database", "err", err)
		return false
	}
	defer st.Close()
	n, next, err := st.PendingPickups()
	if err != nil {
		s.log.Warn("pickup expiry", "err", err)
	}
	return n > 0 && !s.cfg.Now().Before(next)
}
