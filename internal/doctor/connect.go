package doctor

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"strings"
	"time"

	"github.com/wsca/wsca/ca"
	"github.com/wsca/wsca/crl"
)

// Causes: the Report.Cause values, the most likely reason a WebSocket client fails (or CauseOK). They are stable.
const (
	CauseOK                  = "ok"                   // 101 Switching Protocols
	CauseUnreachable         = "unreachable"          // no TCP connection
	CauseTLS                 = "tls_failure"          // the handshake failed for a reason other than the client certificate
	CauseNoCertificate       = "no_certificate"       // the server needs a client certificate and none was sent
	CauseUnknownCA           = "unknown_ca"           // the client certificate is not from a CA the server trusts
	CauseRevoked             = "revoked"              // the client certificate (or its CA) is revoked
	CauseExpired             = "expired"              // the client certificate has expired
	CauseNotYetValid         = "not_yet_valid"        // the client certificate's NotBefore is in the future
	CauseWrongEKU            = "wrong_eku"            // the client certificate lacks extended key usage clientAuth
	CauseCertificateRejected = "certificate_rejected" // refused, and nothing in the certificate explains it
	CauseForbidden           = "forbidden"            // 403: the certificate is valid but the route's policy refuses it
	CauseBackendDown         = "backend_down"         // 502/503/504: the server cannot reach its backend
	CauseNotWebSocket        = "not_websocket"        // 400/426 or a non-101 success: not a WebSocket route
	CauseNotFound            = "not_found"            // 404: nothing is routed at this path
	CauseHTTPError           = "http_error"           // another HTTP status, or no HTTP answer at all
	CauseProtocol            = "protocol_error"       // a 101 that is not a valid RFC 6455 answer
	// CauseServerCertificate: the upgrade worked for the doctor (which checks the server itself, after the
	// handshake) but clients will refuse the server: a client certificate in the server's place, a wrong
	// name, an expired certificate or a missing intermediate. Never reported as CauseOK.
	CauseServerCertificate = "server_certificate"
)

// DefaultConnectTimeout bounds a whole Connect run when ConnectOptions.Timeout is zero.
const DefaultConnectTimeout = 10 * time.Second

// ConnectOptions configure Connect.
type ConnectOptions struct {
	// ServerName is the name the server certificate must carry and the SNI sent (default: the host of addr).
	ServerName string
	// CAs is the CA bundle that should verify the server (wsca's ca.crt, or --ca): its self-signed certificates
	// are the trust anchors; the others are used only to tell "missing intermediate" from "unknown CA". Nil: the
	// system roots. It also lets Connect tell a look-alike client CA (same name, other key) from the real one.
	CAs []*x509.Certificate
	// Certificate is the client certificate with its key and chain; nil sends none.
	Certificate *tls.Certificate
	// Path is the WebSocket path to upgrade (default "/").
	Path string
	// CRLs, when given (wsca's crl.pem), confirm locally that a refused client certificate is revoked.
	CRLs []*crl.CRL
	// Timeout bounds the whole run (default DefaultConnectTimeout).
	Timeout time.Duration
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// CertInfo describes a certificate in a Report.
type CertInfo struct {
	Subject     string    `json:"subject"`
	Issuer      string    `json:"issuer"`
	Serial      string    `json:"serial"`
	NotBefore   time.Time `json:"not_before"`
	NotAfter    time.Time `json:"not_after"`
	DNSNames    []string  `json:"dns_names,omitempty"`
	IPAddresses []string  `json:"ip_addresses,omitempty"`
	IsCA        bool      `json:"is_ca"`
}

func certInfo(c *x509.Certificate) CertInfo {
	ci := CertInfo{Subject: c.Subject.String(), Issuer: c.Issuer.String(), Serial: ca.SerialHex(c.SerialNumber),
		NotBefore: c.NotBefore.UTC(), NotAfter: c.NotAfter.UTC(), DNSNames: c.DNSNames, IsCA: c.IsCA}
	for _, ip := range c.IPAddresses {
		ci.IPAddresses = append(ci.IPAddresses, ip.String())
	}
	return ci
}

// Report is what Connect found. Its JSON form is stable: `wsca doctor --connect --json` prints it.
type Report struct {
	Addr       string `json:"addr"`
	ServerName string `json:"server_name"`
	Path       string `json:"path"`
	// TLSVersion and CipherSuite are set when the handshake completed.
	TLSVersion  string `json:"tls_version,omitempty"`
	CipherSuite string `json:"cipher_suite,omitempty"`
	// ServerChain is the chain exactly as the server sent it, leaf first.
	ServerChain []CertInfo `json:"server_chain"`
	// ClientCertRequested reports a CertificateRequest during the handshake; AcceptableCAs are the distinguished
	// names it listed (RFC 8446 §4.2.4 certificate_authorities; RFC 5246 §7.4.4), RFC 2253 style.
	ClientCertRequested bool     `json:"client_cert_requested"`
	AcceptableCAs       []string `json:"acceptable_cas"`
	// ClientCert is the certificate given in the options, ClientCertSent whether it went to the server.
	ClientCert     *CertInfo `json:"client_cert,omitempty"`
	ClientCertSent bool      `json:"client_cert_sent"`
	// Alert is the TLS alert the server sent (RFC name, e.g. "bad_certificate"), if any.
	Alert string `json:"tls_alert,omitempty"`
	// HTTPStatus and HTTPBody are the answer to the upgrade request (the body shortened to its first line or
	// HTML title).
	HTTPStatus int    `json:"http_status,omitempty"`
	HTTPBody   string `json:"http_body,omitempty"`
	// Upgraded reports a valid 101 Switching Protocols.
	Upgraded bool `json:"upgraded"`
	// Cause is one of the Cause* constants.
	Cause    string    `json:"cause"`
	Findings []Finding `json:"findings"`
}

func (r *Report) add(sev Severity, check, fix, format string, args ...any) {
	r.Findings = append(r.Findings, Finding{Severity: sev, Check: check, Message: fmt.Sprintf(format, args...), Fix: fix})
}

// prober holds one Connect run.
type prober struct {
	opts ConnectOptions
	now  time.Time
	r    *Report

	requested   bool
	acceptable  [][]byte
	sent        bool
	clientCause string              // what is wrong with the client certificate itself, if anything
	leaf        *x509.Certificate   // the client certificate, parsed
	chain       []*x509.Certificate // the rest of the client chain
}

// Connect connects to addr (host:port) as a TLS client, reports the server's chain and its problems, the client
// CAs the server asks for, and sends a real RFC 6455 upgrade request for opts.Path, with the client certificate if
// one is given. When the upgrade fails it names the most likely cause from the TLS alert (under TLS 1.3 a refused
// client certificate surfaces on the first read, not in the handshake), the HTTP status and body, and what the
// certificate itself shows (expiry, EKU, issuer, the given CRLs). Connect never fails: every problem, including
// an unreachable server, is a Finding, and Cause is always set.
func Connect(ctx context.Context, addr string, opts ConnectOptions) Report {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Timeout <= 0 {
		opts.Timeout = DefaultConnectTimeout
	}
	if opts.Path == "" {
		opts.Path = "/"
	}
	r := &Report{Addr: addr, Path: opts.Path, ServerName: opts.ServerName, ServerChain: []CertInfo{}, AcceptableCAs: []string{}}
	p := &prober{opts: opts, now: opts.Now(), r: r}
	p.run(ctx)
	p.finalCause()
	return *r
}

// finalCause keeps Cause from saying "ok" next to an error: the doctor's own upgrade can succeed where
// clients fail (it checks the server's certificate itself, after the handshake), and the first error then
// names the cause.
func (p *prober) finalCause() {
	r := p.r
	if r.Cause != CauseOK {
		return
	}
	for _, f := range r.Findings {
		if f.Severity != SeverityError {
			continue
		}
		switch {
		case strings.HasPrefix(f.Check, "server."):
			r.Cause = CauseServerCertificate
		case f.Check == CheckClientCert && p.clientCause != "":
			r.Cause = p.clientCause
		default:
			r.Cause = CauseHTTPError
		}
		return
	}
}
