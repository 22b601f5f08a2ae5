package main

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/wsca/wsca/ca"
	"github.com/wsca/wsca/crl"
	"github.com/wsca/wsca/internal/cadir"
	"github.com/wsca/wsca/internal/doctor"
)

type doctorOptions struct {
	clientCertFlags
	connect string
	path    string
	crlFile string
	json    bool
}

func newDoctorCmd(g *globals) *cobra.Command {
	o := &doctorOptions{}
	cmd := &cobra.Command{
		Use:   "doctor [--connect HOST:PORT]",
		Short: "diagnose the CA directory, or a TLS server's client-certificate setup, and say how to fix it",
		Long: `Without --connect, check the CA directory: files present, modes (keys 0600, directory 0700),
keys matching their certificates (with --passphrase-file or WSCA_PASSPHRASE_FILE; doctor never prompts),
the CA certificates' remaining life, crl.pem (a CRL for every CA of the chain, each signed by the right
CA, days to nextUpdate), and the database against crl.pem and the certificate files. Each finding is
printed with its fix. Exit 1 if any finding is an error.

With --connect HOST:PORT, act as a TLS client against any server (wsca serve, Apache, nginx): show the
chain it sends and its problems (missing intermediate, name mismatch, expiry), which CAs it asks client
certificates from, and whether a WebSocket upgrade on --path succeeds — with the client certificate from
--p12 or --cert/--key, if given. When it fails, name the most likely cause: no certificate sent, unknown CA,
revoked, expired, forbidden by policy, backend down, not a WebSocket route. --ca (default: ca.crt of the CA
directory) verifies the server; --crl (default: crl.pem of the CA directory) confirms a revocation.

--json prints the findings (or the connection report) as JSON with stable field names.`,
		Example: `  $ wsca doctor --passphrase-file /root/ca.pass
  $ wsca doctor --json | jq '.findings[] | select(.severity == "error")'
  $ wsca doctor --connect relay.example.com:443 --path /wss --p12 alice.p12 --p12-password-file pw
  $ wsca doctor --connect 127.0.0.1:8443 --cert alice.crt --key alice.key --json`,
		Args: exactArgs(0, "no arguments (the server goes in --connect HOST:PORT)"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if o.connect == "" {
				return runDoctorDir(g, o)
			}
			return runDoctorConnect(cmd.Context(), g, o)
		},
	}
	o.register(cmd)
	f := cmd.Flags()
	f.StringVar(&o.connect, "connect", "", "diagnose this TLS server (HOST:PORT) instead of the CA directory")
	f.StringVar(&o.path, "path", "/", "with --connect: the WebSocket path to try")
	f.StringVar(&o.crlFile, "crl", "", "with --connect: CRL file confirming a revocation (default: crl.pem of the CA directory, if present)")
	f.BoolVar(&o.json, "json", false, "print JSON")
	return cmd
}

// doctorJSON is the stable JSON form of a directory check.
type doctorJSON struct {
	Dir      string           `json:"dir"`
	Findings []doctor.Finding `json:"findings"`
	Summary  map[string]int   `json:"summary"`
}

func summary(fs []doctor.Finding) map[string]int {
	m := map[string]int{}
	for _, s := range []doctor.Severity{doctor.SeverityOK, doctor.SeverityInfo, doctor.SeverityWarning, doctor.SeverityError} {
		m[string(s)] = doctor.Count(fs, s)
	}
	return m
}

func runDoctorDir(g *globals, o *doctorOptions) error {
	if o.cert != "" || o.key != "" || o.p12 != "" || o.path != "/" || o.crlFile != "" || o.caFile != "" || o.serverName != "" {
		return usageError{errors.New("--cert, --key, --p12, --ca, --crl, --path and --server-name need --connect HOST:PORT")}
	}
	opts := doctor.CheckOptions{Now: g.env.now, LockTimeout: g.lockTimeout}
	if g.passphraseFile != "" {
		// Only from a file: doctor runs from cron and monitoring, where a prompt would hang.
		opts.Passphrase = g.passphrase(false)
	}
	dir := filepath.Clean(g.dir)
	fs := doctor.Check(dir, opts)
	if o.json {
		if err := writeJSON(g.env.stdout, doctorJSON{Dir: dir, Findings: fs, Summary: summary(fs)}); err != nil {
			return err
		}
	} else {
		printFindings(g.env.stdout, fs)
		fmt.Fprintf(g.env.stdout, "\n%s\n", summaryLine(fs))
		if doctor.Count(fs, doctor.SeverityError) > 0 {
			// The summary line said it: exit 1 without saying it again on stderr.
			return errAlreadyReported
		}
	}
	return findingsError(fs)
}

// findingsError is the command's result: an error when any finding is one.
func findingsError(fs []doctor.Finding) error {
	if n := doctor.Count(fs, doctor.SeverityError); n > 0 {
		return fmt.Errorf("doctor found %s (see the fixes above)", plural(n, "error"))
	}
	return nil
}

func plural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return fmt.Sprintf("%d %ss", n, what)
}

func summaryLine(fs []doctor.Finding) string {
	return fmt.Sprintf("%s, %s, %d ok", plural(doctor.Count(fs, doctor.SeverityError), "error"),
		plural(doctor.Count(fs, doctor.SeverityWarning), "warning"), doctor.Count(fs, doctor.SeverityOK))
}

// printFindings writes one finding per line, severity and check aligned, the fix indented below.
func printFindings(w io.Writer, fs []doctor.Finding) {
	width := 0
	for _, f := range fs {
		width = max(width, len(f.Check))
	}
	for _, f := range fs {
		// Messages quote what a server or a file sent (subjects, HTTP bodies): never raw to the terminal.
		fmt.Fprintf(w, "%-7s  %-*s  %s\n", f.Severity, width, f.Check, ca.EscapeControls(f.Message))
		if f.Fix != "" {
			fmt.Fprintf(w, "%-7s  %-*s  fix: %s\n", "", width, "", ca.EscapeControls(f.Fix))
		}
	}
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func runDoctorConnect(ctx context.Context, g *globals, o *doctorOptions) error {
	m, err := o.load(g)
	if err != nil {
		return err
	}
	crls, err := o.crls(g, m.cas)
	if err != nil {
		return err
	}
	if ctx == nil {
		ctx = context.Background()
	}
	r := doctor.Connect(ctx, o.connect, doctor.ConnectOptions{
		ServerName: o.serverName, CAs: m.cas, Certificate: m.cert, Path: o.path, CRLs: crls, Timeout: o.timeout, Now: g.env.now,
	})
	if o.json {
		if err := writeJSON(g.env.stdout, r); err != nil {
			return err
		}
	} else {
		printReport(g.env.stdout, r)
		if doctor.Count(r.Findings, doctor.SeverityError) > 0 {
			return errAlreadyReported // the findings and the cause line said it
		}
	}
	return findingsError(r.Findings)
}

// crls loads --crl, or crl.pem of the CA directory when present. A default file that does not verify against
// the CA bundle is ignored (it belongs to another CA); an explicit one is an error.
func (o *doctorOptions) crls(g *globals, cas []*x509.Certificate) ([]*crl.CRL, error) {
	path, explicit := o.crlFile, o.crlFile != ""
	if !explicit {
		path = filepath.Join(g.dir, cadir.CRLFile)
		if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
			return nil, nil
		}
	}
	if len(cas) == 0 {
		if explicit {
			return nil, usageError{errors.New("--crl needs the CA bundle that signed it (--ca)")}
		}
		return nil, nil
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading the CRL: %w", err)
	}
	crls, err := crl.Parse(data, cas)
	if err != nil {
		if !explicit {
			return nil, nil
		}
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return crls, nil
}

func printReport(w io.Writer, r doctor.Report) {
	if r.TLSVersion != "" {
		fmt.Fprintf(w, "server   %s (%s, %s, name %q)\n", r.Addr, r.TLSVersion, r.CipherSuite, r.ServerName)
	} else {
		fmt.Fprintf(w, "server   %s (name %q)\n", r.Addr, r.ServerName)
	}
	for i, c := range r.ServerChain {
		fmt.Fprintf(w, "chain    %d %s\n           issuer %s, valid until %s\n", i, ca.EscapeControls(c.Subject), ca.EscapeControls(c.Issuer),
			c.NotAfter.Format(time.DateOnly))
	}
	switch {
	case r.ClientCertRequested && len(r.AcceptableCAs) > 0:
		fmt.Fprintf(w, "asks     a client certificate from: %s\n", ca.EscapeControls(strings.Join(r.AcceptableCAs, "; ")))
	case r.ClientCertRequested:
		fmt.Fprintf(w, "asks     a client certificate (from any CA)\n")
	}
	if r.ClientCert != nil {
		sent := "sent"
		if !r.ClientCertSent {
			sent = "not sent"
		}
		fmt.Fprintf(w, "client   %s (serial %s, issuer %s) — %s\n", r.ClientCert.Subject, r.ClientCert.Serial, r.ClientCert.Issuer, sent)
	}
	if r.Alert != "" {
		fmt.Fprintf(w, "alert    %s\n", r.Alert)
	}
	if r.HTTPStatus != 0 {
		fmt.Fprintf(w, "answer   %d %s\n", r.HTTPStatus, ca.EscapeControls(r.HTTPBody))
	}
	fmt.Fprintln(w)
	printFindings(w, r.Findings)
	fmt.Fprintf(w, "\ncause: %s\n", r.Cause)
}
