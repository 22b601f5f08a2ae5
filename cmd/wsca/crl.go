package main

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/wsca/wsca/internal/cadir"
)

func newCRLCmd(g *globals) *cobra.Command {
	o := cadir.CRLOptions{}
	var ocspURL string
	cmd := &cobra.Command{
		Use:   "crl",
		Short: "regenerate crl.pem from the database (safe to run from cron)",
		Long: `Write crl.pem: the intermediate's CRL followed by the root's CRL, so servers that check the
whole chain (Apache SSLCARevocationCheck chain, nginx ssl_crl, openssl verify -crl_check_all) work.
The file is replaced atomically. Silent on success unless -v; one line and a non-zero exit on failure.
With --if-due, nothing is done unless a revocation happened since the last run or half of the CRL's
validity has passed, so it can run every minute.
When the CA has an OCSP URL, it also renews the delegated OCSP signer that wsca publish signs with
(ocsp-signer.crt/.key) once it is half-way to expiry; --ocsp-url sets that URL on an existing CA.`,
		Example: `  $ wsca crl
  $ wsca crl --copy-to /etc/wsca-relay/crl.pem --copy-to /var/www/pki/crl.pem
  # crontab: */5 * * * * wsca --dir /etc/wsca crl --if-due --passphrase-file /etc/wsca/pass`,
		Args: exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			d := g.caDir()
			if ocspURL != "" {
				if err := cadir.CheckOCSPURL(ocspURL); err != nil {
					return usageError{err}
				}
				if err := d.SetOCSPURL(ocspURL); err != nil {
					return err
				}
			}
			res, err := d.GenerateCRL(o)
			if err != nil {
				return err
			}
			if err := ensureOCSPSigner(g, d); err != nil {
				return err
			}
			for _, w := range res.Warnings {
				fmt.Fprintf(g.env.stderr, "wsca: WARNING: %s\n", w)
			}
			if !g.verbose {
				return nil
			}
			if res.Skipped {
				fmt.Fprintf(g.env.stderr, "wsca: CRL %s not due (next update %s)\n", res.Number, res.NextUpdate.Format(time.RFC3339))
				return nil
			}
			fmt.Fprintf(g.env.stderr, "wsca: wrote %s: CRL number %s, %d revoked, next update %s\n", res.Path, res.Number, res.Entries, res.NextUpdate.Format(time.RFC3339))
			if res.RootResigned {
				fmt.Fprintf(g.env.stderr, "wsca: root CRL re-signed: number %s, next update %s\n", res.RootNumber, res.RootNext.Format(time.RFC3339))
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.DurationVar(&o.Validity, "validity", cadir.DefaultCRLValidity, "how long the intermediate CRL is valid (nextUpdate)")
	f.DurationVar(&o.RootValidity, "root-validity", cadir.DefaultRootCRLValidity, "validity of the root CRL when it is re-signed")
	f.BoolVar(&o.IfDue, "if-due", false, "only regenerate after a revocation or when the CRL is half-way to its nextUpdate")
	f.Float64Var(&o.DueFraction, "due-fraction", cadir.DefaultDueFraction, "with --if-due: fraction of the validity after which the CRL is renewed")
	f.StringVar(&o.Out, "out", "", "write here instead of crl.pem in the CA directory")
	f.BoolVar(&o.DER, "der", false, "write only the intermediate's CRL, DER-encoded")
	f.StringVar(&ocspURL, "ocsp-url", "", "set the CA's OCSP responder URL (as wsca init --ocsp-url does) and issue the OCSP signer wsca publish uses")
	f.StringArrayVar(&o.CopyTo, "copy-to", nil, "also write the CRL here, atomically (repeatable): a relay's copy, a web root")
	return cmd
}
