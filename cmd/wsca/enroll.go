package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/wsca/wsca/internal/cadir"
	"github.com/wsca/wsca/internal/enroll"
	"github.com/wsca/wsca/relay"
)

type enrollOptions struct {
	listen, cert, key string
	caFile, crlFile   string
	logFormat         string
	grace             time.Duration
	allowCIDR         []string
}

func newEnrollCmd(g *globals) *cobra.Command {
	o := &enrollOptions{}
	cmd := &cobra.Command{
		Use:   "enroll",
		Short: "run the online issuing endpoint (EST subset: renewal by certificate, enrollment by token)",
		Long: `Serve the RFC 7030 (EST) subset wsca implements, under https://LISTEN/.well-known/est/:

  cacerts         GET: the CA chain (intermediate, root) as certs-only PKCS#7
  simplereenroll  POST a base64 PKCS#10 request, authenticated by the current client certificate:
                  a new certificate with the identity and lifetime the CA gave the current one
  simpleenroll    POST a base64 PKCS#10 request, authenticated by a one-time token from
                  wsca issue NAME --token (Authorization: Bearer TOKEN, or Basic with the token as password)

Client certificates are verified as wsca serve verifies them (chain to ca.crt, clientAuth, the CRLs of
the whole chain), on every request, resumed sessions included; a refused certificate gets an HTTP answer
saying why. A renewal is also refused when wsca.db lists the certificate as revoked, even before the
next wsca crl. An expired certificate is refused, unless it expired less than --grace ago (its
chain is then verified as at its expiry, the CRLs as now). The identity of a new certificate comes from the CA, never from
the request. Every certificate is recorded in wsca.db before it is returned; refusals are audited.

The intermediate key is read once at start (the passphrase from --passphrase-file or the terminal) and
stays in this process's memory: the trade-off of an online CA. wsca.db is opened only while a request is
answered, so wsca issue, revoke and crl keep working. --ca, --crl, --cert and --key are re-read when they
change (a new crl.pem is in force within a second).`,
		Example: `  $ wsca enroll --listen 0.0.0.0:8444 --cert ca-web.crt --key ca-web.key --passphrase-file /etc/wsca/pass
  $ curl --cacert pki/ca.crt --cert alice.crt --key alice.key -H 'Content-Type: application/pkcs10' \
      --data-binary @alice.csr.b64 https://ca.example:8444/.well-known/est/simplereenroll`,
		Args: exactArgs(0, "no arguments"),
		RunE: func(*cobra.Command, []string) error { return runEnroll(g, o) },
	}
	f := cmd.Flags()
	f.StringVar(&o.listen, "listen", "127.0.0.1:8444", "TLS listen address")
	f.StringVar(&o.cert, "cert", "", "server certificate file (leaf + intermediate, e.g. from wsca issue NAME --server)")
	f.StringVar(&o.key, "key", "", "server key file")
	f.StringVar(&o.caFile, "ca", "", "client CA bundle (default ca.crt in --dir)")
	f.StringVar(&o.crlFile, "crl", "", "CRL file (default crl.pem in --dir)")
	f.DurationVar(&o.grace, "grace", 0, "how long after its expiry a certificate may still renew itself (default: not at all)")
	f.StringArrayVar(&o.allowCIDR, "allow-cidr", nil, "only clients from this network may renew or enroll, e.g. 10.0.0.0/8 (repeatable; default: any)")
	f.StringVar(&o.logFormat, "log-format", "text", "log format: text or json")
	return cmd
}

func runEnroll(g *globals, o *enrollOptions) error {
	if o.grace < 0 {
		return usageError{errors.New("--grace must not be negative")}
	}
	var allow []netip.Prefix
	for _, c := range o.allowCIDR {
		p, err := netip.ParsePrefix(c)
		if err != nil {
			return usageError{fmt.Errorf("--allow-cidr %q is not a network like 10.0.0.0/8 or 2001:db8::/32", c)}
		}
		allow = append(allow, p.Masked())
	}
	if o.cert == "" || o.key == "" {
		return usageError{errors.New("wsca enroll needs --cert and --key (the server certificate, e.g. from wsca issue NAME --server)")}
	}
	d := g.caDir()
	d.User = "wsca enroll (" + d.User + ")"
	files := enroll.Files{Cert: o.cert, Key: o.key, ClientCA: o.caFile, CRL: o.crlFile}
	if files.ClientCA == "" {
		files.ClientCA = d.File(cadir.BundleFile)
	}
	if files.CRL == "" {
		files.CRL = d.File(cadir.CRLFile)
	}
	logger, err := relay.LogConfig{Format: o.logFormat}.NewLogger(g.env.stderr)
	if err != nil {
		return usageError{err}
	}
	issuer, err := d.LoadIssuer()
	if err != nil {
		return err
	}
	srv, err := enroll.New(issuer, files, g.env.now, logger)
	if err != nil {
		return err
	}
	srv.SetGrace(o.grace)
	srv.AllowFrom(allow)
	ln, err := net.Listen("tcp", o.listen)
	if err != nil {
		return fmt.Errorf("listening on %s: %w", o.listen, err)
	}
	hs := &http.Server{Handler: srv.Handler(), TLSConfig: srv.TLSConfig(),
		ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second, WriteTimeout: 30 * time.Second,
		IdleTimeout: time.Minute, MaxHeaderBytes: 16 << 10, ErrorLog: slog.NewLogLogger(logger.Handler(), slog.LevelWarn)}
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)
	defer signal.Stop(sigs)
	served := make(chan error, 1)
	go func() { served <- hs.ServeTLS(ln, "", "") }()
	logger.Info("enroll listening", "addr", ln.Addr().String(), "dir", d.Path)
	select {
	case err := <-served:
		return fmt.Errorf("serving: %w", err)
	case sig := <-sigs:
		logger.Info("shutting down", "signal", sig.String())
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		return hs.Shutdown(ctx)
	}
}
