package main

import (
	"cmp"
	"crypto/x509"
	"fmt"
	"slices"
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
	status, expiring, name, sort string
	all, json                    bool
}

// listSorts are the orders of wsca list; each breaks ties by issue time, then serial.
var listSorts = map[string]func(a, b store.Record) int{
	"name":    func(a, b store.Record) int { return cmp.Compare(a.Name, b.Name) },
	"issued":  func(a, b store.Record) int { return 0 },
	"expires": func(a, b store.Record) int { return a.NotAfter.Compare(b.NotAfter) },
	"serial":  func(a, b store.Record) int { return a.Serial.Cmp(b.Serial) },
}

func newListCmd(g *globals) *cobra.Command {
	o := &listOptions{}
	cmd := &cobra.Command{
		Use:   "list",
		Short: "list issued certificates",
		Long: `List the certificates in the issuance database, sorted by name and then by issue time (--sort):
name, serial (hex, even length as Apache and openssl x509 -serial print it), kind, e-mail address and
OU (what relay.yaml allow_email and allow_ou match on), not-after, status (valid, revoked or expired),
and for revoked ones when and why. When nothing matches, one line says so.

--json prints an array with the stable fields serial (hex), name, kind, not_before, not_after,
status, revoked_at, reason, in the same order.`,
		Example: `  $ wsca list
  NAME   SERIAL                            KIND    EMAIL              OU   NOT AFTER   STATUS  REVOKED
  alice  0b5e41c7a9d2f3e4b5a6978812345678  client  alice@example.com  ops  2027-12-06  valid
  $ wsca list --status revoked
  $ wsca list --sort expires --expiring 30d
  $ wsca list --name 'ops-*' --json`,
		Args: exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, _ []string) error { return runList(g, o) },
	}
	f := cmd.Flags()
	f.StringVar(&o.status, "status", "", "only valid, revoked or expired certificates")
	f.StringVar(&o.expiring, "expiring", "", "only valid certificates expiring within this time (e.g. 30d, 12h)")
	f.StringVar(&o.name, "name", "", "only this name (a trailing * matches a prefix)")
	f.StringVar(&o.sort, "sort", "name", "order: name, issued, expires or serial (ties: by issue time)")
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
	order, ok := listSorts[o.sort]
	if !ok {
		return usageError{fmt.Errorf("--sort %q: use name, issued, expires or serial", o.sort)}
	}
	if o.expiring != "" {
		d, err := parseDays(o.expiring)
		if err != nil {
			return usageError{fmt.Errorf("--expiring: %w", err)}
		}
		f.Expiring = d
	}
	if !o.all {
		f.Kinds = []store.Kind{ca.KindClient, ca.KindServer}
	}
	recs, err := g.caDir().List(f)
	if err != nil {
		return err
	}
	slices.SortStableFunc(recs, func(a, b store.Record) int {
		return cmp.Or(order(a, b), a.IssuedAt.Compare(b.IssuedAt), a.Serial.Cmp(b.Serial))
	})
	now := g.env.now()
	if o.json {
		out := make([]store.JSONRecord, 0, len(recs))
		for _, r := range recs {
			out = append(out, r.JSON(now))
		}
		return writeJSON(g.env.stdout, out)
	}
	if len(recs) == 0 {
		fmt.Fprintln(g.env.stdout, noneMatch(o))
		return nil
	}
	tw := tabwriter.NewWriter(g.env.stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tSERIAL\tKIND\tEMAIL\tOU\tNOT AFTER\tSTATUS\tREVOKED")
	for _, r := range recs {
		revoked := ""
		if r.Revocation != nil {
			revoked = r.Revocation.At.UTC().Format("2006-01-02 15:04Z") + " " + r.Revocation.Reason.String()
		}
		email, ou := matchedIdentity(r)
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", ca.SafeText(r.Name), ca.SerialText(r.Serial), r.Kind,
			email, ou, r.NotAfter.UTC().Format("2006-01-02"), r.Status(now), revoked)
	}
	return tw.Flush()
}

// noneMatch says why the listing is empty, naming the filters that were given.
func noneMatch(o *listOptions) string {
	var by []string
	if o.name != "" {
		by = append(by, "--name "+o.name)
	}
	if o.status != "" {
		by = append(by, "--status "+o.status)
	}
	if o.expiring != "" {
		by = append(by, "--expiring "+o.expiring)
	}
	if len(by) == 0 {
		return "no certificates issued yet (wsca issue NAME makes one)"
	}
	return "no certificates match " + strings.Join(by, " ")
}

// matchedIdentity returns the e-mail addresses and OUs of r's certificate, the values relay.yaml's allow_email
// and allow_ou match on, or "-" for none.
func matchedIdentity(r store.Record) (email, ou string) {
	email, ou = "-", "-"
	c, err := x509.ParseCertificate(r.DER)
	if err != nil {
		return email, ou
	}
	if len(c.EmailAddresses) > 0 {
		email = ca.SafeText(strings.Join(c.EmailAddresses, ","))
	}
	if len(c.Subject.OrganizationalUnit) > 0 {
		ou = ca.SafeText(strings.Join(c.Subject.OrganizationalUnit, ","))
	}
	return email, ou
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
