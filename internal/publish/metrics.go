package publish

import (
	"fmt"
	"net/http"
	"sync/atomic"

	"github.com/wsca/wsca/internal/ocspresp"
)

// metrics are the publisher's counters, exposed at /metrics in the Prometheus text format.
type metrics struct {
	crlPublished, crlRefused, dbReads atomic.Int64
	dbHeld                            atomic.Int64 // ns wsca.db was open in the last read
	waiting                           atomic.Int64
	ocspCached                        atomic.Int64
	ocsp                              [8]atomic.Int64 // by ocspresp.ResponseStatus
}

func (m *metrics) countOCSP(res ocspresp.Result) {
	if int(res.Status) < len(m.ocsp) {
		m.ocsp[res.Status].Add(1)
	}
	if res.Cached {
		m.ocspCached.Add(1)
	}
}

func statusName(s ocspresp.ResponseStatus) string {
	switch s {
	case ocspresp.Successful:
		return "successful"
	case ocspresp.MalformedRequest:
		return "malformedRequest"
	case ocspresp.InternalError:
		return "internalError"
	case ocspresp.TryLater:
		return "tryLater"
	case ocspresp.Unauthorized:
		return "unauthorized"
	}
	return fmt.Sprintf("status%d", int(s))
}

func (s *Server) serveMetrics(w http.ResponseWriter, _ *http.Request) {
	m := &s.metrics
	w.Header().Set("Content-Type", "text/plain; version=0.0.4")
	fmt.Fprintf(w, "# HELP wsca_publish_crl_published_total crl.pem publications picked up.\n# TYPE wsca_publish_crl_published_total counter\nwsca_publish_crl_published_total %d\n", m.crlPublished.Load())
	fmt.Fprintf(w, "# HELP wsca_publish_crl_refused_total crl.pem versions refused (unparsable, or a CRL number going backwards).\n# TYPE wsca_publish_crl_refused_total counter\nwsca_publish_crl_refused_total %d\n", m.crlRefused.Load())
	fmt.Fprintf(w, "# HELP wsca_publish_crl_waiting Long-poll requests waiting for a new crl.pem.\n# TYPE wsca_publish_crl_waiting gauge\nwsca_publish_crl_waiting %d\n", m.waiting.Load())
	fmt.Fprintf(w, "# HELP wsca_publish_db_reads_total Reads of wsca.db after it changed.\n# TYPE wsca_publish_db_reads_total counter\nwsca_publish_db_reads_total %d\n", m.dbReads.Load())
	fmt.Fprintf(w, "# HELP wsca_publish_db_held_seconds How long the last read kept wsca.db open (writers wait that long).\n# TYPE wsca_publish_db_held_seconds gauge\nwsca_publish_db_held_seconds %g\n", float64(m.dbHeld.Load())/1e9)
	fmt.Fprintf(w, "# HELP wsca_publish_ocsp_responses_total OCSP responses by status.\n# TYPE wsca_publish_ocsp_responses_total counter\n")
	for _, st := range []ocspresp.ResponseStatus{ocspresp.Successful, ocspresp.MalformedRequest, ocspresp.InternalError, ocspresp.TryLater, ocspresp.Unauthorized} {
		fmt.Fprintf(w, "wsca_publish_ocsp_responses_total{status=%q} %d\n", statusName(st), m.ocsp[st].Load())
	}
	fmt.Fprintf(w, "# HELP wsca_publish_ocsp_cached_total OCSP responses served pre-signed from the cache.\n# TYPE wsca_publish_ocsp_cached_total counter\nwsca_publish_ocsp_cached_total %d\n", m.ocspCached.Load())
}
