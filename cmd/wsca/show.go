package main

import (
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/wsca/wsca/ca"
	"github.com/wsca/wsca/internal/cadir"
	"github.com/wsca/wsca/store"
)

func newShowCmd(g *globals) *cobra.Command {
	var asPEM, asJSON bool
	cmd := &cobra.Command{
		Use:   "show NAME|SERIAL",
		Short: "show the details of issued certificates",
		Long: `Show every certificate issued under NAME (oldest first), or the one with SERIAL: subject, validity,
SHA-256 fingerprint, who issued it and when, the SANs, renewal links and the revocation. A SERIAL is hex as
wsca list prints it (colons and a leading 0x are ignored); a unique prefix of at least 4 digits is enough,
and a prefix that matches several certificates is refused with a list of them.

--pem prints the certificates instead; --json prints an array with the fields of wsca list --json plus
subject, sha256, issued_at, issued_by, emails, ous, sans, renews and renewed_by.`,
		Example: `  $ wsca show alice
  $ wsca show 0b5e41 --pem > alice.crt
  $ wsca show alice --json`,
		Args: exactArgs(1, "a NAME or SERIAL"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if asPEM && asJSON {
				return usageError{fmt.Errorf("--pem and --json exclude each other")}
			}
			return runShow(g, args[0], asPEM, asJSON)
		},
	}
	cmd.Flags().BoolVar(&asPEM, "pem", false, "print the certificates as PEM")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

func runShow(g *globals, target string, asPEM, asJSON bool) error {
	d := g.caDir()
	recs, err := d.Find(target)
	if err != nil {
		return err
	}
	siblings := recs
	if len(recs) == 1 && recs[0].Name != target {
		if s, err := d.Find(recs[0].Name); err == nil {
			siblings = s
		}
	}
	now := g.env.now()
	w := g.env.stdout
	if asJSON {
		out := make([]showJSON, 0, len(recs))
		for _, r := range recs {
			out = append(out, newShowJSON(r, cadir.RenewalOf(r, siblings), now))
		}
		return writeJSON(w, out)
	}
	for i, r := range recs {
		if asPEM {
			pem.Encode(w, &pem.Block{Type: "CERTIFICATE", Bytes: r.DER})
			continue
		}
		if i > 0 {
			fmt.Fprintln(w)
		}
		fmt.Fprintf(w, "name:        %s\nserial:      %s\nkind:        %s\nstatus:      %s\nsubject:     %s\n",
			ca.SafeText(r.Name), ca.SerialText(r.Serial), r.Kind, r.Status(now), ca.SafeText(r.Subject))
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
}

// showJSON is the stable JSON of wsca show: wsca list's fields and the details.
type showJSON struct {
	store.JSONRecord
	Subject   string   `json:"subject"`
	SHA256    string   `json:"sha256"`
	IssuedAt  string   `json:"issued_at"`
	IssuedBy  string   `json:"issued_by"`
	Emails    []string `json:"emails"`
	OUs       []string `json:"ous"`
	SANs      []string `json:"sans"`
	Renews    *string  `json:"renews"`
	RenewedBy []string `json:"renewed_by"`
}

func newShowJSON(r store.Record, rn cadir.Renewal, now time.Time) showJSON {
	j := showJSON{
		JSONRecord: r.JSON(now), Subject: r.Subject, SHA256: r.FingerprintSHA256,
		IssuedAt: r.IssuedAt.UTC().Format(time.RFC3339), IssuedBy: r.IssuedBy,
		Emails: []string{}, OUs: []string{}, SANs: []string{}, RenewedBy: []string{},
	}
	if c, err := x509.ParseCertificate(r.DER); err == nil {
		j.Emails = append(j.Emails, c.EmailAddresses...)
		j.OUs = append(j.OUs, c.Subject.OrganizationalUnit...)
		j.SANs = append(j.SANs, ca.Identity(pkix.Name{}, c.EmailAddresses, c.URIs, c.DNSNames, c.IPAddresses)...)
	}
	if r.Renews != nil {
		s := ca.SerialHex(r.Renews)
		j.Renews = &s
	}
	for _, s := range rn.RenewedBy {
		j.RenewedBy = append(j.RenewedBy, ca.SerialHex(s))
	}
	return j
}

// printRenewal shows the links between renewals and, for a renewal, what it kept of the certificate it
// renews (wsca issue --renew carries OU, O, SANs and key type unless flags change them).
func printRenewal(w io.Writer, r store.Record, rn cadir.Renewal) {
	if r.Renews != nil {
		fmt.Fprintf(w, "renews:      %s\n", ca.SerialText(r.Renews))
		if len(rn.Kept) > 0 {
			fmt.Fprintf(w, "kept from %s: %s\n", ca.SerialText(r.Renews), strings.Join(rn.Kept, ", "))
		}
		if len(rn.Added) > 0 {
			fmt.Fprintf(w, "added:       %s\n", strings.Join(rn.Added, ", "))
		}
		if len(rn.Dropped) > 0 {
			fmt.Fprintf(w, "dropped:     %s\n", strings.Join(rn.Dropped, ", "))
		}
	}
	for _, s := range rn.RenewedBy {
		fmt.Fprintf(w, "renewed by:  %s\n", ca.SerialText(s))
	}
}

func sanList(c *x509.Certificate) string {
	return strings.Join(ca.Identity(pkix.Name{}, c.EmailAddresses, c.URIs, c.DNSNames, c.IPAddresses), ", ")
}
