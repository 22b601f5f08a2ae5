package publish

import (
	"encoding/base64"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/wsca/wsca/internal/ocspresp"
)

// serveOCSP is POST /ocsp (application/ocsp-request, RFC 6960 §A.1) and GET /ocsp/<base64 DER request>.
// Every OCSP-level answer, including malformedRequest and unauthorized, is HTTP 200 with an OCSPResponse
// body, as OCSP clients expect; only a body over ocspresp.MaxRequestSize gets 413 (with malformedRequest),
// read no further than the limit.
func (s *Server) serveOCSP(w http.ResponseWriter, r *http.Request) {
	var der []byte
	switch r.Method {
	case http.MethodPost:
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, ocspresp.MaxRequestSize))
		if err != nil {
			var tooBig *http.MaxBytesError // declared here: on the success path it would escape for nothing
			if errors.As(err, &tooBig) {
				s.writeOCSP(w, r, http.StatusRequestEntityTooLarge, ocspresp.ErrorResponse(ocspresp.MalformedRequest), ocspresp.Result{Status: ocspresp.MalformedRequest})
			}
			return // otherwise the client went away
		}
		der = body
	case http.MethodGet, http.MethodHead:
		enc := strings.TrimPrefix(strings.TrimPrefix(r.URL.Path, "/ocsp"), "/")
		var err error
		if der, err = base64.StdEncoding.DecodeString(enc); err != nil {
			der, err = base64.RawURLEncoding.DecodeString(strings.TrimRight(enc, "="))
		}
		if err != nil {
			s.writeOCSP(w, r, http.StatusOK, ocspresp.ErrorResponse(ocspresp.MalformedRequest), ocspresp.Result{Status: ocspresp.MalformedRequest})
			return
		}
	default:
		w.Header().Set("Allow", "GET, HEAD, POST")
		http.Error(w, "OCSP takes GET /ocsp/<base64> or POST /ocsp", http.StatusMethodNotAllowed)
		return
	}
	resp, res := s.ocsp.Respond(der)
	s.writeOCSP(w, r, http.StatusOK, resp, res)
}

func (s *Server) writeOCSP(w http.ResponseWriter, r *http.Request, code int, resp []byte, res ocspresp.Result) {
	s.metrics.countOCSP(res)
	if res.Status != ocspresp.Successful {
		s.log.Debug("OCSP request refused", "status", statusName(res.Status), "reason", res.Reason, "remote", r.RemoteAddr)
	}
	h := w.Header()
	// The constant values are shared, read-only slices assigned under their canonical keys: Header.Set
	// would allocate a new one-element slice per header on every response. net/http only reads them.
	h["Content-Type"] = s.hdr.contentType
	h["Content-Length"] = []string{strconv.Itoa(len(resp))}
	// RFC 5019 §6: a nonce-less GET may be cached by HTTP caches until shortly before nextUpdate; bounded
	// like the CRL so a cache never hides a revocation for long. Everything else must not be cached.
	if r.Method != http.MethodPost && res.Status == ocspresp.Successful && !res.Nonce {
		age := min(max(res.Next.Sub(s.cfg.Now()), 0), maxCRLAge)
		h.Set("Cache-Control", "public, max-age="+strconv.Itoa(int(age/time.Second))+", no-transform")
	} else {
		h["Cache-Control"] = s.hdr.noStore
	}
	w.WriteHeader(code)
	if r.Method != http.MethodHead {
		_, _ = w.Write(resp)
	}
}

// ocspHeaders are the header values every OCSP answer carries, made once per Server. They are never appended
// to or changed (see writeOCSP).
type ocspHeaders struct{ contentType, noStore []string }

func newOCSPHeaders() ocspHeaders {
	return ocspHeaders{contentType: []string{"application/ocsp-response"}, noStore: []string{"no-store"}}
}
