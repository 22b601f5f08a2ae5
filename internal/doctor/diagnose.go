package doctor

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"syscall"
	"time"

	"github.com/wsca/wsca/ca"
	"github.com/wsca/wsca/crl"
	"github.com/wsca/wsca/internal/refusal"
)

// fail records the cause and the upgrade finding.
func (p *prober) fail(cause, fix, format string, args ...any) {
	p.r.Cause = cause
	p.r.add(SeverityError, CheckUpgrade, fix, format, args...)
}

// diagnoseFailure explains a handshake or read error.
func (p *prober) diagnoseFailure(err error, version uint16, during string) {
	if code, ok := refusal.AlertOf(err); ok {
		p.r.Alert = refusal.AlertName(code)
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
	name := refusal.AlertName(code)
	noCertFix := "pass a client certificate: --p12 FILE --p12-password-file FILE, or --cert and --key"
	switch {
	case code == refusal.AlertCertificateRequired || (!p.sent && (code == refusal.AlertHandshakeFailure || code == refusal.AlertBadCertificate) && p.requested):
		p.fail(CauseNoCertificate, noCertFix, "no client certificate sent: the server requires one (TLS alert %s)", name)
	case code == refusal.AlertCertificateRevoked:
		p.fail(CauseRevoked, "the certificate's owner needs a new one: wsca issue NAME --renew",
			"the client certificate is revoked (TLS alert %s)%s", name, p.revocationDetail())
	case code == refusal.AlertCertificateExpired:
		p.fail(CauseExpired, "issue a new one: wsca issue NAME --renew", "the client certificate has expired (TLS alert %s)%s",
			name, p.expiryDetail())
	case code == refusal.AlertUnknownCA:
		p.fail(CauseUnknownCA, "use a certificate from the CA the server trusts, or add its CA to the server's client CA file",
			"the server does not trust the CA of the client certificate (TLS alert %s)%s", name, p.issuerDetail())
	case p.sent && (code == refusal.AlertBadCertificate || code == refusal.AlertCertificateUnknown || code == refusal.AlertUnsupportedCertificate ||
		code == refusal.AlertAccessDenied || code == refusal.AlertHandshakeFailure):
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
					ca.SerialHex(cert.SerialNumber), cert.Subject, cl.Issuer.Subject.CommonName,
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
	return fmt.Sprintf(": serial %s (%s)", ca.SerialHex(p.leaf.SerialNumber), p.leaf.Subject)
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
