package main

import (
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/wsca/wsca/ca"
	"github.com/wsca/wsca/crl"
	"github.com/wsca/wsca/internal/cadir"
	"github.com/wsca/wsca/store"
)

func newRevokeCmd(g *globals) *cobra.Command {
	var reason string
	var all, intermediate, noPublish bool
	cmd := &cobra.Command{
		Use:   "revoke NAME|SERIAL",
		Short: "revoke a certificate and publish the new CRL at once",
		Long: `Record a revocation in the database with its time, reason and the OS user, then publish it at once:
new CRLs in crl.pem and every copy target registered with wsca crl --copy-to (wsca serve picks the new
file up by itself and cuts the certificate's live sessions within a second). Publishing needs the CA
passphrase, read as wsca crl reads it (--passphrase-file, WSCA_PASSPHRASE_FILE, or the terminal); it is
checked before anything is recorded, so a wrong passphrase changes nothing. When no passphrase can be had
(no file, no terminal), the revocation is recorded and the command says what is not yet enforced.

--no-publish records only, for a batch of revocations: finish with wsca crl. Until then servers still
admit the certificate; the CRL timer (wsca crl --if-due) publishes it at its next run.

Reasons (RFC 5280): ` + strings.Join(crl.SelectableReasons(), ", ") + `.
certificateHold is lifted by wsca unrevoke; cACompromise goes with --intermediate.`,
		Example: `  $ wsca revoke bob --reason keyCompromise
  $ wsca revoke 5f3ac1d2e8a94b7c0d61f2a3b4c5d6e7   # the whole serial, as wsca list prints it
  $ for u in carol dave erin; do wsca revoke $u --no-publish; done && wsca crl
  $ wsca revoke --intermediate --reason cACompromise`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if intermediate != (len(args) == 0) || len(args) > 1 {
				return usageError{fmt.Errorf("wsca revoke needs one NAME or SERIAL, or --intermediate alone")}
			}
			if intermediate && noPublish {
				return usageError{errors.New("--intermediate always re-signs the CRLs (the revocation means nothing until the root CRL lists it): drop --no-publish")}
			}
			r, err := store.ParseReason(reason)
			if err != nil {
				return usageError{err}
			}
			target := ""
			if len(args) == 1 {
				target = args[0]
			}
			res, err := g.caDir().Revoke(cadir.RevokeRequest{Target: target, Reason: r, All: all,
				Intermediate: intermediate, Publish: !noPublish})
			if res != nil {
				for _, rec := range res.Records {
					fmt.Fprintf(g.env.stdout, "revoked %s (serial %s): %s\n", ca.SafeText(rec.Name), ca.SerialText(rec.Serial), rec.Revocation.Reason)
				}
				reportPublication(g, res, "is still valid in", "servers admit it")
			}
			return targetErrors(g, err)
		},
	}
	f := cmd.Flags()
	f.StringVar(&reason, "reason", "unspecified", "RFC 5280 reason (the list is above)")
	f.BoolVar(&all, "all", false, "revoke every valid certificate of NAME")
	f.BoolVar(&intermediate, "intermediate", false, "revoke the intermediate CA (needs the root key; regenerates the CRLs)")
	f.BoolVar(&noPublish, "no-publish", false, "record only; publish later with wsca crl (for a batch of revocations)")
	return cmd
}

func newUnrevokeCmd(g *globals) *cobra.Command {
	var noPublish bool
	cmd := &cobra.Command{
		Use:   "unrevoke NAME|SERIAL",
		Short: "lift a certificateHold and publish the new CRL at once",
		Long: `Lift a certificateHold, then publish new CRLs in crl.pem and every copy target at once, as wsca
revoke does (--no-publish records only: finish with wsca crl).`,
		Example: `  $ wsca revoke bob --reason certificateHold
  $ wsca unrevoke bob`,
		Args: exactArgs(1, "a NAME or SERIAL"),
		RunE: func(cmd *cobra.Command, args []string) error {
			res, err := g.caDir().LiftHold(args[0], !noPublish)
			if res != nil {
				for _, rec := range res.Records {
					fmt.Fprintf(g.env.stdout, "hold lifted on %s (serial %s)\n", ca.SafeText(rec.Name), ca.SerialText(rec.Serial))
				}
				reportPublication(g, res, "is still on hold in", "servers refuse it")
			}
			return targetErrors(g, err)
		},
	}
	cmd.Flags().BoolVar(&noPublish, "no-publish", false, "record only; publish later with wsca crl")
	return cmd
}

// reportPublication says where a revocation or a lifted hold was published, or exactly what does not enforce
// it yet: which certificates, which files, and what makes them current.
func reportPublication(g *globals, res *cadir.RevokeResult, stillIn, meanwhile string) {
	if p := res.Published; p != nil {
		fmt.Fprintf(g.env.stdout, "published CRL number %s in %s%s\n", p.Number, p.Path, targetSummary(p.Targets))
		return
	}
	if len(res.NotEnforced) == 0 {
		return
	}
	if res.Deferred != nil {
		fmt.Fprintf(g.env.stderr, "wsca: warning: not published: %v\n", res.Deferred)
	}
	var certs []string
	for _, rec := range res.Records {
		certs = append(certs, fmt.Sprintf("%s (serial %s)", ca.SafeText(rec.Name), ca.SerialText(rec.Serial)))
	}
	fmt.Fprintf(g.env.stderr, "wsca: hint: not yet enforced: %s %s %s; %s until wsca crl publishes it (or the CRL timer's next run)\n",
		strings.Join(certs, ", "), stillIn, joinAnd(res.NotEnforced), meanwhile)
}

// targetSummary is ", and N copy targets (refreshed: …)" for a publication message.
func targetSummary(ts []cadir.TargetResult) string {
	var ok []string
	for _, t := range ts {
		if t.Err == nil {
			ok = append(ok, t.Path)
		}
	}
	if len(ok) == 0 {
		return ""
	}
	return " and " + joinAnd(ok)
}

func joinAnd(s []string) string {
	if len(s) <= 1 {
		return strings.Join(s, "")
	}
	return strings.Join(s[:len(s)-1], ", ") + " and " + s[len(s)-1]
}
