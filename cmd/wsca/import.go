package main

import (
	"fmt"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/wsca/wsca/internal/cadir"
	"github.com/wsca/wsca/internal/importer"
)

type importOptions struct {
	src                  importer.OpenSSLSource
	keyPassFile          string
	insecureNoPassphrase bool
	crlValidity          time.Duration
}

func newImportCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "import",
		Short: "take over an existing CA (openssl ca, easy-rsa) without reissuing",
		Long: `Create a wsca CA directory from a CA run by openssl ca or easy-rsa 3: the CA certificate and key
become wsca's issuing CA (the key re-encrypted with wsca's passphrase), every certificate of index.txt is
recorded with its status, revocation date and reason, and CRL numbers continue after the old ones, so
clients keep their certificates and servers keep trusting ca.crt and crl.pem.

A CA that is its own root (the usual openssl ca and easy-rsa setup) becomes a single-CA directory:
root.crt and intermediate.crt are the same certificate, ca.crt holds it once, crl.pem holds one CRL.`,
		Example: `  $ wsca import easy-rsa /etc/openvpn/easy-rsa/pki --dir /etc/wsca --passphrase-file /root/ca.pass
  $ wsca import openssl --ca-cert ca/cacert.pem --ca-key ca/private/cakey.pem --index ca/index.txt
  $ wsca list`,
		Args: exactArgs(0, "a subcommand (openssl or easy-rsa)"),
		RunE: func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	cmd.AddCommand(newImportOpenSSLCmd(g), newImportEasyRSACmd(g))
	return cmd
}

func addImportFlags(cmd *cobra.Command, o *importOptions) {
	f := cmd.Flags()
	f.StringVar(&o.keyPassFile, "ca-key-passphrase-file", "", "file holding the passphrase of the old CA key, if it is encrypted")
	f.BoolVar(&o.insecureNoPassphrase, "insecure-no-passphrase", false, "write the CA key unencrypted (not recommended)")
	f.DurationVar(&o.crlValidity, "crl-validity", cadir.DefaultCRLValidity, "validity of the first CRL")
}

func newImportOpenSSLCmd(g *globals) *cobra.Command {
	o := &importOptions{}
	cmd := &cobra.Command{
		Use:   "openssl",
		Short: "import a CA managed with openssl ca (index.txt, newcerts/)",
		Long: `Import a CA run with openssl ca: the files openssl.cnf names as certificate, private_key, database
(index.txt), new_certs_dir, crlnumber and crl. Every line of index.txt becomes a record with its status,
revocation date and reason; the old CRL's number is continued and its entries are cross-checked. The
old key's passphrase comes from --ca-key-passphrase-file; the new one as for wsca init. The target
--dir must not hold a CA yet.`,
		Example: `  $ wsca import openssl --ca-cert ca/cacert.pem --ca-key ca/private/cakey.pem \
      --index ca/index.txt --certs ca/newcerts --crlnumber ca/crlnumber --crl ca/crl.pem \
      --ca-key-passphrase-file old.pass --passphrase-file /root/ca.pass`,
		Args: exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			for _, req := range []struct{ name, v string }{{"--ca-cert", o.src.CACert}, {"--ca-key", o.src.CAKey}, {"--index", o.src.Index}} {
				if req.v == "" {
					return usageError{fmt.Errorf("%s is required", req.name)}
				}
			}
			pass, err := oldKeyPassphrase(g, o)
			if err != nil {
				return err
			}
			o.src.KeyPassphrase = pass
			old, err := importer.LoadOpenSSL(o.src)
			if err != nil {
				return err
			}
			return runImport(g, o, old)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.src.CACert, "ca-cert", "", "the CA certificate (certificate in openssl.cnf)")
	f.StringVar(&o.src.CAKey, "ca-key", "", "the CA private key (private_key in openssl.cnf)")
	f.StringVar(&o.src.RootCert, "root-cert", "", "the root CA, when --ca-cert is not self-signed")
	f.StringVar(&o.src.RootCRL, "root-crl", "", "the root's current CRL (required with --root-cert: wsca does not take the root key)")
	f.StringVar(&o.src.Index, "index", "", "the CA database (database in openssl.cnf, index.txt)")
	f.StringVar(&o.src.CertsDir, "certs", "", "where openssl ca kept SERIAL.pem (new_certs_dir; default: newcerts next to --index)")
	f.StringVar(&o.src.CRLNumber, "crlnumber", "", "the crlnumber file (crlnumber in openssl.cnf)")
	f.StringVar(&o.src.CRL, "crl", "", "the old CA's last CRL: its number counts and its entries are cross-checked")
	addImportFlags(cmd, o)
	return cmd
}

func newImportEasyRSACmd(g *globals) *cobra.Command {
	o := &importOptions{}
	cmd := &cobra.Command{
		Use:   "easy-rsa PKI_DIR",
		Short: "import an easy-rsa 3 PKI directory",
		Long: `Import an easy-rsa 3 PKI directory (the one holding ca.crt, private/ca.key, index.txt, issued/ and
crl.pem): the same as wsca import openssl with easy-rsa's file names filled in. Server certificates
(easy-rsa build-server-full) are recorded as kind server. The target --dir must not hold a CA yet.`,
		Example: `  $ wsca import easy-rsa /etc/openvpn/easy-rsa/pki --passphrase-file /root/ca.pass`,
		Args:    exactArgs(1, "the easy-rsa pki directory"),
		RunE: func(cmd *cobra.Command, args []string) error {
			pass, err := oldKeyPassphrase(g, o)
			if err != nil {
				return err
			}
			old, err := importer.LoadEasyRSA(args[0], pass)
			if err != nil {
				return err
			}
			return runImport(g, o, old)
		},
	}
	addImportFlags(cmd, o)
	return cmd
}

func oldKeyPassphrase(g *globals, o *importOptions) ([]byte, error) {
	if o.keyPassFile == "" {
		return nil, nil
	}
	return readSecretFile(g.env, o.keyPassFile, "old CA key passphrase file")
}

func runImport(g *globals, o *importOptions, old *importer.CA) error {
	d := g.caDir()
	if d.Initialized() {
		return fmt.Errorf("%s: %w", d.Path, cadir.ErrAlreadyInitialized)
	}
	req := cadir.ImportRequest{
		Issuer: old.Issuer, IssuerKey: old.Key, Root: old.Root, RootCRL: old.RootCRL,
		Records: old.Records, LastCRLNumber: old.LastCRLNumber, Source: old.Source, CRLValidity: o.crlValidity,
	}
	var err error
	if req.Passphrase, err = g.newCAPassphrase(o.insecureNoPassphrase); err != nil {
		return err
	}
	for _, w := range old.Warnings {
		fmt.Fprintf(g.env.stderr, "wsca: warning: %s\n", w)
	}
	res, err := d.Import(req)
	if err != nil {
		return err
	}
	for _, w := range res.NameWarnings {
		fmt.Fprintf(g.env.stderr, "wsca: warning: %s\n", w)
	}
	for _, w := range res.CRL.Warnings {
		fmt.Fprintf(g.env.stderr, "wsca: WARNING: %s\n", w)
	}
	abs, _ := filepath.Abs(d.Path)
	var layout string
	if res.SingleCA {
		layout = old.Issuer.Subject.String() + " (self-signed: root and issuing CA in one)"
	} else {
		layout = old.Issuer.Subject.String() + " under root " + old.Root.Subject.String()
	}
	fmt.Fprintf(g.env.stdout, "imported the %s CA into %s\n  CA:           %s\n  certificates: %d (%d revoked)\n  crl.pem:      CRL number %s, %d revoked listed, next update %s\n",
		old.Source, abs, layout, res.Imported, res.Revoked, res.CRL.Number, res.CRL.Entries, res.CRL.NextUpdate.Format(time.RFC3339))
	fmt.Fprintf(g.env.stdout, "next: point your servers at %s and %s, and run wsca crl from cron\n",
		filepath.Join(abs, cadir.BundleFile), filepath.Join(abs, cadir.CRLFile))
	return nil
}
