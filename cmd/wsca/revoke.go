package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/wsca/wsca/ca"
	"github.com/wsca/wsca/internal/cadir"
	"github.com/wsca/wsca/store"
)

func newRevokeCmd(g *globals) *cobra.Command {
	var reason string
	var all, intermediate bool
	cmd := &cobra.Command{
		Use:   "revoke NAME|SERIAL",
		Short: "revoke a certificate (run wsca crl to publish it)",
		Long: `Record a revocation in the database with its time, reason and the OS user. Servers learn of it
from the next crl.pem: run wsca crl (wsca serve picks the new file up by itself and cuts live sessions).
Reasons (RFC 5280): unspecified, keyCompromise, affiliationChanged, superseded, cessationOfOperation,
certificateHold (lifted by wsca unrevoke), privilegeWithdrawn.`,
		Example: `  $ wsca revoke bob --reason keyCompromise && wsca crl
  $ wsca revoke 5f3ac1d2…
  $ wsca revoke --intermediate --reason cACompromise`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if intermediate != (len(args) == 0) || len(args) > 1 {
				return usageError{fmt.Errorf("wsca revoke needs one NAME or SERIAL, or --intermediate alone")}
			}
			r, err := store.ParseReason(reason)
			if err != nil {
				return usageError{err}
			}
			target := ""
			if len(args) == 1 {
				target = args[0]
			}
			recs, err := g.caDir().Revoke(cadir.RevokeRequest{Target: target, Reason: r, All: all, Intermediate: intermediate})
			for _, rec := range recs {
				fmt.Fprintf(g.env.stdout, "revoked %s (serial %s): %s\n", ca.SafeText(rec.Name), serialHex(rec.Serial), rec.Revocation.Reason)
			}
			if err != nil {
				return err
			}
			if !intermediate {
				fmt.Fprintln(g.env.stderr, "wsca: run wsca crl to publish the revocation")
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&reason, "reason", "unspecified", "RFC 5280 reason")
	f.BoolVar(&all, "all", false, "revoke every valid certificate of NAME")
	f.BoolVar(&intermediate, "intermediate", false, "revoke the intermediate CA (needs the root key; regenerates the CRLs)")
	return cmd
}

func newUnrevokeCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "unrevoke NAME|SERIAL",
		Short: "lift a certificateHold",
		Example: `  $ wsca revoke bob --reason certificateHold && wsca crl
  $ wsca unrevoke bob && wsca crl`,
		Args: exactArgs(1, "a NAME or SERIAL"),
		RunE: func(cmd *cobra.Command, args []string) error {
			rec, err := g.caDir().Unrevoke(args[0])
			if err != nil {
				return err
			}
			fmt.Fprintf(g.env.stdout, "hold lifted on %s (serial %s); run wsca crl to publish\n", ca.SafeText(rec.Name), serialHex(rec.Serial))
			return nil
		},
	}
}
