package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/wsca/wsca/internal/ocspresp"
	"github.com/wsca/wsca/internal/publish"
)

// publishStateFile is --state's default, in the CA directory (the systemd unit, whose CA directory is
// read-only, points --state at its StateDirectory instead).
const publishStateFile = "publish.state.json"

type publishOptions struct {
	listen          string
	ocspValidity    time.Duration
	tlsCert, tlsKey string
	logFormat       string
	state           string
}

func newPublishCmd(g *globals) *cobra.Command {
	o := &publishOptions{}
	cmd := &cobra.Command{
		Use:   "publish",
		Short: "serve crl.pem, the CRLs, ca.crt and an OCSP responder over HTTP (long-running)",
		Long: `Serve the CA's public face from the CA directory: GET /crl.pem (ETag, Last-Modified, 304s and
long-poll with ?wait=30s), GET /crl/intermediate.crl and /crl/root.crl (DER), GET /ca.crt, and an RFC 6960
OCSP responder at POST /ocsp and GET /ocsp/<base64>, /metrics, and one-time bundle pickups
(wsca issue --p12 --pickup) at /pickup/<token>: GET shows the page, POST downloads once.

It never needs the CA passphrase: OCSP responses are signed by the delegated OCSP signer that wsca crl
issues and renews (ocsp-signer.crt/.key, set up by wsca init --ocsp-url). It never keeps wsca.db open: it
re-reads it, read-only and briefly, when it changes, so wsca issue, revoke and crl keep working. A new
crl.pem or revocation is served within 100 ms. Plain HTTP by default: everything it serves is signed.
See docs/publish.md.`,
		Example: `  $ wsca --dir /etc/wsca publish --listen :80
  $ curl -s http://pki.example.com/crl.pem -o crl.pem
  $ openssl ocsp -issuer intermediate.crt -cert alice.crt -url http://pki.example.com/ocsp -CAfile ca.crt`,
		Args: exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, _ []string) error { return runPublish(g, o) },
	}
	f := cmd.Flags()
	f.StringVar(&o.listen, "listen", "127.0.0.1:8080", "HOST:PORT to serve on (:80 for every address)")
	f.DurationVar(&o.ocspValidity, "ocsp-validity", ocspresp.DefaultValidity, "OCSP response validity (nextUpdate); with nginx ssl_ocsp_cache this is the revocation lag")
	f.StringVar(&o.tlsCert, "tls-cert", "", "serve HTTPS with this certificate (leaf + chain); plain HTTP without")
	f.StringVar(&o.tlsKey, "tls-key", "", "key of --tls-cert")
	f.StringVar(&o.logFormat, "log-format", "text", "log format: text or json")
	f.StringVar(&o.state, "state", "", "file keeping the highest CRL numbers published, so a stale crl.pem is refused after a restart too (default DIR/"+publishStateFile+")")
	return cmd
}

func runPublish(g *globals, o *publishOptions) error {
	if (o.tlsCert == "") != (o.tlsKey == "") {
		return usageError{errors.New("--tls-cert and --tls-key go together")}
	}
	if o.ocspValidity < time.Second || o.ocspValidity > 7*24*time.Hour {
		return usageError{fmt.Errorf("--ocsp-validity %s: want between 1s and 168h", o.ocspValidity)}
	}
	var h slog.Handler
	switch o.logFormat {
	case "text":
		h = slog.NewTextHandler(g.env.stderr, nil)
	case "json":
		h = slog.NewJSONHandler(g.env.stderr, nil)
	default:
		return usageError{fmt.Errorf("--log-format %q: want text or json", o.logFormat)}
	}
	logger := slog.New(h)
	d := g.caDir()
	state := o.state
	if state == "" {
		state = d.File(publishStateFile)
	}
	srv, err := publish.New(publish.Config{Dir: d, OCSPValidity: o.ocspValidity, StatePath: state, Logger: logger, Now: g.env.now})
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	ln, err := net.Listen("tcp", o.listen)
	if err != nil {
		return fmt.Errorf("listening on %s: %w", o.listen, err)
	}
	logger.Info("publishing", "dir", g.dir, "addr", ln.Addr().String(), "tls", o.tlsCert != "", "pid", os.Getpid())
	if err := srv.Serve(ctx, ln, o.tlsCert, o.tlsKey); err != nil {
		return err
	}
	logger.Info("stopped")
	return nil
}
