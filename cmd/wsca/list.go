package main

import (
	"fmt"
	"math/big"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/wsca/wsca/ca"
	"github.com/wsca/wsca/internal/cadir"
	"github.com/wsca/wsca/store"
)

type listOptions struct {
	status, expiring, name string
	all, json              bool
}

func newListCmd(g *globals) *cobra.Command {
	o := &listOptions{}
	cmd := &cobra.Command{
		Use:   "list",
		Short: "list issued certificates",
		Long: `List the certificates in the issuance database: serial, name, kind, not-after, status
(valid, revoked or expired), and for revoked ones when and why. --json prints an array with the stable
fields serial (hex), name, kind, not_before, not_after, status, revoked_at, reason.`,
		Example: `  $ wsca list
  $ wsca list --status revoked
  $ wsca list --expiring 30d --json`,
		Args: exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, _ []string) error { return runList(g, o) },
	}
	f := cmd.Flags()
	f.StringVar(&o.status, "status", "", "only valid, revoked or expired certificates")
	f.StringVar(&o.expiring, "expiring", "", "only valid certificates expiring within this time (e.g. 30d, 12h)")
	f.StringVar(&o.name, "name", "", "only this name (a trailing * matches a prefix)")
	f.BoolVar(&o.all, "all", false, "include the CA certificates")
	f.BoolVar(&o.json, "json", false, "print JSON")
	return cmd
}

func runList(g *globals, o *listOptions) error {
	f := cadir.Filter{Status: o.status, Name: o.name}
	switch o.status {
	case "", "valid", "revoked", "expired":
	default:
		return usageError{fmt.Errorf("--status %q: use valid, revoked or expired", o.status)}
	}
	if o.expiring != "" {
		d, err := parseDays(o.expiring)
		if err != nil {
			return usageError{fmt.Errorf("--expiring: %w", err)}
		}
		f.Expiring = d
	}
	if !o.all {
		f.Kinds = []string{"client", "server"}
	}
	recs, err := g.caDir().List(f)
	if err != nil {
		return err
	}
	now := g.env.now()
	if o.json {
		out := make([]store.JSONRecord, 0, len(recs))
		for _, r := range recs {
			out = append(out, r.JSON(now))
		}
		return writeJSON(g.env.stdout, out)
	}
	tw := tabwriter.NewWriter(g.env.stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "SERIAL\tNAME\tKIND\tNOT AFTER\tSTATUS\tREVOKED")
	for _, r := range recs {
		revoked := ""
		if r.Revocation != nil {
			revoked = r.Revocation.At.UTC().Format("2006-01-02 15:04Z") + " " + r.Revocation.Reason.String()
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", serialHex(r.Serial), ca.SafeText(r.Name), r.Kind,
			r.NotAfter.UTC().Format("2006-01-02"), r.Status(now), revoked)
	}
	return tw.Flush()
}

// parseDays parses a Go duration or a number of days ("30d").
func parseDays(s string) (time.Duration, error) {
	if n, ok := strings.CutSuffix(s, "d"); ok {
		days, err := strconv.Atoi(n)
		if err != nil || days < 0 {
			return 0, fmt.Errorf("%q is not a number of days like 30d", s)
		}
		return time.Duration(days) * 24 * time.Hour, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return 0, fmt.Errorf("%q is not a duration like 30d or 12h", s)
	}
	return d, nil
}

func serialHex(n *big.Int) string { return store.SerialHex(n) }
