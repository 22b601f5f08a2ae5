package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/wsca/wsca/ca"
	"github.com/wsca/wsca/crlsync"
	"github.com/wsca/wsca/internal/cadir"
)

type crlFetchOptions struct {
	out, caFile, execCmd, state string
	watch                       bool
	interval                    time.Duration
	maxBytes                    int64
}

// execTimeout bounds the reload command: a hung `systemctl reload` must not stop the sidecar for ever.
const execTimeout = 2 * time.Minute

func newCRLFetchCmd(g *globals) *cobra.Command {
	o := &crlFetchOptions{}
	cmd := &cobra.Command{
		Use:   "fetch URL",
		Short: "download crl.pem from wsca publish (or any web server) for Apache, nginx or HAProxy",
		Long: `Download the CRL from URL, verify every CRL in it against the CA bundle (--ca, default ca.crt in
--dir: the transport is not trusted), refuse a CRL older than one already fetched (lower CRL number,
or the same number with other content; the highest numbers are kept in FILE.state.json), and replace
--out atomically. --exec runs a command (through sh -c) only when the file changed: the reload of
the server that reads it. On any error the file is left as it was.

With --watch it keeps running: against wsca publish it long-polls, so a new CRL arrives within a
second of its publication; against a static web server it polls every --interval with ETag /
If-Modified-Since. Errors are reported on stderr and retried; SIGTERM stops it.`,
		Example: `  $ wsca crl fetch https://pki.example.com/crl.pem --out /etc/nginx/crl.pem --ca /etc/nginx/ca.crt
  $ wsca crl fetch http://pki.example.com:8080/crl.pem --out /etc/apache2/crl.pem --ca /etc/apache2/ca.crt \
      --watch --exec 'apachectl graceful'`,
		Args: exactArgs(1, "the CRL URL"),
		RunE: func(cmd *cobra.Command, args []string) error { return runCRLFetch(g, o, args[0]) },
	}
	f := cmd.Flags()
	f.StringVar(&o.out, "out", "", "the CRL file to keep current (required)")
	f.StringVar(&o.caFile, "ca", "", "CA bundle the CRLs must verify against (default ca.crt in --dir)")
	f.StringVar(&o.execCmd, "exec", "", "command run through sh -c after the file changed (e.g. 'nginx -s reload')")
	f.BoolVar(&o.watch, "watch", false, "keep running: long-poll wsca publish, or poll a static server every --interval")
	f.DurationVar(&o.interval, "interval", crlsync.DefaultInterval, "with --watch: pause between polls of a static server and after an error")
	f.Int64Var(&o.maxBytes, "max-size", crlsync.DefaultMaxBytes, "largest CRL download accepted, in bytes")
	f.StringVar(&o.state, "state", "", "where the highest CRL numbers are kept (default FILE.state.json next to --out)")
	return cmd
}

func runCRLFetch(g *globals, o *crlFetchOptions, url string) error {
	if o.out == "" {
		return usageError{errors.New("wsca crl fetch needs --out FILE")}
	}
	if _, err := crlsync.ParseURL(url); err != nil {
		return usageError{err}
	}
	if o.interval <= 0 || o.maxBytes <= 0 {
		return usageError{errors.New("--interval and --max-size must be positive")}
	}
	caFile := o.caFile
	if caFile == "" {
		caFile = g.caDir().File(cadir.BundleFile)
	}
	data, err := os.ReadFile(caFile)
	if err != nil {
		return fmt.Errorf("reading the CA bundle: %w", err)
	}
	cas, err := ca.ParseCertificates(data)
	if err != nil {
		return fmt.Errorf("CA bundle %s: %w", caFile, err)
	}
	state := o.state
	if state == "" {
		state = o.out + crlsync.StateSuffix
	}
	wm, err := crlsync.OpenWatermark(state)
	if err != nil {
		return err
	}
	sync := &crlsync.FileSync{Out: o.out, CAs: cas, Watermark: wm}
	if o.execCmd != "" {
		sync.OnChange = func() error { return runHook(context.Background(), g, o.execCmd, execTimeout) }
	}
	// The CRL in place is the floor on a first run (no state file yet).
	if err := wm.Advance(sync.Current()); err != nil {
		return err
	}
	fetcher := &crlsync.Fetcher{URL: url, MaxBytes: o.maxBytes, Timeout: min(o.interval, crlsync.DefaultTimeout)}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	if !o.watch {
		resp, err := (&crlsync.Fetcher{URL: url, MaxBytes: o.maxBytes, Wait: -1}).Get(ctx, crlsync.Validators{})
		if err != nil {
			return err
		}
		changed, err := sync.Offer(resp.Body)
		if err != nil {
			return err
		}
		g.reportFetch(o.out, changed)
		return nil
	}
	fmt.Fprintf(g.env.stderr, "wsca: crl fetch: watching %s for %s\n", url, o.out)
	p := &crlsync.Poller{Fetcher: fetcher, Interval: o.interval,
		Accept: func(body []byte) error {
			changed, err := sync.Offer(body)
			if err == nil {
				g.reportFetch(o.out, changed)
			}
			return err
		},
		Report: func(r crlsync.Result) {
			if r.Err != nil {
				fmt.Fprintf(g.env.stderr, "wsca: crl fetch: error: %v (keeping %s as it is)\n", r.Err, o.out)
			}
		}}
	p.Run(ctx, crlsync.Validators{}, [32]byte{})
	return nil
}

func (g *globals) reportFetch(out string, changed bool) {
	if changed {
		fmt.Fprintf(g.env.stderr, "wsca: crl fetch: wrote %s\n", out)
	} else if g.verbose {
		fmt.Fprintf(g.env.stderr, "wsca: crl fetch: %s is current\n", out)
	}
}
