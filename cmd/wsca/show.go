package main

import (
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/wsca/wsca/ca"
	"github.com/wsca/wsca/internal/cadir"
	"github.com/wsca/wsca/store"
)

func newShowCmd(g *globals) *cobra.Command {
	var asPEM bool
	cmd := &cobra.Command{
		Use:   "show NAME|SERIAL",
		Short: "show the details of issued certificates",
		Example: `  $ wsca show alice
  $ wsca show 5f3a…c1 --pem > alice.crt`,
		Args: exactArgs(1, "a NAME or SERIAL"),
		RunE: func(cmd *cobra.Command, args []string) error {
			d := g.caDir()
			recs, err := d.Find(args[0])
			if err != nil {
				return err
			}
			siblings := recs
			if len(recs) == 1 && recs[0].Name != args[0] {
				if s, err := d.Find(recs[0].Name); err == nil {
					siblings = s
				}
			}
			now := g.env.now()
			w := g.env.stdout
			for i, r := range recs {
				if asPEM {
					pem.Encode(w, &pem.Block{Type: "CERTIFICATE", Bytes: r.DER})
					continue
				}
				if i > 0 {
					fmt.Fprintln(w)
				}
				fmt.Fprintf(w, "name:        %s\nserial:      %s\nkind:        %s\nstatus:      %s\nsubject:     %s\n",
					ca.SafeText(r.Name), serialHex(r.Serial), r.Kind, r.Status(now), ca.SafeText(r.Subject))
				fmt.Fprintf(w, "not before:  %s\nnot after:   %s\nsha256:      %s\nissued:      %s by %s\n",
					r.NotBefore.UTC().Format("2006-01-02 15:04:05Z"), r.NotAfter.UTC().Format("2006-01-02 15:04:05Z"),
					r.FingerprintSHA256, r.IssuedAt.UTC().Format("2006-01-02 15:04:05Z"), ca.SafeText(r.IssuedBy))
				printRenewal(w, r, cadir.RenewalOf(r, siblings))
				if c, err := x509.ParseCertificate(r.DER); err == nil {
					if sans := sanList(c); sans != "" {
						fmt.Fprintf(w, "sans:        %s\n", sans)
					}
				}
				if r.Revocation != nil {
					fmt.Fprintf(w, "revoked:     %s by %s (%s)\n", r.Revocation.At.UTC().Format("2006-01-02 15:04:05Z"), r.Revocation.By, r.Revocation.Reason)
				}
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&asPEM, "pem", false, "print the certificates as PEM")
	return cmd
}

// printRenewal shows the links between renewals and, for a renewal, what it kept of the certificate it
// renews (wsca issue --renew carries OU, O, SANs and key type unless flags change them).
func printRenewal(w io.Writer, r store.Record, rn cadir.Renewal) {
	if r.Renews != nil {
		fmt.Fprintf(w, "renews:      %s\n", serialHex(r.Renews))
		if len(rn.Kept) > 0 {
			fmt.Fprintf(w, "kept from %s: %s\n", serialHex(r.Renews), strings.Join(rn.Kept, ", "))
		}
		if len(rn.Added) > 0 {
			fmt.Fprintf(w, "added:       %s\n", strings.Join(rn.Added, ", "))
		}
		if len(rn.Dropped) > 0 {
			fmt.Fprintf(w, "dropped:     %s\n", strings.Join(rn.Dropped, ", "))
		}
	}
	for _, s := range rn.RenewedBy {
		fmt.Fprintf(w, "renewed by:  %s\n", serialHex(s))
	}
}

func sanList(c *x509.Certificate) string {
	return strings.Join(ca.Identity(pkix.Name{}, c.EmailAddresses, c.URIs, c.DNSNames, c.IPAddresses), ", ")
}
