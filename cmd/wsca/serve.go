package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/wsca/wsca/crlsync"
	"github.com/wsca/wsca/internal/cadir"
	"github.com/wsca/wsca/relay"
)

type serveOptions struct {
	config                     string
	listen, backend, cert, key string
	caFile, crlFile, stateDir  string
	metricsListen, logFormat   string
	demoBackend, check         bool
}

func newServeCmd(g *globals) *cobra.Command {
	o := &serveOptions{}
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "run the mTLS-gated WebSocket relay",
		Long: `Accept TLS connections, verify client certificates against the CA chain and the CRL (chain mode:
every CA too), apply each route's policy and relay WebSocket upgrades to the route's backend.

The relay watches its certificate, ca.crt, crl.pem and config file: a new crl.pem (wsca crl) is picked
up within a second without dropping connections, and open sessions whose certificate is now revoked are
closed. SIGHUP reloads everything at once; a file that does not parse is rejected and the last good one
kept. SIGTERM stops accepting, lets sessions drain for shutdown_grace, then closes them.

Simple case by flags (one route "/" requiring a client certificate); full case by --config relay.yaml
(see docs/serve.md). --ca and --crl default to ca.crt and crl.pem in --dir, so a relay on another
machine needs only those two files. wsca serve never opens wsca.db.

--crl may be the URL of wsca publish (http://HOST:PORT/crl.pem) or of any web server: the relay
long-polls it, verifies each CRL against --ca, caches the last good one in --state-dir and keeps it
when the publisher is unreachable (failing closed at its nextUpdate). A CRL with a lower CRL number
than one already used is refused, file or URL, also across restarts.`,
		Example: `  $ wsca serve --listen 127.0.0.1:8443 --backend ws://127.0.0.1:8080 --cert relay.crt --key relay.key
  $ wsca serve --config /etc/wsca/relay.yaml
  $ wsca serve --config /etc/wsca/relay.yaml --check
  $ wsca serve --listen 127.0.0.1:8443 --demo-backend --cert relay.crt --key relay.key
  $ wsca serve --backend ws://127.0.0.1:8080 --cert relay.crt --key relay.key --ca ca.crt \
      --crl http://pki.example.com:8080/crl.pem --state-dir /var/lib/wsca-relay`,
		Args: exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, _ []string) error { return runServe(g, o, cmd.Flags().Changed) },
	}
	f := cmd.Flags()
	f.StringVar(&o.config, "config", "", "relay configuration file (YAML); excludes the simple-case flags")
	f.StringVar(&o.listen, "listen", "127.0.0.1:8443", "TLS listen address: HOST:PORT, or a bare PORT for all interfaces (as wsca config --listen)")
	f.StringVar(&o.backend, "backend", "", "backend URL for the single route / (ws://, wss://, http://, https://)")
	f.StringVar(&o.cert, "cert", "", "server certificate file (leaf + intermediate, e.g. from wsca issue NAME --server)")
	f.StringVar(&o.key, "key", "", "server key file")
	f.StringVar(&o.caFile, "ca", "", "client CA bundle (default ca.crt in --dir)")
	f.StringVar(&o.crlFile, "crl", "", "CRL file, or http(s) URL of one (wsca publish), default crl.pem in --dir")
	f.StringVar(&o.stateDir, "state-dir", "", "directory for the CRL state (highest CRL numbers; the cached CRL of a URL); required with a CRL URL")
	f.StringVar(&o.metricsListen, "metrics-listen", "", "address for Prometheus metrics at /metrics (plain HTTP)")
	f.StringVar(&o.logFormat, "log-format", "text", "log format: text or json")
	f.BoolVar(&o.demoBackend, "demo-backend", false, "relay to a built-in WebSocket echo backend (with a test page at /)")
	f.BoolVar(&o.check, "check", false, "validate the configuration and the files it names, print the verdict and exit (like apachectl configtest)")
	return cmd
}

func (o *serveOptions) buildConfig(g *globals, flagSet func(string) bool) (*relay.Config, error) {
	if o.config != "" {
		for _, name := range []string{"listen", "backend", "cert", "key", "ca", "crl", "state-dir", "demo-backend"} {
			if flagSet(name) {
				return nil, usageError{fmt.Errorf("--%s cannot be combined with --config: set it in the file", name)}
			}
		}
		cfg, err := relay.LoadConfig(o.config)
		if errors.Is(err, fs.ErrNotExist) {
			return nil, withHint(err, "--config %s: no such file; write one (man wsca-serve and docs/serve.md give the relay.yaml reference) or give the path of yours", o.config)
		}
		if err != nil {
			return nil, err
		}
		if o.metricsListen != "" {
			if err := checkMetricsListen(o.metricsListen); err != nil {
				return nil, err
			}
			cfg.MetricsListen = o.metricsListen
		}
		return cfg, nil
	}
	if o.cert == "" || o.key == "" {
		return nil, usageError{errors.New("wsca serve needs --cert and --key (or --config)")}
	}
	if (o.backend == "") == !o.demoBackend {
		return nil, usageError{errors.New("wsca serve needs one of --backend URL or --demo-backend (or --config)")}
	}
	d := g.caDir()
	caFile, crlFile := o.caFile, o.crlFile
	if caFile == "" {
		caFile = d.File(cadir.BundleFile)
	}
	if crlFile == "" {
		crlFile = d.File(cadir.CRLFile)
	}
	if crlsync.IsURL(crlFile) && o.stateDir == "" {
		return nil, usageError{errors.New("--crl URL needs --state-dir DIR: where the relay caches the last good CRL and its CRL numbers")}
	}
	backend := o.backend
	if o.demoBackend {
		backend = "ws://demo-backend.invalid" // replaced by the real address once the backend listens
	}
	listen, err := o.checkFlags()
	if err != nil {
		return nil, err
	}
	cfg := relay.NewSimpleConfig(listen, backend, o.cert, o.key, caFile, crlFile)
	cfg.MetricsListen = o.metricsListen
	cfg.Log.Format = o.logFormat
	cfg.StateDir = o.stateDir
	if o.demoBackend {
		// The demo page is plain HTTP; its script then opens the WebSocket through the same route.
		httpToo := false
		cfg.Routes[0].WebSocketOnly = &httpToo
	}
	return cfg, serveFlagError(cfg.Validate())
}

// checkFlags checks the simple-case flags that relay.Config would otherwise report under its YAML key names,
// and returns the listen address: a bare PORT means all interfaces, as `wsca config --listen 8443` writes
// Apache's and nginx's "Listen 8443".
func (o *serveOptions) checkFlags() (string, error) {
	addr, port, err := parseListen(o.listen)
	if err == nil && (port < 0 || port > 65535) {
		err = fmt.Errorf("--listen %q: port %d is outside 0..65535", o.listen, port)
	}
	if err != nil {
		return "", usageError{err}
	}
	if o.metricsListen != "" {
		if err := checkMetricsListen(o.metricsListen); err != nil {
			return "", err
		}
	}
	if o.logFormat != "text" && o.logFormat != "json" {
		return "", usageError{fmt.Errorf("--log-format %q: want text or json", o.logFormat)}
	}
	return net.JoinHostPort(addr, strconv.Itoa(port)), nil
}

// checkMetricsListen checks --metrics-listen. It takes no bare port: metrics on every interface should be asked
// for explicitly (":9100").
func checkMetricsListen(s string) error {
	if _, _, err := net.SplitHostPort(s); err != nil {
		return usageError{fmt.Errorf("--metrics-listen %q: want HOST:PORT (\":9100\" for all interfaces)", s)}
	}
	return nil
}

// flagKeys names the flag behind each relay.yaml key that Validate can still find wrong in a configuration built
// from flags (checkFlags and buildConfig have checked the others).
var flagKeys = []struct{ key, flag string }{{"routes[0].backend", "--backend"}, {"crl", "--crl"}}

// serveFlagError rewords a Validate error of the configuration built from flags: the admin typed flags, not a relay
// configuration file, so the message names the flag and is a usage error.
func serveFlagError(err error) error {
	if err == nil || !errors.Is(err, relay.ErrInvalidConfig) {
		return err
	}
	lines := strings.Split(strings.TrimPrefix(err.Error(), relay.ErrInvalidConfig.Error()+": "), "\n")
	for i, l := range lines {
		for _, fk := range flagKeys {
			if rest, ok := strings.CutPrefix(l, fk.key+": "); ok {
				lines[i] = fk.flag + " " + rest
			}
		}
	}
	return usageError{errors.New(strings.Join(lines, "; "))}
}

func runServe(g *globals, o *serveOptions, flagSet func(string) bool) error {
	cfg, err := o.buildConfig(g, flagSet)
	if err != nil {
		return err
	}
	logCfg := cfg.Log
	if o.check && (logCfg.Level == "" || strings.EqualFold(logCfg.Level, "info") || strings.EqualFold(logCfg.Level, "debug")) {
		// --check prints its verdict only, as apachectl configtest does; warnings (an expired CRL) still show.
		logCfg.Level = "warn"
	}
	logger, err := logCfg.NewLogger(g.env.stderr)
	if err != nil {
		return usageError{err}
	}
	if o.demoBackend {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return fmt.Errorf("starting the demo backend: %w", err)
		}
		backendSrv := &http.Server{Handler: relay.EchoBackend(), ReadHeaderTimeout: 10 * time.Second}
		go backendSrv.Serve(ln) //nolint:errcheck // closed below
		defer backendSrv.Close()
		cfg.Routes[0].Backend = "ws://" + ln.Addr().String()
		logger.Info("demo echo backend listening", "addr", ln.Addr().String())
	}
	srv, err := relay.New(cfg, logger)
	if err != nil {
		return err
	}
	if o.check {
		fmt.Fprintf(g.env.stdout, "configuration ok: %d route(s), listen %s\n", len(cfg.Routes), cfg.Listen)
		return nil
	}
	if os.Getenv("GOGC") == "" {
		// Only at the default GC target: an operator who set GOGC chose the trade-off (relay.ReleaseMemoryWhenQuiet).
		defer relay.ReleaseMemoryWhenQuiet()()
	}
	// Signals are caught before the listener opens, so a SIGTERM during start-up still drains cleanly.
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGHUP, syscall.SIGTERM, syscall.SIGINT)
	defer signal.Stop(sigs)
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.ListenAndServe() }()
	for {
		select {
		case err := <-serveErr:
			if errors.Is(err, relay.ErrServerClosed) {
				return nil
			}
			return fmt.Errorf("serving: %w", err)
		case sig := <-sigs:
			if sig == syscall.SIGHUP {
				srv.Reload() //nolint:errcheck // Reload logs its outcome and keeps the last good files
				continue
			}
			logger.Info("shutting down", "signal", sig.String(), "grace", cfg.ShutdownGrace.D().String())
			// Shutdown itself closes the remaining sessions after the grace period; the extra second bounds
			// the wait for that close to finish.
			ctx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownGrace.D()+time.Second)
			err := srv.Shutdown(ctx)
			cancel()
			if err != nil && !errors.Is(err, context.DeadlineExceeded) {
				return fmt.Errorf("shutting down: %w", err)
			}
			logger.Info("stopped")
			return nil
		}
	}
}
