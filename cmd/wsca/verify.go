package main

import (
	"errors"
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/wsca/wsca/internal/cadir"
)

func newVerifyCmd(g *globals) *cobra.Command {
	var crlPath string
	cmd := &cobra.Command{
		Use:   "verify CERT",
		Short: "check a certificate: chain, expiry, key usage and revocation",
		Long: `Check a certificate file against this CA the way openssl verify -crl_check_all does: validity
period, chain to the root, extended key usage, and revocation of the certificate and of every CA in its
chain against --crl (default crl.pem in the CA directory). Exit 0 only when every check passes; otherwise
one line names the check that failed.`,
		Example: `  $ wsca verify alice.crt
  $ wsca verify alice.crt --crl /etc/nginx/crl.pem`,
		Args: exactArgs(1, "a certificate file"),
		RunE: func(cmd *cobra.Command, args []string) error {
			data, err := os.ReadFile(args[0])
			if err != nil {
				return fmt.Errorf("reading certificate: %w", err)
			}
			res, err := g.caDir().Verify(data, crlPath)
			var ve *cadir.VerifyError
			if errors.As(err, &ve) {
				return fmt.Errorf("%s: %w", args[0], err)
			}
			if err != nil {
				return err
			}
			fmt.Fprintf(g.env.stdout, "%s: OK (%s, chain of %d, not revoked)\n", args[0], res.Chain[0].Subject.CommonName, len(res.Chain))
			return nil
		},
	}
	cmd.Flags().StringVar(&crlPath, "crl", "", "CRL file (default crl.pem in the CA directory)")
	return cmd
}
