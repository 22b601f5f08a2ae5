package publish

import (
	"net/http"
	"strings"
)

// Handler returns the publisher's routes: /crl.pem, /crl/{intermediate,root}.crl, /ca.crt, /ocsp (POST),
// /ocsp/<base64> (GET), /metrics, and the one-time bundle pickup /pickup/<token> (GET: the page, POST: the
// download; pickup.go).
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /crl.pem", s.serveCRLPEM)
	mux.HandleFunc("GET /crl/{name}", s.serveCRLDER)
	mux.HandleFunc("GET /ca.crt", s.serveCACert)
	mux.HandleFunc("GET /metrics", s.serveMetrics)
	mux.HandleFunc("GET /pickup/{token}", s.servePickupPage)
	mux.HandleFunc("POST /pickup/{token}", s.servePickupDownload)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// OCSP first, outside the mux: a base64 request may contain "//", which ServeMux would "clean"
		// with a redirect that OCSP clients do not follow.
		if r.URL.Path == "/ocsp" || strings.HasPrefix(r.URL.Path, "/ocsp/") {
			s.serveOCSP(w, r)
			return
		}
		mux.ServeHTTP(w, r)
	})
}
