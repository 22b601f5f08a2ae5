package doctor

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha1"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"
	"syscall"
	"time"

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
	ci := CertInfo{Subject: c.Subject.String(), Issuer: c.Issuer.String(), Serial: c.SerialNumber.Text(16),
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

func (p *prober) run(ctx context.Context) {
	r := p.r
	host, port, err := net.SplitHostPort(p.r.Addr)
	if err != nil {
		r.Cause = CauseUnreachable
		r.add(SeverityError, CheckConnect, "give the address as HOST:PORT, e.g. 127.0.0.1:8443", "%q is not HOST:PORT: %v", r.Addr, err)
		return
	}
	if r.ServerName == "" {
		r.ServerName = host
	}
	if msg := checkPath(r.Path); msg != "" {
		r.Cause = CauseHTTPError
		r.add(SeverityError, CheckUpgrade, "give a path like /wss", "path %q %s", r.Path, msg)
		return
	}
	if p.opts.Certificate != nil {
		if err := p.parseClientCert(); err != nil {
			r.Cause = CauseCertificateRejected
			r.add(SeverityError, CheckClientCert, "", "the client certificate: %v", err)
			return
		}
	}
	ctx, cancel := context.WithTimeout(ctx, p.opts.Timeout)
	defer cancel()
	var d net.Dialer
	raw, err := d.DialContext(ctx, "tcp", r.Addr)
	if err != nil {
		r.Cause = CauseUnreachable
		r.add(SeverityError, CheckConnect, "check that the server runs and listens on "+r.Addr+
			" (ss -ltnp), and that no firewall drops the port", "cannot connect to %s: %v", r.Addr, err)
		return
	}
	defer raw.Close()
	if dl, ok := ctx.Deadline(); ok {
		raw.SetDeadline(dl) //nolint:errcheck // a TCP conn always accepts a deadline
	}
	tc := tls.Client(raw, &tls.Config{
		// The server's chain is verified by analyzeServer, which reports its problems instead of stopping here:
		// the client-certificate probe still runs against a server with a broken chain.
		InsecureSkipVerify: true, //nolint:gosec // verified below
		ServerName:         r.ServerName,
		NextProtos:         []string{"http/1.1"},
		GetClientCertificate: func(cri *tls.CertificateRequestInfo) (*tls.Certificate, error) {
			p.requested = true
			p.acceptable = cri.AcceptableCAs
			if p.opts.Certificate == nil {
				return &tls.Certificate{}, nil
			}
			// Sent even when the server's list does not name its issuer: the server decides, and its answer is
			// what we diagnose.
			p.sent = true
			return p.opts.Certificate, nil
		},
	})
	herr := tc.HandshakeContext(ctx)
	cs := tc.ConnectionState()
	if herr == nil {
		r.TLSVersion = tls.VersionName(cs.Version)
		r.CipherSuite = tls.CipherSuiteName(cs.CipherSuite)
		r.add(SeverityOK, CheckConnect, "", "connected to %s with %s (%s)", r.Addr, r.TLSVersion, r.CipherSuite)
	}
	p.recordRequest()
	p.analyzeServer(cs.PeerCertificates)
	p.analyzeClientRequest(herr == nil)
	if herr != nil {
		p.diagnoseFailure(herr, cs.Version, "the TLS handshake")
		return
	}
	p.upgrade(tc, net.JoinHostPort(r.ServerName, port), cs.Version)
}

// checkPath refuses request targets that would break the request line.
func checkPath(path string) string {
	if !strings.HasPrefix(path, "/") {
		return "must start with /"
	}
	for _, c := range path {
		if c <= ' ' || c == 0x7f {
			return "contains a space or control character"
		}
	}
	return ""
}

func (p *prober) parseClientCert() error {
	c := p.opts.Certificate
	if len(c.Certificate) == 0 {
		return errors.New("it holds no certificate")
	}
	leaf, err := x509.ParseCertificate(c.Certificate[0])
	if err != nil {
		return err
	}
	p.leaf = leaf
	for _, der := range c.Certificate[1:] {
		if cert, err := x509.ParseCertificate(der); err == nil {
			p.chain = append(p.chain, cert)
		}
	}
	ci := certInfo(leaf)
	p.r.ClientCert = &ci
	switch {
	case p.now.After(leaf.NotAfter):
		p.clientCause = CauseExpired
		p.r.add(SeverityError, CheckClientCert, "issue a new one: wsca issue NAME --renew",
			"the client certificate %s expired on %s", leaf.Subject, leaf.NotAfter.UTC().Format(time.RFC3339))
	case p.now.Before(leaf.NotBefore):
		p.clientCause = CauseNotYetValid
		p.r.add(SeverityError, CheckClientCert, "check the clocks of the client and of the CA machine",
			"the client certificate %s is not valid before %s", leaf.Subject, leaf.NotBefore.UTC().Format(time.RFC3339))
	}
	if !hasClientAuth(leaf) {
		p.clientCause = CauseWrongEKU
		p.r.add(SeverityError, CheckClientCert, "issue a client certificate: wsca issue NAME (without --server)",
			"the client certificate %s does not allow client authentication (extended key usage %s)", leaf.Subject,
			ekuNames(leaf))
	}
	return nil
}

func hasClientAuth(c *x509.Certificate) bool {
	return len(c.ExtKeyUsage) == 0 || slices.Contains(c.ExtKeyUsage, x509.ExtKeyUsageClientAuth) ||
		slices.Contains(c.ExtKeyUsage, x509.ExtKeyUsageAny)
}

func ekuNames(c *x509.Certificate) string {
	var names []string
	for _, u := range c.ExtKeyUsage {
		switch u {
		case x509.ExtKeyUsageServerAuth:
			names = append(names, "serverAuth")
		case x509.ExtKeyUsageClientAuth:
			names = append(names, "clientAuth")
		case x509.ExtKeyUsageCodeSigning:
			names = append(names, "codeSigning")
		case x509.ExtKeyUsageEmailProtection:
			names = append(names, "emailProtection")
		default:
			names = append(names, fmt.Sprintf("#%d", u))
		}
	}
	return strings.Join(names, ", ")
}

// decodeDN renders a DER distinguished name as RFC 2253 text, or hex when it does not parse.
func decodeDN(der []byte) string {
	var rdn pkix.RDNSequence
	rest, err := asn1.Unmarshal(der, &rdn)
	if err != nil || len(rest) != 0 {
		return fmt.Sprintf("(undecodable name %x)", der)
	}
	var name pkix.Name
	name.FillFromRDNSequence(&rdn)
	return name.String()
}

func (p *prober) recordRequest() {
	p.r.ClientCertRequested = p.requested
	p.r.ClientCertSent = p.sent
	for _, dn := range p.acceptable {
		p.r.AcceptableCAs = append(p.r.AcceptableCAs, decodeDN(dn))
	}
}

func (p *prober) analyzeClientRequest(handshakeDone bool) {
	r := p.r
	switch {
	case p.requested && len(p.acceptable) == 0:
		r.add(SeverityInfo, CheckClientRequest, "", "the server asks for a client certificate and names no CA: clients offer any")
	case p.requested:
		r.add(SeverityOK, CheckClientRequest, "", "the server asks for a client certificate from: %s",
			strings.Join(r.AcceptableCAs, "; "))
	case handshakeDone && p.leaf != nil:
		r.add(SeverityWarning, CheckClientRequest, "ask for the certificate at the handshake: nginx ssl_verify_client on; "+
			"Apache SSLVerifyClient require at the virtual host, not inside <Location> (TLS 1.3 post-handshake "+
			"authentication fails with Chromium, Node and Go); wsca serve always asks",
			"the server did not ask for a client certificate during the handshake: the certificate was not sent")
	case handshakeDone:
		r.add(SeverityInfo, CheckClientRequest, "", "the server does not ask for a client certificate during the handshake")
	}
	if p.leaf != nil && p.requested && len(p.acceptable) > 0 && !p.issuerAcceptable() {
		r.add(SeverityWarning, CheckClientCert, "use a certificate from one of the CAs the server names, or add this "+
			"CA to the server's client CA file (nginx ssl_client_certificate, Apache SSLCACertificateFile, wsca serve client_ca)",
			"the client certificate was issued by %s, which is not among the CAs the server asks for: browsers will not "+
				"even offer it", p.leaf.Issuer)
	}
}

// issuerAcceptable reports whether the client certificate, or a CA of the chain sent with it, is issued by (or
// is) one of the CAs the server named.
func (p *prober) issuerAcceptable() bool {
	for _, c := range append([]*x509.Certificate{p.leaf}, p.chain...) {
		for _, dn := range p.acceptable {
			if bytes.Equal(c.RawIssuer, dn) || (c != p.leaf && bytes.Equal(c.RawSubject, dn)) {
				return true
			}
		}
	}
	return false
}

func selfSigned(c *x509.Certificate) bool {
	return bytes.Equal(c.RawIssuer, c.RawSubject) && c.CheckSignatureFrom(c) == nil
}

// analyzeServer checks the chain as sent: name, validity, and whether it verifies without help. A server must send
// its intermediate; a client that has only the root (every browser, Node, Java) fails otherwise.
func (p *prober) analyzeServer(certs []*x509.Certificate) {
	r := p.r
	if len(certs) == 0 {
		return
	}
	for _, c := range certs {
		r.ServerChain = append(r.ServerChain, certInfo(c))
	}
	leaf := certs[0]
	if err := leaf.VerifyHostname(r.ServerName); err != nil {
		var names []string
		for _, n := range leaf.DNSNames {
			names = append(names, "DNS:"+n)
		}
		for _, ip := range leaf.IPAddresses {
			names = append(names, "IP:"+ip.String())
		}
		if len(names) == 0 {
			names = append(names, "no subject alternative name at all")
		}
		r.add(SeverityError, CheckServerName, "connect with a name the certificate carries (--server-name), or issue "+
			"one for this name: wsca issue NAME --server --dns "+r.ServerName,
			"name mismatch: the server certificate %s is for %s, not %q", leaf.Subject, strings.Join(names, ", "), r.ServerName)
	} else {
		r.add(SeverityOK, CheckServerName, "", "the server certificate is valid for %q", r.ServerName)
	}
	expiryOK := true
	for i, c := range certs {
		what := "the server certificate"
		if i > 0 {
			what = "the CA certificate " + c.Subject.String() + " sent by the server"
		}
		switch left := c.NotAfter.Sub(p.now); {
		case left <= 0:
			expiryOK = false
			r.add(SeverityError, CheckServerExpiry, "issue a new server certificate and reload the server",
				"%s expired on %s", what, c.NotAfter.UTC().Format(time.RFC3339))
		case p.now.Before(c.NotBefore):
			expiryOK = false
			r.add(SeverityError, CheckServerExpiry, "check the clocks", "%s is not valid before %s", what,
				c.NotBefore.UTC().Format(time.RFC3339))
		case left < CAExpiryWarning:
			expiryOK = false
			r.add(SeverityWarning, CheckServerExpiry, "issue a new server certificate before then",
				"%s expires in %s (%s)", what, days(left), c.NotAfter.UTC().Format(time.DateOnly))
		}
	}
	if expiryOK {
		r.add(SeverityOK, CheckServerExpiry, "", "the server certificate is valid until %s", leaf.NotAfter.UTC().Format(time.DateOnly))
	}
	if !hasServerAuth(leaf) {
		// Checked before the chain: a client certificate in the server's place usually also lacks the
		// intermediate (wsca writes client certificates alone), and "missing intermediate" would send the
		// admin down the wrong path.
		r.add(SeverityError, CheckServerEKU, "give the server a server certificate: wsca issue NAME --server --dns "+
			r.ServerName+" (then nginx ssl_certificate, Apache SSLCertificateFile or wsca serve tls.cert)",
			"the server presented a client certificate: %s has extended key usage %s, not serverAuth — clients refuse it",
			leaf.Subject, ekuNames(leaf))
		return
	}
	p.verifyServerChain(certs)
}

// hasServerAuth reports extKeyUsage serverAuth (or anyExtendedKeyUsage, or no EKU at all: what TLS clients accept).
func hasServerAuth(c *x509.Certificate) bool {
	return len(c.ExtKeyUsage) == 0 || slices.Contains(c.ExtKeyUsage, x509.ExtKeyUsageServerAuth) ||
		slices.Contains(c.ExtKeyUsage, x509.ExtKeyUsageAny)
}

func (p *prober) verifyServerChain(certs []*x509.Certificate) {
	r := p.r
	leaf := certs[0]
	var roots *x509.CertPool
	extra := x509.NewCertPool()
	if len(p.opts.CAs) > 0 {
		roots = x509.NewCertPool()
		anchors := 0
		for _, c := range p.opts.CAs {
			if selfSigned(c) {
				roots.AddCert(c)
				anchors++
			} else {
				extra.AddCert(c)
			}
		}
		if anchors == 0 { // a bundle of intermediates only: trust them as given
			for _, c := range p.opts.CAs {
				roots.AddCert(c)
			}
		}
	}
	sent := x509.NewCertPool()
	for _, c := range certs[1:] {
		sent.AddCert(c)
	}
	opts := x509.VerifyOptions{Roots: roots, Intermediates: sent, CurrentTime: p.now,
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	chains, err := leaf.Verify(opts)
	if err == nil {
		var names []string
		for _, c := range chains[0] {
			names = append(names, c.Subject.CommonName)
		}
		r.add(SeverityOK, CheckServerChain, "", "the server sends a complete chain: %s", strings.Join(names, " ← "))
		return
	}
	var cie x509.CertificateInvalidError
	if errors.As(err, &cie) && cie.Reason == x509.Expired {
		return // reported by the expiry check
	}
	var uae x509.UnknownAuthorityError
	if !errors.As(err, &uae) {
		r.add(SeverityError, CheckServerChain, "", "the server's chain does not verify: %v", err)
		return
	}
	withExtra := x509.NewCertPool()
	for _, c := range certs[1:] {
		withExtra.AddCert(c)
	}
	for _, c := range p.opts.CAs {
		if !selfSigned(c) {
			withExtra.AddCert(c)
		}
	}
	opts.Intermediates = withExtra
	if chains, err := leaf.Verify(opts); err == nil && len(chains[0]) > len(certs) {
		missing := chains[0][1]
		r.add(SeverityError, CheckServerChain,
			fmt.Sprintf("make the server send its certificate followed by the intermediate %s (nginx ssl_certificate, "+
				"Apache SSLCertificateFile, wsca serve tls.cert; wsca issue NAME --server writes both into NAME.crt)",
				missing.Subject.CommonName),
			"missing intermediate: the server sent %s, which does not verify against the given roots without the "+
				"intermediate %s — clients that trust only the root (browsers, Node, Java) fail",
			countCerts(len(certs)), missing.Subject)
		return
	}
	if len(certs) == 1 && !selfSigned(leaf) {
		r.add(SeverityError, CheckServerChain, "pass the CA bundle that issued it with --ca, and make the server send "+
			"its certificate followed by its intermediate",
			"missing intermediate or unknown CA: the server sent only its own certificate, issued by %s, which is not "+
				"among the given roots", leaf.Issuer)
		return
	}
	r.add(SeverityError, CheckServerChain, "pass the CA that issued the server certificate with --ca",
		"the server's chain does not lead to a trusted root: the top certificate sent is issued by %s",
		certs[len(certs)-1].Issuer)
}

func countCerts(n int) string {
	if n == 1 {
		return "only its own certificate"
	}
	return fmt.Sprintf("a chain of %d certificates that lacks its issuer", n)
}

// upgrade sends an RFC 6455 §4.1 opening handshake and reads the answer.
func (p *prober) upgrade(tc *tls.Conn, host string, version uint16) {
	r := p.r
	var nonce [16]byte
	rand.Read(nonce[:]) //nolint:errcheck // crypto/rand.Read never fails (Go 1.24+)
	key := base64.StdEncoding.EncodeToString(nonce[:])
	req := "GET " + r.Path + " HTTP/1.1\r\n" +
		"Host: " + host + "\r\n" +
		"User-Agent: wsca-doctor\r\n" +
		"Upgrade: websocket\r\n" +
		"Connection: Upgrade\r\n" +
		"Sec-WebSocket-Key: " + key + "\r\n" +
		"Sec-WebSocket-Version: 13\r\n\r\n"
	// A write error is not final: under TLS 1.3 the server's alert may already be waiting to be read.
	_, werr := io.WriteString(tc, req)
	resp, err := http.ReadResponse(bufio.NewReader(tc), nil)
	if err != nil {
		if werr != nil {
			err = fmt.Errorf("%w (writing the request: %v)", err, werr)
		}
		p.diagnoseFailure(err, version, "reading the answer to the upgrade request")
		return
	}
	defer resp.Body.Close()
	r.HTTPStatus = resp.StatusCode
	if resp.StatusCode == http.StatusSwitchingProtocols {
		p.checkAccept(resp, key)
		if r.Upgraded {
			// Close politely: a masked close frame 1000 (RFC 6455 §5.5.1); errors do not matter any more.
			tc.Write([]byte{0x88, 0x82, 0, 0, 0, 0, 0x03, 0xe8}) //nolint:errcheck
		}
		return
	}
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	r.HTTPBody = summarizeBody(body)
	p.diagnoseStatus(resp.StatusCode, r.HTTPBody)
}

// acceptGUID is the RFC 6455 §1.3 GUID hashed with the client's key into Sec-WebSocket-Accept.
const acceptGUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

func (p *prober) checkAccept(resp *http.Response, key string) {
	h := sha1.Sum([]byte(key + acceptGUID))
	want := base64.StdEncoding.EncodeToString(h[:])
	if got := resp.Header.Get("Sec-WebSocket-Accept"); got != want || !strings.EqualFold(resp.Header.Get("Upgrade"), "websocket") {
		p.r.Cause = CauseProtocol
		p.r.add(SeverityError, CheckUpgrade, "check what answers on this path: it is not a WebSocket server",
			"the server answered 101 but not as RFC 6455 requires (Upgrade %q, Sec-WebSocket-Accept %q, want %q)",
			resp.Header.Get("Upgrade"), got, want)
		return
	}
	p.r.Upgraded = true
	p.r.Cause = CauseOK
	what := "without a client certificate"
	if p.sent {
		what = "with the client certificate " + p.leaf.Subject.String()
	}
	p.r.add(SeverityOK, CheckUpgrade, "", "the WebSocket upgrade on %s succeeded %s (101 Switching Protocols)", p.r.Path, what)
}

// summarizeBody reduces an error page to one line: the HTML <title> (nginx, Apache) or the first line.
func summarizeBody(body []byte) string {
	// Invalid UTF-8 is replaced first, so that the ASCII-only lowering below keeps byte offsets valid.
	s := strings.ToValidUTF8(string(body), "\uFFFD")
	if i := strings.Index(asciiLower(s), "<title>"); i >= 0 {
		rest := s[i+len("<title>"):]
		if j := strings.Index(asciiLower(rest), "</title>"); j >= 0 {
			s = rest[:j]
		}
	}
	s = strings.TrimSpace(s)
	if i := strings.IndexAny(s, "\r\n"); i >= 0 {
		s = strings.TrimSpace(s[:i])
	}
	s = strings.Map(func(r rune) rune {
		if r < ' ' || r == 0x7f {
			return -1
		}
		return r
	}, s)
	if r := []rune(s); len(r) > 200 {
		s = string(r[:200]) + "…"
	}
	return s
}

// asciiLower lowers A–Z only, keeping every byte offset of s (strings.ToLower may change lengths).
func asciiLower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}

// fail records the cause and the upgrade finding.
func (p *prober) fail(cause, fix, format string, args ...any) {
	p.r.Cause = cause
	p.r.add(SeverityError, CheckUpgrade, fix, format, args...)
}

// diagnoseFailure explains a handshake or read error.
func (p *prober) diagnoseFailure(err error, version uint16, during string) {
	if code, ok := alertOf(err); ok {
		p.r.Alert = alertName(code)
		p.diagnoseAlert(code, during)
		return
	}
	reset := errors.Is(err, syscall.ECONNRESET) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, net.ErrClosed) || errors.Is(err, syscall.EPIPE)
	switch {
	case reset && p.sent && version == tls.VersionTLS13:
		p.diagnoseRejectedCert(fmt.Sprintf("the server closed the connection after the handshake without an answer (%v)", err))
	case reset && p.requested && !p.sent:
		p.fail(CauseNoCertificate, "pass a client certificate: --p12 FILE --p12-password-file FILE, or --cert and --key",
			"no client certificate sent: the server asked for one and closed the connection (%v)", err)
	case errors.Is(err, context.DeadlineExceeded) || isTimeout(err):
		p.fail(CauseHTTPError, "check the server's log; raise --timeout for a slow server",
			"no answer within %s during %s", p.opts.Timeout, during)
	default:
		cause := CauseHTTPError
		if during == "the TLS handshake" {
			cause = CauseTLS
		}
		p.fail(cause, "check the server's error log", "%s failed: %v", during, err)
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

func (p *prober) diagnoseAlert(code int, during string) {
	name := alertName(code)
	noCertFix := "pass a client certificate: --p12 FILE --p12-password-file FILE, or --cert and --key"
	switch {
	case code == alertCertificateRequired || (!p.sent && (code == alertHandshakeFailure || code == alertBadCertificate) && p.requested):
		p.fail(CauseNoCertificate, noCertFix, "no client certificate sent: the server requires one (TLS alert %s)", name)
	case code == alertCertificateRevoked:
		p.fail(CauseRevoked, "the certificate's owner needs a new one: wsca issue NAME --renew",
			"the client certificate is revoked (TLS alert %s)%s", name, p.revocationDetail())
	case code == alertCertificateExpired:
		p.fail(CauseExpired, "issue a new one: wsca issue NAME --renew", "the client certificate has expired (TLS alert %s)%s",
			name, p.expiryDetail())
	case code == alertUnknownCA:
		p.fail(CauseUnknownCA, "use a certificate from the CA the server trusts, or add its CA to the server's client CA file",
			"the server does not trust the CA of the client certificate (TLS alert %s)%s", name, p.issuerDetail())
	case p.sent && (code == alertBadCertificate || code == alertCertificateUnknown || code == alertUnsupportedCertificate ||
		code == alertAccessDenied || code == alertHandshakeFailure):
		p.diagnoseRejectedCert(fmt.Sprintf("the server refused the client certificate with TLS alert %s", name))
	default:
		cause := CauseTLS
		if during != "the TLS handshake" {
			cause = CauseHTTPError
		}
		p.fail(cause, "check the server's error log for the matching handshake error",
			"the server ended the connection with TLS alert %s during %s", name, during)
	}
}

// diagnoseRejectedCert finds the most likely reason for a refusal that names none (alert bad_certificate, which
// wsca serve and Go servers send for every reason, or nginx's "400 The SSL certificate error"): the certificate's
// own dates and key usage, its issuer against the CAs the server named, then the CRLs given.
func (p *prober) diagnoseRejectedCert(what string) {
	leaf := p.leaf
	switch {
	case leaf == nil || !p.sent:
		p.fail(CauseNoCertificate, "pass a client certificate: --p12 FILE --p12-password-file FILE, or --cert and --key",
			"%s: no client certificate was sent", what)
	case p.now.After(leaf.NotAfter):
		p.fail(CauseExpired, "issue a new one: wsca issue NAME --renew", "%s: the client certificate has expired%s", what, p.expiryDetail())
	case p.now.Before(leaf.NotBefore):
		p.fail(CauseNotYetValid, "check the clocks", "%s: the client certificate is not valid before %s", what,
			leaf.NotBefore.UTC().Format(time.RFC3339))
	case !hasClientAuth(leaf):
		p.fail(CauseWrongEKU, "issue a client certificate: wsca issue NAME (without --server)",
			"%s: the certificate does not allow client authentication (extended key usage %s)", what, ekuNames(leaf))
	case len(p.acceptable) > 0 && !p.issuerAcceptable():
		p.fail(CauseUnknownCA, "use a certificate from one of the CAs the server names, or add this CA to its client CA file",
			"%s: unknown CA%s", what, p.issuerDetail())
	case p.lookalikeIssuer() != nil:
		p.fail(CauseUnknownCA, "use a certificate issued by this CA",
			"%s: unknown CA: the certificate names %s as its issuer but was not signed by that CA's key (another CA "+
				"with the same name)", what, leaf.Issuer)
	default:
		revoked, checked, detail := p.checkCRLs()
		switch {
		case revoked:
			p.fail(CauseRevoked, "the certificate's owner needs a new one: wsca issue NAME --renew",
				"%s: the certificate is revoked — %s", what, detail)
		case checked:
			p.fail(CauseCertificateRejected, "read the server's error log: its CRL may be expired or older than yours, "+
				"or its verify depth too small",
				"%s, yet the certificate is valid, has clientAuth, comes from a CA the server accepts and is not in the "+
					"given CRL%s", what, detail)
		default:
			p.fail(CauseRevoked, "confirm with wsca verify CERT (or pass --crl); the owner then needs a new certificate",
				"%s: most likely revoked — the certificate is within its validity, allows clientAuth and comes from a CA "+
					"the server accepts, which leaves revocation (pass --crl to confirm)", what)
		}
	}
}

// lookalikeIssuer returns a CA of the given bundle that has the leaf's issuer name but did not sign it.
func (p *prober) lookalikeIssuer() *x509.Certificate {
	var named *x509.Certificate
	for _, c := range p.opts.CAs {
		if bytes.Equal(c.RawSubject, p.leaf.RawIssuer) {
			if p.leaf.CheckSignatureFrom(c) == nil {
				return nil
			}
			named = c
		}
	}
	return named
}

// checkCRLs looks the client certificate, and the CAs sent with it, up in the given CRLs.
func (p *prober) checkCRLs() (revoked, checked bool, detail string) {
	certs := append([]*x509.Certificate{p.leaf}, p.chain...)
	var stale []string
	for _, cert := range certs {
		for _, cl := range p.opts.CRLs {
			if !bytes.Equal(cl.Issuer.RawSubject, cert.RawIssuer) || cert.CheckSignatureFrom(cl.Issuer) != nil {
				continue
			}
			checked = true
			if !p.now.Before(cl.NextUpdate) {
				stale = append(stale, fmt.Sprintf("the CRL of %s expired at %s", cl.Issuer.Subject.CommonName,
					cl.NextUpdate.UTC().Format(time.RFC3339)))
			}
			if rv, ok := cl.Revoked.Lookup(cert.SerialNumber.Bytes()); ok {
				return true, true, fmt.Sprintf("serial %s (%s) is in the CRL of %s: revoked at %s (%s)",
					cert.SerialNumber.Text(16), cert.Subject, cl.Issuer.Subject.CommonName,
					rv.RevokedAt.UTC().Format(time.RFC3339), crl.ReasonString(rv.Reason))
			}
		}
	}
	if len(stale) > 0 {
		detail = " (" + strings.Join(stale, "; ") + ": a server with that CRL rejects every client — run wsca crl)"
	}
	return false, checked, detail
}

func (p *prober) revocationDetail() string {
	if p.leaf == nil {
		return ""
	}
	if revoked, _, detail := p.checkCRLs(); revoked {
		return ": " + detail
	}
	return fmt.Sprintf(": serial %s (%s)", p.leaf.SerialNumber.Text(16), p.leaf.Subject)
}

func (p *prober) expiryDetail() string {
	if p.leaf == nil {
		return ""
	}
	return fmt.Sprintf(": %s expired on %s", p.leaf.Subject, p.leaf.NotAfter.UTC().Format(time.RFC3339))
}

func (p *prober) issuerDetail() string {
	if p.leaf == nil {
		return ""
	}
	s := fmt.Sprintf(": the certificate was issued by %s", p.leaf.Issuer)
	if len(p.r.AcceptableCAs) > 0 {
		s += "; the server accepts " + strings.Join(p.r.AcceptableCAs, "; ")
	}
	return s
}

// diagnoseStatus explains a non-101 answer to the upgrade request.
func (p *prober) diagnoseStatus(status int, body string) {
	lower := strings.ToLower(body)
	quoted := fmt.Sprintf("%d %q", status, body)
	noCertFix := "pass a client certificate: --p12 FILE --p12-password-file FILE, or --cert and --key"
	switch {
	// nginx answers 400 (its internal 496) when ssl_verify_client on finds no certificate, and 400 (495) when
	// verification failed; it sends no TLS alert, so the reason must come from the certificate itself.
	case status == 496 || strings.Contains(lower, "no required ssl certificate"):
		p.fail(CauseNoCertificate, noCertFix, "no client certificate sent: the server answered %s", quoted)
	case status == 495 || strings.Contains(lower, "ssl certificate error"):
		p.diagnoseRejectedCert(fmt.Sprintf("the server refused the client certificate with %s", quoted))
	case status == http.StatusForbidden && !p.sent && strings.Contains(lower, "certificate required"):
		p.fail(CauseNoCertificate, noCertFix, "no client certificate sent: the server answered %s", quoted)
	case status == http.StatusForbidden && strings.Contains(lower, "revoked"):
		p.fail(CauseRevoked, "the certificate's owner needs a new one: wsca issue NAME --renew",
			"the client certificate is revoked: the server answered %s%s", quoted, p.revocationDetail())
	case status == http.StatusForbidden && !p.requested && p.leaf != nil:
		p.fail(CauseForbidden, "make the server ask for the certificate at the handshake: Apache SSLVerifyClient require "+
			"at the virtual host, not inside <Location> (TLS 1.3 post-handshake authentication fails with browsers, "+
			"Node and Go)", "forbidden: the server answered %s without having asked for the client certificate", quoted)
	case status == http.StatusForbidden:
		p.fail(CauseForbidden, "check the route's policy (wsca serve allow_cn, allow_ou, allow_email, allow_uri, "+
			"allow_cidr; Apache Require; nginx allow/deny and map rules): the server's log names the rule",
			"forbidden by policy: the server accepted the TLS connection%s but answered %s", p.certPhrase(), quoted)
	case status == http.StatusBadGateway || status == http.StatusServiceUnavailable || status == http.StatusGatewayTimeout:
		p.fail(CauseBackendDown, "start the backend, or fix the backend address (wsca serve backend, nginx proxy_pass, "+
			"Apache ProxyPass); the server's error log names it",
			"backend down: the server accepted the connection%s but answered %s: it cannot reach its backend", p.certPhrase(), quoted)
	case status == http.StatusNotFound:
		p.fail(CauseNotFound, "check --path against the server's routes (wsca serve routes, nginx location, Apache <Location>)",
			"nothing is routed at %s: the server answered %s", p.r.Path, quoted)
	case status == http.StatusBadRequest || status == http.StatusUpgradeRequired || (status >= 200 && status < 400):
		p.fail(CauseNotWebSocket, "relay WebSocket upgrades on this path: nginx proxy_http_version 1.1 + "+
			"proxy_set_header Upgrade $http_upgrade + Connection \"upgrade\"; Apache ProxyPass ws://…; wsca serve a ws:// backend",
			"not a WebSocket route: the upgrade request on %s was answered %s instead of 101 Switching Protocols", p.r.Path, quoted)
	default:
		p.fail(CauseHTTPError, "check the server's error log", "the upgrade request on %s was answered %s", p.r.Path, quoted)
	}
}

func (p *prober) certPhrase() string {
	if p.sent {
		return " with the client certificate " + p.leaf.Subject.String()
	}
	return ""
}
