package main

import (
	"fmt"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/wsca/wsca/ca"
	"github.com/wsca/wsca/internal/cadir"
)

type initOptions struct {
	name, org, country                string
	rootYears, interYears             int
	keyType                           string
	insecureNoPassphrase              bool
	rootKeyOut                        string
	crlURL                            string
	ocspURL                           string
	rootCRLValidity                   time.Duration
	permitEmail, permitURI, permitDNS []string
}

func newInitCmd(g *globals) *cobra.Command {
	o := &initOptions{}
	cmd := &cobra.Command{
		Use:   "init",
		Short: "create the root and intermediate CA and the issuance database",
		Long: `Create a root CA, an intermediate CA signed by it (which issues every certificate),
ca.crt (intermediate + root, for Apache SSLCACertificateFile and nginx ssl_client_certificate),
the issuance database and the first CRLs, in --dir (created with mode 0700).

Both CA keys are encrypted (PKCS#8, PBES2/AES-256) with one passphrase, read from
--passphrase-file, WSCA_PASSPHRASE_FILE, or the terminal. An existing CA is never touched.

--permit-email-domain, --permit-uri-domain and --permit-dns put name constraints (RFC 5280
4.2.1.10) on the intermediate: certificates it signs with other e-mail, URI or DNS names are
rejected by relying parties (OpenSSL, Go, NSS), so a stolen intermediate key cannot mint
identities outside the organisation. "example.com" permits that host (and, for DNS, the names
under it); ".example.com" its subdomains. wsca issue refuses names outside them.`,
		Example: `  $ wsca init --name "Example Corp" --passphrase-file /root/ca.pass
  $ wsca init --name "Example Corp" --root-key-out /media/usb/root.key
  $ wsca init --name "Example Corp" --permit-email-domain example.com --permit-uri-domain example.com`,
		Args: exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, _ []string) error { return runInit(g, o) },
	}
	f := cmd.Flags()
	f.StringVar(&o.name, "name", "wsca", `CA name: "Example Corp" gives "Example Corp Root CA" and "Example Corp Intermediate CA"`)
	f.StringVar(&o.org, "org", "", "organization (O) of the CA certificates")
	f.StringVar(&o.country, "country", "", "two-letter country code (C) of the CA certificates")
	f.IntVar(&o.rootYears, "root-years", 10, "root CA validity in years")
	f.IntVar(&o.interYears, "intermediate-years", 5, "intermediate CA validity in years")
	f.StringVar(&o.keyType, "key-type", string(ca.DefaultKeyType), "CA key type: ecdsa-p256, ecdsa-p384, rsa-2048, rsa-3072, rsa-4096, ed25519")
	f.BoolVar(&o.insecureNoPassphrase, "insecure-no-passphrase", false, "write the CA keys unencrypted (not recommended)")
	f.StringVar(&o.rootKeyOut, "root-key-out", "", "write the root key to this path instead of the CA directory (offline root)")
	f.StringVar(&o.crlURL, "crl-url", "", "URL where crl.pem will be published; put in every certificate issued as its CRL distribution point")
	f.StringArrayVar(&o.permitEmail, "permit-email-domain", nil, "name constraint: e-mail SANs only at this domain (repeatable)")
	f.StringArrayVar(&o.permitURI, "permit-uri-domain", nil, "name constraint: URI SANs only with this host (repeatable)")
	f.StringArrayVar(&o.permitDNS, "permit-dns", nil, "name constraint: DNS SANs only in this domain (repeatable)")
	f.StringVar(&o.ocspURL, "ocsp-url", "", "URL of the OCSP responder (wsca publish, e.g. http://pki.example.com/ocsp); put in every certificate issued")
	f.DurationVar(&o.rootCRLValidity, "root-crl-validity", cadir.DefaultRootCRLValidity, "validity of the root CRL (it needs the root key to be renewed)")
	return cmd
}

func runInit(g *globals, o *initOptions) error {
	kt, err := ca.ParseKeyType(o.keyType)
	if err != nil {
		return usageError{err}
	}
	if o.rootYears < 1 || o.interYears < 1 || o.interYears > o.rootYears {
		return usageError{fmt.Errorf("--intermediate-years (%d) must be between 1 and --root-years (%d)", o.interYears, o.rootYears)}
	}
	if kt == ca.KeyEd25519 {
		fmt.Fprintln(g.env.stderr, "wsca: warning: browsers and NSS reject Ed25519 certificates; use ecdsa-p256 for a CA that signs browser client certificates")
	}
	if o.ocspURL != "" {
		if err := cadir.CheckOCSPURL(o.ocspURL); err != nil {
			return usageError{err}
		}
	}
	d := g.caDir()
	if d.Initialized() {
		return fmt.Errorf("%s: %w", d.Path, cadir.ErrAlreadyInitialized)
	}
	req := cadir.InitRequest{
		Hierarchy: ca.HierarchyRequest{
			Name: o.name, Organization: o.org, Country: o.country, KeyType: kt,
			RootValidity:         time.Duration(o.rootYears) * 365 * 24 * time.Hour,
			IntermediateValidity: time.Duration(o.interYears) * 365 * 24 * time.Hour,
			Constraints:          ca.NameConstraints{EmailDomains: o.permitEmail, URIDomains: o.permitURI, DNSDomains: o.permitDNS},
		},
		RootKeyOut:      o.rootKeyOut,
		CRLURL:          o.crlURL,
		OCSPURL:         o.ocspURL,
		RootCRLValidity: o.rootCRLValidity,
	}
	if req.Passphrase, err = g.newCAPassphrase(o.insecureNoPassphrase); err != nil {
		return err
	}
	res, err := d.Init(req)
	if err != nil {
		return err
	}
	if o.ocspURL != "" {
		// The signer wsca publish answers with; wsca crl renews it from now on.
		d.Passphrase = func() ([]byte, error) { return req.Passphrase, nil }
		if _, err := d.EnsureOCSPSigner(0); err != nil {
			return fmt.Errorf("the CA is created but its OCSP signer is not: %w", err)
		}
	}
	abs, _ := filepath.Abs(d.Path)
	fmt.Fprintf(g.env.stdout, "created CA in %s\n  root:         %s (serial %s, until %s)\n  intermediate: %s (serial %s, until %s)\n",
		abs, res.Root.Subject, ca.SerialText(res.Root.Serial), res.Root.NotAfter.Format("2006-01-02"),
		res.Intermediate.Subject, ca.SerialText(res.Intermediate.Serial), res.Intermediate.NotAfter.Format("2006-01-02"))
	if o.rootKeyOut != "" {
		fmt.Fprintf(g.env.stdout, "  root key:     %s (keep it offline; bring it back for wsca crl when the root CRL is due)\n", o.rootKeyOut)
	}
	fmt.Fprintf(g.env.stdout, "next: wsca issue NAME --p12\n")
	return nil
}
