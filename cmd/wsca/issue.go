package main

import (
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/wsca/wsca/ca"
	"github.com/wsca/wsca/internal/cadir"
)

type issueOptions struct {
	emails, uris, dns, ips []string
	ou, org                string
	days                   int
	keyType                string
	server, renew          bool
	out                    string
	p12                    bool
	p12PasswordFile        string
	p12Format              string
	from                   string
	samePassword           bool
	crlURL                 string
	keyTypeSet             bool
	ocspURL                string
	pickup, pickupTTLSet   bool
	pickupTTL              time.Duration
	pickupURL              string
	valid                  string
	token                  bool
	tokenTTL               time.Duration
}

func newIssueCmd(g *globals) *cobra.Command {
	o := &issueOptions{}
	cmd := &cobra.Command{
		Use:   "issue NAME | --from FILE.csv",
		Short: "issue a client (or server) key and certificate, optionally as a PKCS#12 bundle",
		Long: `Issue a new key and certificate signed by the intermediate CA, record it in the database,
then write NAME.crt and NAME.key (mode 0600) to --out. With --p12, also NAME.p12 (key, certificate
and chain, mode 0600) protected by the password from --p12-password-file or a generated one, printed once.

The default bundle format (legacy: 3DES + SHA-1 MAC) imports in OpenSSL 3, NSS (Chrome, Firefox),
Java keytool, macOS Keychain and Windows; --p12-format modern uses AES-256 + SHA-256 (not for macOS).

--renew issues a new certificate while NAME has a valid one, like for like: OU, O, e-mail, URI,
DNS and IP names, the kind and the key type of NAME's newest certificate are kept unless a flag
sets them. NAME.crt, NAME.key and NAME.p12 already in --out are kept as NAME.SERIAL.crt (…).

With --from FILE.csv, issue one certificate per row (header: name,email,uri,ou,days,kind,dns,ip,key_type;
several values in a cell separated by ';'). A bad row is reported with its line and nothing of it is kept.
Standard output is a tab-separated table with a header line; with --p12 each row gets its own generated
bundle password in the password column (one --p12-password-file for all rows needs --same-p12-password).

With --p12 --pickup, no key file and no bundle file are written: the encrypted bundle is kept in wsca.db
and wsca publish hands it out once at the printed link (256-bit token, valid --pickup-ttl, 24h by
default; only the token's hash is stored). Give the link and the password to the user by separate
channels. The link starts with the CA's publish URL: the first --pickup-url given is remembered.
See docs/bundles.md.

Names are refused with leading or trailing spaces, control or invisible characters, or when not in
Unicode NFC; a name that differs from another valid one only by letter case is issued with a warning.`,
		Example: `  $ wsca issue alice --email alice@example.com --p12
  $ wsca issue relay --server --dns relay.example.com --ip 127.0.0.1
  $ wsca issue alice --renew --p12
  $ wsca issue bob --p12 --pickup --pickup-url http://pki.example.com
  $ wsca issue --from staff.csv --out bundles/ --p12 > issued.tsv`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if o.from == "" && len(args) != 1 {
				return usageError{fmt.Errorf("wsca issue needs a NAME, or --from FILE.csv")}
			}
			if o.from != "" && len(args) != 0 {
				return usageError{fmt.Errorf("give either a NAME or --from, not both")}
			}
			o.keyTypeSet = cmd.Flags().Changed("key-type")
			o.pickupTTLSet = cmd.Flags().Changed("pickup-ttl")
			if o.valid != "" && cmd.Flags().Changed("days") {
				return usageError{fmt.Errorf("give either --days or --valid, not both")}
			}
			if o.token {
				return runIssueToken(g, o, args)
			}
			return runIssue(g, o, args)
		},
	}
	f := cmd.Flags()
	f.StringArrayVar(&o.emails, "email", nil, "email address SAN (repeatable)")
	f.StringArrayVar(&o.uris, "uri", nil, "URI SAN, e.g. spiffe://example.com/alice (repeatable)")
	f.StringArrayVar(&o.dns, "dns", nil, "DNS name SAN (server certificates; repeatable)")
	f.StringArrayVar(&o.ips, "ip", nil, "IP address SAN (server certificates; repeatable)")
	f.StringVar(&o.ou, "ou", "", "organizational unit (OU) of the subject")
	f.StringVar(&o.org, "org", "", "organization (O) of the subject")
	f.IntVar(&o.days, "days", 365, "validity in days (must end before the intermediate CA's)")
	f.StringVar(&o.keyType, "key-type", string(ca.DefaultKeyType), "key type: ecdsa-p256, ecdsa-p384, rsa-2048, rsa-3072, rsa-4096, ed25519")
	f.BoolVar(&o.server, "server", false, "issue a server certificate (EKU serverAuth, needs --dns or --ip); NAME.crt holds leaf + intermediate")
	f.BoolVar(&o.renew, "renew", false, "issue although NAME has a valid certificate, recording which one this renews")
	f.StringVar(&o.out, "out", ".", "directory for NAME.crt, NAME.key and NAME.p12")
	f.BoolVar(&o.p12, "p12", false, "also write NAME.p12 for browsers and other clients")
	f.StringVar(&o.p12PasswordFile, "p12-password-file", "", "file holding the bundle password (default: generate one and print it)")
	f.StringVar(&o.p12Format, "p12-format", string(ca.P12Legacy), "bundle encryption: legacy (3DES/SHA-1, imports everywhere) or modern (AES-256/SHA-256)")
	f.StringVar(&o.from, "from", "", "issue one certificate per row of this CSV file")
	f.BoolVar(&o.samePassword, "same-p12-password", false, "with --from and --p12-password-file: protect every bundle with that one password")
	f.StringVar(&o.valid, "valid", "", "validity as a duration instead of --days: 24h, 90m, 30d (short-lived certificates renewed by wsca renew)")
	f.BoolVar(&o.token, "token", false, "issue nothing now: print a one-time token with which a device enrolls its own key (wsca enroll, simpleenroll)")
	f.DurationVar(&o.tokenTTL, "token-ttl", cadir.DefaultTokenTTL, "with --token: how long the token can be used")
	f.StringVar(&o.crlURL, "crl-url", "", "CRL distribution point to put in the certificate (default: the URL given at wsca init, if any)")
	f.StringVar(&o.ocspURL, "ocsp-url", "", "OCSP responder (wsca publish) to put in the certificate (default: the URL given at wsca init, if any)")
	f.BoolVar(&o.pickup, "pickup", false, "with --p12: keep the bundle for a one-time download from wsca publish and print the link; no key file is written")
	f.DurationVar(&o.pickupTTL, "pickup-ttl", cadir.DefaultPickupTTL, "how long the pickup link stays valid")
	f.StringVar(&o.pickupURL, "pickup-url", "", "wsca publish's public URL for the link (default: the CA's publish URL; the first one given is remembered)")
	return cmd
}

func runIssue(g *globals, o *issueOptions, args []string) error {
	base, err := o.request(g)
	if err != nil {
		return err
	}
	d := g.caDir()
	link, err := o.pickupBase(g, d)
	if err != nil {
		return err
	}
	if o.from != "" {
		return runIssueBatch(g, d, base, o.from)
	}
	base.Name, base.Pickup, base.PickupTTL = args[0], o.pickup, o.pickupTTL
	res, err := d.Issue(base)
	if err != nil {
		return err
	}
	printIssued(g, res)
	printPickup(g, res, link)
	return nil
}

// serverNamesError explains --dns/--ip without --server.
func serverNamesError() error {
	return usageError{fmt.Errorf("--dns and --ip are for server certificates: add --server (a client certificate with server names could pass as that server)")}
}

// request turns the flags into the request every issued certificate starts from.
func (o *issueOptions) request(g *globals) (cadir.IssueRequest, error) {
	kt, err := ca.ParseKeyType(o.keyType)
	if err != nil {
		return cadir.IssueRequest{}, usageError{err}
	}
	pf, err := ca.ParseP12Format(o.p12Format)
	if err != nil {
		return cadir.IssueRequest{}, usageError{err}
	}
	if o.days < 1 {
		return cadir.IssueRequest{}, usageError{fmt.Errorf("--days must be at least 1")}
	}
	validity := time.Duration(o.days) * 24 * time.Hour
	if o.valid != "" {
		if validity, err = parseValidity(o.valid); err != nil {
			return cadir.IssueRequest{}, usageError{err}
		}
	}
	if kt == ca.KeyEd25519 {
		fmt.Fprintln(g.env.stderr, "wsca: warning: browsers and NSS reject Ed25519 client certificates")
	}
	if !o.keyTypeSet {
		kt = "" // the default, or for --renew the renewed certificate's key type
	}
	if (len(o.dns) > 0 || len(o.ips) > 0) && !o.server && !o.renew {
		return cadir.IssueRequest{}, serverNamesError()
	}
	r := cadir.IssueRequest{
		KeyType: kt, Emails: o.emails, URIs: o.uris, DNSNames: o.dns, IPs: o.ips,
		OU: o.ou, Organization: o.org, Validity: validity, Renew: o.renew,
		OutDir: o.out, P12: o.p12, P12Format: pf, CRLURL: o.crlURL, OCSPURL: o.ocspURL,
	}
	if o.ocspURL != "" {
		if err := cadir.CheckOCSPURL(o.ocspURL); err != nil {
			return r, usageError{err}
		}
	}
	if o.server {
		r.Kind = ca.KindServer
	}
	if o.p12PasswordFile != "" {
		if !o.p12 {
			return r, usageError{fmt.Errorf("--p12-password-file needs --p12")}
		}
		if o.from != "" && !o.samePassword {
			return r, usageError{fmt.Errorf("--p12-password-file with --from would give every user the same bundle password: " +
				"drop it (each row then gets its own, in the output's password column) or add --same-p12-password")}
		}
		pw, err := readSecretFile(g.env, o.p12PasswordFile, "p12 password file")
		if err != nil {
			return r, err
		}
		r.P12Password = string(pw)
	}
	return r, nil
}

func printIssued(g *globals, res *cadir.IssueResult) {
	w := g.env.stdout
	for _, warn := range res.Warnings {
		fmt.Fprintf(g.env.stderr, "wsca: warning: %s\n", warn)
	}
	fmt.Fprintf(w, "issued %s: serial %s, valid until %s\n", res.Record.Name, ca.SerialText(res.Record.Serial), res.Record.NotAfter.Format("2006-01-02"))
	fmt.Fprintf(w, "  certificate: %s\n", res.CertPath)
	if res.KeyPath != "" {
		fmt.Fprintf(w, "  key:         %s\n", res.KeyPath)
	}
	if res.P12Path != "" {
		fmt.Fprintf(w, "  bundle:      %s\n", res.P12Path)
	}
	if res.Record.Renews != nil {
		fmt.Fprintf(w, "  renews:      %s\n", ca.SerialText(res.Record.Renews))
	}
	if len(res.Carried) > 0 {
		fmt.Fprintf(w, "  kept:        %s\n", strings.Join(res.Carried, ", "))
	}
	for _, a := range res.Archived {
		fmt.Fprintf(w, "  previous:    %s\n", a)
	}
	if res.PasswordMade {
		fmt.Fprintf(w, "  bundle password (shown once; give it to the user separately): %s\n", res.P12Password)
	}
}

func runIssueBatch(g *globals, d *cadir.Dir, base cadir.IssueRequest, path string) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("reading %s: %w", path, err)
	}
	defer f.Close()
	reqs, lines, parseErrs, err := cadir.ParseCSV(f, base)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	progress := func(done, total int) {
		if g.env.stderrIsTerminal {
			fmt.Fprintf(g.env.stderr, "\rissued %d/%d", done, total)
			if done == total {
				fmt.Fprintln(g.env.stderr)
			}
		}
	}
	results, rowErrs, err := d.IssueBatch(reqs, progress, lines...)
	printBatch(g, results)
	rowErrs = append(parseErrs, rowErrs...)
	for _, re := range rowErrs {
		fmt.Fprintf(g.env.stderr, "wsca: error: %s:%d: %s: %s\n", path, re.Line, ca.SafeText(re.Name), rowErrorText(re.Err))
	}
	if err != nil {
		return err
	}
	if g.verbose {
		fmt.Fprintf(g.env.stderr, "wsca: issued %d certificates from %s\n", len(results), ca.SafeText(path))
	}
	if len(rowErrs) > 0 {
		return fmt.Errorf("%d of %d rows of %s were not issued (see above); the other %d were", len(rowErrs), len(reqs)+len(parseErrs), path, len(results))
	}
	return nil
}

// printBatch writes the batch table: a header line, then one tab-separated row per certificate. The
// bundle and password columns are there only with --p12; each generated password is that row's own.
func printBatch(g *globals, results []cadir.IssueResult) {
	p12 := len(results) > 0 && results[0].P12Path != ""
	header := "name\tserial\tcertificate"
	if p12 {
		header += "\tbundle\tpassword"
	}
	fmt.Fprintln(g.env.stdout, header)
	for _, res := range results {
		line := fmt.Sprintf("%s\t%s\t%s", res.Record.Name, ca.SerialText(res.Record.Serial), res.CertPath)
		if p12 {
			pw := "(from --p12-password-file)"
			if res.PasswordMade {
				pw = res.P12Password
			}
			line += "\t" + res.P12Path + "\t" + pw
		}
		fmt.Fprintln(g.env.stdout, line)
	}
	for _, res := range results {
		for _, warn := range res.Warnings {
			fmt.Fprintf(g.env.stderr, "wsca: warning: %s\n", warn)
		}
	}
}

// rowErrorText is a failed row's message with its flag advice in parentheses: the rows of a batch have no hint
// line of their own.
func rowErrorText(err error) string {
	if h := flagHint(err); h != "" {
		return fmt.Sprintf("%v (%s)", err, h)
	}
	return err.Error()
}
