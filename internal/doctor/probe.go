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
	"time"

	"github.com/wsca/wsca/internal/refusal"
)

// run probes the server in the order a WebSocket client meets it — TCP, the TLS handshake (recording what the
// server asks and sends), the server chain, then the RFC 6455 upgrade — and hands each failure to the diagnose*
// functions (diagnose.go), which name its most likely cause.
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

// hasClientAuth reports extKeyUsage clientAuth, anyExtendedKeyUsage or no EKU at all: what a TLS server accepts.
// Deliberately not ca.HasClientAuth (explicit clientAuth only): doctor predicts what the server will do, and a
// server (Go, OpenSSL) accepts all three.
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
// Deliberately not ca.HasServerAuth (explicit serverAuth only, what wsca config and the relay demand): doctor
// predicts what a client will do, and browsers, Go and OpenSSL accept all three.
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
	r.HTTPBody = refusal.SummarizeBody(body)
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
