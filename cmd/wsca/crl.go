package main

import (
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/wsca/wsca/internal/cadir"
)

type crlOptions struct {
	cadir.CRLOptions
	list    bool
	remove  []string
	ocspURL string
}

func newCRLCmd(g *globals) *cobra.Command {
	o := &crlOptions{}
	cmd := &cobra.Command{
		Use:   "crl",
		Short: "regenerate crl.pem and refresh its copies (safe to run from cron)",
		Long: `Write crl.pem: the intermediate's CRL followed by the root's CRL, so servers that check the
whole chain (Apache SSLCARevocationCheck chain, nginx ssl_crl, openssl verify -crl_check_all) work.
The file is replaced atomically. Silent on success unless -v; one line and a non-zero exit on failure.
With --if-due, no new CRL is signed unless a revocation happened since the last run or half of the CRL's
validity has passed, so it can run every minute.

Copy targets: --copy-to PATH registers PATH in the CA database. From then on every run — by hand, by
timer, with --if-due whether or not a CRL is due — and every wsca revoke makes each registered target
byte-identical to crl.pem again (atomically, mode 0644), so a relay's copy can never lag behind. A target
that cannot be written is reported on its own line with the fix; the others are still refreshed, and the
exit code is 1. --targets lists the targets and whether each is current; --remove-target PATH forgets one
(remove it from your timer's --copy-to too, or the next run registers it again).

When the CA has an OCSP URL, every run also renews the delegated OCSP signer that wsca publish signs with
(ocsp-signer.crt/.key) once it is half-way to expiry; --ocsp-url sets that URL on an existing CA.`,
		Example: `  $ wsca crl
  $ wsca crl --copy-to /etc/wsca-relay/crl.pem --copy-to /var/www/pki/crl.pem
  $ wsca crl --targets
  $ wsca crl --remove-target /var/www/pki/crl.pem
  # crontab: */5 * * * * wsca --dir /etc/wsca crl --if-due --passphrase-file /etc/wsca/pass`,
		Args: exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			switch {
			case o.list || len(o.remove) > 0:
				if o.list && len(o.remove) > 0 || countSet(cmd, "validity", "root-validity", "if-due", "due-fraction", "out", "der", "copy-to") > 0 {
					return usageError{errors.New("--targets and --remove-target go alone")}
				}
				if o.list {
					return listTargets(g)
				}
				return removeTargets(g, o.remove)
			case len(o.CopyTo) > 0 && (o.Out != "" || o.DER):
				return usageError{errors.New("--copy-to registers a copy of crl.pem; it cannot take --out or --der output (copy that file yourself)")}
			}
			if o.ocspURL != "" {
				if err := cadir.CheckOCSPURL(o.ocspURL); err != nil {
					return usageError{err}
				}
				if err := g.caDir().SetOCSPURL(o.ocspURL); err != nil {
					return err
				}
			}
			return runCRL(g, &o.CRLOptions)
		},
	}
	f := cmd.Flags()
	f.DurationVar(&o.Validity, "validity", cadir.DefaultCRLValidity, "how long the intermediate CRL is valid (nextUpdate)")
	f.DurationVar(&o.RootValidity, "root-validity", cadir.DefaultRootCRLValidity, "validity of the root CRL when it is re-signed")
	f.BoolVar(&o.IfDue, "if-due", false, "only sign a new CRL after a revocation or when the CRL is half-way to its nextUpdate (copy targets are refreshed anyway)")
	f.Float64Var(&o.DueFraction, "due-fraction", cadir.DefaultDueFraction, "with --if-due: fraction of the validity after which the CRL is renewed")
	f.StringVar(&o.Out, "out", "", "write here instead of crl.pem in the CA directory")
	f.BoolVar(&o.DER, "der", false, "write only the intermediate's CRL, DER-encoded")
	f.StringArrayVar(&o.CopyTo, "copy-to", nil, "register PATH as a copy target: this and every later run keeps it identical to crl.pem (repeatable)")
	f.BoolVar(&o.list, "targets", false, "list the registered copy targets and whether each is current")
	f.StringArrayVar(&o.remove, "remove-target", nil, "forget a copy target (repeatable; the file is left alone)")
	f.StringVar(&o.ocspURL, "ocsp-url", "", "set the CA's OCSP responder URL (as wsca init --ocsp-url does) and issue the OCSP signer wsca publish uses")
	cmd.AddCommand(newCRLFetchCmd(g))
	return cmd
}

// countSet counts how many of the named flags were set.
func countSet(cmd *cobra.Command, names ...string) int {
	n := 0
	for _, name := range names {
		if fl := cmd.Flags().Lookup(name); fl != nil && fl.Changed {
			n++
		}
	}
	return n
}

func runCRL(g *globals, o *cadir.CRLOptions) error {
	d := g.caDir()
	res, err := d.GenerateCRL(*o)
	if res == nil {
		return err
	}
	// The OCSP signer is renewed even when a copy target failed: the publisher must not stop answering because a
	// relay's directory is missing.
	if serr := ensureOCSPSigner(g, d); serr != nil {
		return errors.Join(targetErrors(g, err), serr)
	}
	for _, w := range res.Warnings {
		fmt.Fprintf(g.env.stderr, "wsca: WARNING: %s\n", w)
	}
	for _, p := range res.NewTargets {
		fmt.Fprintf(g.env.stderr, "wsca: registered copy target %s: every wsca crl and wsca revoke keeps it identical to crl.pem\n", p)
	}
	for _, t := range res.Targets {
		// A refresh in a run that signed nothing means the copy had been changed behind wsca's back (a sync
		// job, a restore) or an earlier run failed: always worth a line.
		if t.Refreshed && (g.verbose || res.Skipped) {
			fmt.Fprintf(g.env.stderr, "wsca: refreshed copy target %s\n", t.Path)
		}
	}
	if g.verbose {
		switch {
		case res.Skipped:
			fmt.Fprintf(g.env.stderr, "wsca: CRL %s not due (next update %s)\n", res.Number, res.NextUpdate.Format(time.RFC3339))
		default:
			fmt.Fprintf(g.env.stderr, "wsca: wrote %s: CRL number %s, %d revoked, next update %s\n", res.Path, res.Number, res.Entries, res.NextUpdate.Format(time.RFC3339))
			if res.RootResigned {
				fmt.Fprintf(g.env.stderr, "wsca: root CRL re-signed: number %s, next update %s\n", res.RootNumber, res.RootNext.Format(time.RFC3339))
			}
		}
	}
	return targetErrors(g, err)
}

func listTargets(g *globals) error {
	ts, err := g.caDir().CRLTargets()
	if err != nil {
		return err
	}
	if len(ts) == 0 {
		fmt.Fprintln(g.env.stderr, "wsca: no copy targets registered (wsca crl --copy-to PATH registers one)")
		return nil
	}
	for _, t := range ts {
		state := "current"
		switch {
		case !t.Exists:
			state = "missing (wsca crl writes it)"
		case !t.Current:
			state = "stale: differs from crl.pem (wsca crl refreshes it)"
		}
		fmt.Fprintf(g.env.stdout, "%s\t%s\n", t.Path, state)
	}
	return nil
}

func removeTargets(g *globals, paths []string) error {
	d := g.caDir()
	for _, p := range paths {
		removed, err := d.RemoveCRLTarget(p)
		if err != nil {
			return err
		}
		if !removed {
			return fmt.Errorf("%s is not a registered copy target (wsca crl --targets lists them)", p)
		}
		fmt.Fprintf(g.env.stderr, "wsca: forgot copy target %s (the file is left in place)\n", p)
	}
	return nil
}

// targetErrors prints every copy target that could not be refreshed on its own error line with its fix, and
// returns the last of them as the command's error (exit 1). Other errors pass through unchanged.
func targetErrors(g *globals, err error) error {
	var te *cadir.TargetsError
	if !errors.As(err, &te) {
		return err
	}
	var last error
	for i, f := range te.Failed {
		last = errors.New(targetLine(f))
		if i < len(te.Failed)-1 {
			fmt.Fprintf(g.env.stderr, "wsca: error: %v\n", last)
		}
	}
	return last
}

// targetLine is one failed copy target: what went wrong in the operator's words, and the fix.
func targetLine(f cadir.TargetResult) string {
	dir := filepath.Dir(f.Path)
	forget := "or forget the target: wsca crl --remove-target " + f.Path
	var cause, fix string
	switch {
	case errors.Is(f.Err, fs.ErrNotExist):
		cause = "directory " + dir + " does not exist"
		fix = "create it (install -d " + dir + "), " + forget
	case errors.Is(f.Err, fs.ErrPermission):
		cause = "user " + osUser() + " may not create files in " + dir
		fix = "let " + osUser() + " write " + dir + " (the copy is replaced by a rename), " + forget
	case errors.Is(f.Err, syscall.EROFS):
		cause = dir + " is read-only for this process"
		fix = "under systemd add " + dir + " to ReadWritePaths= of wsca-crl.service, " + forget
	default:
		cause = f.Err.Error()
		fix = "check " + dir + " and run wsca crl again, " + forget
	}
	return fmt.Sprintf("copy target %s not refreshed: %s; fix: %s", f.Path, cause, fix)
}
