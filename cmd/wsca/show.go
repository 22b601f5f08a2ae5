package main

import (
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"strings"

	"github.com/spf13/cobra"
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
			recs, err := g.caDir().Find(args[0])
			if err != nil {
				return err
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
					r.Name, serialHex(r.Serial), r.Kind, r.Status(now), r.Subject)
				fmt.Fprintf(w, "not before:  %s\nnot after:   %s\nsha256:      %s\nissued:      %s by %s\n",
					r.NotBefore.UTC().Format("2006-01-02 15:04:05Z"), r.NotAfter.UTC().Format("2006-01-02 15:04:05Z"),
					r.FingerprintSHA256, r.IssuedAt.UTC().Format("2006-01-02 15:04:05Z"), r.IssuedBy)
				if r.Renews != nil {
					fmt.Fprintf(w, "renews:      %s\n", serialHex(r.Renews))
				}
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

func sanList(c *x509.Certificate) string {
	var s []string
	for _, e := range c.EmailAddresses {
		s = append(s, "email:"+e)
	}
	for _, u := range c.URIs {
		s = append(s, "uri:"+u.String())
	}
	for _, d := range c.DNSNames {
		s = append(s, "dns:"+d)
	}
	for _, ip := range c.IPAddresses {
		s = append(s, "ip:"+ip.String())
	}
	return strings.Join(s, ", ")
}
