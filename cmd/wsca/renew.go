package main

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/wsca/wsca/ca"
	"github.com/wsca/wsca/internal/renew"
)

type renewOptions struct {
	cert, key, url, caFile string
	p12, p12PasswordFile   string
	p12Format              string
	rekey, daemon, force   bool
	hook                   string
}

// hookTimeout bounds the --exec command: a hung hook must not stop the renewals.
const hookTimeout = 5 * time.Minute

func newRenewCmd(g *globals) *cobra.Command {
	o := &renewOptions{}
	cmd := &cobra.Command{
		Use:   "renew --cert FILE --key FILE --url https://CA:8444",
		Short: "renew a client certificate from wsca enroll, once or as a daemon (the holder's side)",
		Long: `Renew the certificate in --cert over EST simplereenroll at --url (wsca enroll), authenticated by
the certificate itself. The CA keeps the identity and the lifetime it gave the certificate.

A certificate is due at 2/3 of its lifetime, minus a random jitter of up to a tenth of it. Without
--daemon, wsca renew renews if the certificate is due (or with --force) and exits: run it from a timer
(docs/enroll.md has a systemd unit). With --daemon it stays, renews each certificate when due, retries
errors with backoff (2s doubling to 10m, never past half the remaining lifetime) and stops with an error
when the CA refuses for good: the certificate was revoked, is unknown to the CA, or has expired.

The new certificate (and with --rekey a new key of the same type) replaces the files atomically; --p12
rewrites that bundle too, with the password from --p12-password-file. --exec runs a command (sh -c) after
each successful write, with WSCA_CERT, WSCA_KEY, WSCA_SERIAL and WSCA_NOT_AFTER set, e.g. to reload the
program that uses the certificate.`,
		Example: `  $ wsca renew --cert alice.crt --key alice.key --url https://ca.example:8444 --ca ca.crt
  $ wsca renew --cert alice.crt --key alice.key --url https://ca.example:8444 --ca ca.crt \
      --daemon --rekey --exec 'systemctl reload myapp'`,
		Args: exactArgs(0, "no arguments"),
		RunE: func(*cobra.Command, []string) error { return runRenew(g, o) },
	}
	f := cmd.Flags()
	f.StringVar(&o.cert, "cert", "", "the certificate to renew (replaced by the new one)")
	f.StringVar(&o.key, "key", "", "its key (replaced with --rekey)")
	f.StringVar(&o.url, "url", "", "base URL of wsca enroll, e.g. https://ca.example:8444")
	f.StringVar(&o.caFile, "ca", "", "CA bundle to trust for the enroll server's certificate (default: the system's)")
	f.StringVar(&o.p12, "p12", "", "PKCS#12 bundle to rewrite with the new key and certificate")
	f.StringVar(&o.p12PasswordFile, "p12-password-file", "", "file holding the bundle's password (needed with --p12)")
	f.StringVar(&o.p12Format, "p12-format", string(ca.P12Legacy), "bundle encryption: legacy or modern (as wsca issue)")
	f.BoolVar(&o.rekey, "rekey", false, "make a new key at each renewal instead of certifying the current one again")
	f.BoolVar(&o.daemon, "daemon", false, "keep running and renew whenever the certificate is due")
	f.BoolVar(&o.force, "force", false, "without --daemon: renew now even if the certificate is not due")
	f.StringVar(&o.hook, "exec", "", "command to run (sh -c) after each renewal")
	return cmd
}

func (o *renewOptions) client(g *globals) (*renew.Client, error) {
	if o.cert == "" || o.key == "" || o.url == "" {
		return nil, usageError{errors.New("wsca renew needs --cert, --key and --url")}
	}
	pf, err := ca.ParseP12Format(o.p12Format)
	if err != nil {
		return nil, usageError{err}
	}
	c := &renew.Client{CertFile: o.cert, KeyFile: o.key, URL: o.url, Rekey: o.rekey, Rand: g.env.rand,
		Now: g.env.now, P12File: o.p12, P12Format: pf}
	if (o.p12 == "") != (o.p12PasswordFile == "") {
		return nil, usageError{errors.New("--p12 and --p12-password-file go together (the bundle keeps its password)")}
	}
	if o.p12PasswordFile != "" {
		pw, err := readSecretFile(g.env, o.p12PasswordFile, "p12 password file")
		if err != nil {
			return nil, err
		}
		c.P12Password = string(pw)
	}
	if o.caFile != "" {
		data, err := os.ReadFile(o.caFile)
		if err != nil {
			return nil, fmt.Errorf("reading --ca: %w", err)
		}
		certs, err := ca.ParseCertificates(data)
		if err != nil {
			return nil, fmt.Errorf("reading --ca %s: %w", o.caFile, err)
		}
		c.RootCAs = x509.NewCertPool()
		for _, cert := range certs {
			c.RootCAs.AddCert(cert)
		}
	}
	return c, nil
}

func runRenew(g *globals, o *renewOptions) error {
	c, err := o.client(g)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	hook := o.hookFunc(g)
	if o.daemon {
		err := c.Run(ctx, renewLog{g}, hook)
		return explainRefusal(err)
	}
	cur, _, err := c.Load()
	if err != nil {
		return err
	}
	if due := renew.Due(cur, g.env.rand); !o.force && g.env.now().Before(due) {
		fmt.Fprintf(g.env.stdout, "%s is not due: serial %s, valid until %s, renewal from %s (--force renews now)\n",
			o.cert, ca.SerialText(cur.SerialNumber), cur.NotAfter.UTC().Format(time.RFC3339), due.UTC().Format(time.RFC3339))
		return nil
	}
	renewed, err := c.Renew(ctx)
	if err != nil {
		return explainRefusal(err)
	}
	renewLog{g}.Renewed(cur, renewed)
	if hook != nil {
		return hook(ctx)
	}
	return nil
}

// explainRefusal adds what a permanent refusal means for the holder.
func explainRefusal(err error) error {
	var ref *renew.RefusedError
	if !errors.As(err, &ref) {
		return err
	}
	switch ref.Reason {
	case "revoked":
		return fmt.Errorf("%w; the certificate has been revoked, so renewing stops: ask the CA's admin for a new one", err)
	case "certificate_rejected", "unknown_certificate":
		return fmt.Errorf("%w; renewing stops: ask the CA's admin for a new certificate (wsca issue NAME --renew)", err)
	}
	return err
}

func (o *renewOptions) hookFunc(g *globals) func(context.Context) error {
	if o.hook == "" {
		return nil
	}
	return func(ctx context.Context) error {
		extra := []string{"WSCA_CERT=" + o.cert, "WSCA_KEY=" + o.key}
		if data, err := os.ReadFile(o.cert); err == nil {
			if certs, err := ca.ParseCertificates(data); err == nil {
				extra = append(extra, "WSCA_SERIAL="+ca.SerialText(certs[0].SerialNumber),
					"WSCA_NOT_AFTER="+certs[0].NotAfter.UTC().Format(time.RFC3339))
			}
		}
		return runHook(ctx, g, o.hook, hookTimeout, extra...)
	}
}

// renewLog reports the daemon's steps on stderr (the renewed certificate on stdout).
type renewLog struct{ g *globals }

func (l renewLog) Waiting(cert *x509.Certificate, until time.Time) {
	fmt.Fprintf(l.g.env.stderr, "wsca: renew: serial %s valid until %s; renewing at %s\n", ca.SerialText(cert.SerialNumber),
		cert.NotAfter.UTC().Format(time.RFC3339), until.UTC().Format(time.RFC3339))
}

func (l renewLog) Renewed(old, renewed *x509.Certificate) {
	fmt.Fprintf(l.g.env.stdout, "renewed %s: serial %s, valid until %s (renews %s)\n", ca.SafeText(renewed.Subject.CommonName),
		ca.SerialText(renewed.SerialNumber), renewed.NotAfter.UTC().Format(time.RFC3339), ca.SerialText(old.SerialNumber))
}

func (l renewLog) Failed(err error, retryIn time.Duration) {
	if retryIn > 0 {
		fmt.Fprintf(l.g.env.stderr, "wsca: renew: %v; retrying in %s\n", err, retryIn)
		return
	}
	fmt.Fprintf(l.g.env.stderr, "wsca: renew: %v\n", err)
}
