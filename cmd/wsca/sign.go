package main

import (
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/wsca/wsca/ca"
	"github.com/wsca/wsca/internal/cadir"
)

type signOptions struct {
	name          string
	ou, org       string
	emails, uris  []string
	dns, ips      []string
	acceptCSR     bool
	days          int
	server, renew bool
	out           string
	bundle        bool
}

func newSignCmd(g *globals) *cobra.Command {
	o := &signOptions{}
	cmd := &cobra.Command{
		Use:   "sign FILE.csr",
		Short: "sign a certificate signing request made elsewhere",
		Long: `Verify a CSR (PEM or DER; - reads standard input), issue a certificate for its key and record it.
The CA decides the profile: key usages and basic constraints asked for in the CSR are ignored, and a
CSR that asks to be a CA, or has a weak key, is refused.

The CA also decides the identity. Of the CSR's names only the common name is used (or --name);
OU, O, e-mail and URI come from --ou, --org, --email and --uri, as for wsca issue; DNS names and IP
addresses go only into server certificates (--server), from the CSR or --dns/--ip. Everything else
the CSR asks for is listed on standard error as ignored. --accept-csr-names copies the CSR's subject
attributes and names as well, after printing exactly what will be certified.`,
		Example: `  $ openssl req -new -key client.key -subj /CN=carol -out carol.csr
  $ wsca sign carol.csr --out carol.crt
  $ wsca sign carol.csr --ou eng --email carol@example.com
  $ wsca sign web.csr --server --out web.crt`,
		Args: exactArgs(1, "a CSR file (or - for standard input)"),
		RunE: func(cmd *cobra.Command, args []string) error { return runSign(g, o, args[0]) },
	}
	f := cmd.Flags()
	f.StringVar(&o.name, "name", "", "name (CN) to use instead of the CSR's")
	f.StringVar(&o.ou, "ou", "", "organizational unit (OU) of the subject")
	f.StringVar(&o.org, "org", "", "organization (O) of the subject")
	f.StringArrayVar(&o.emails, "email", nil, "email address SAN (repeatable)")
	f.StringArrayVar(&o.uris, "uri", nil, "URI SAN (repeatable)")
	f.StringArrayVar(&o.dns, "dns", nil, "DNS name SAN, added to the CSR's (server certificates; repeatable)")
	f.StringArrayVar(&o.ips, "ip", nil, "IP address SAN, added to the CSR's (server certificates; repeatable)")
	f.BoolVar(&o.acceptCSR, "accept-csr-names", false, "also certify the CSR's subject attributes and alternative names (printed first)")
	f.IntVar(&o.days, "days", 365, "validity in days")
	f.BoolVar(&o.server, "server", false, "issue a server certificate (EKU serverAuth)")
	f.BoolVar(&o.renew, "renew", false, "issue although the name has a valid certificate")
	f.StringVar(&o.out, "out", "", "certificate file to write (default NAME.crt; - for standard output)")
	f.BoolVar(&o.bundle, "bundle", false, "append the chain (intermediate, root) to the certificate")
	return cmd
}

func runSign(g *globals, o *signOptions, path string) error {
	var data []byte
	var err error
	if path == "-" {
		data, err = io.ReadAll(io.LimitReader(g.env.stdin, 1<<20))
	} else {
		data, err = os.ReadFile(path)
	}
	if err != nil {
		return fmt.Errorf("reading CSR %s: %w", path, err)
	}
	if o.days < 1 {
		return usageError{fmt.Errorf("--days must be at least 1")}
	}
	if (len(o.dns) > 0 || len(o.ips) > 0) && !o.server {
		return serverNamesError()
	}
	req := cadir.SignRequest{CSR: data, Name: o.name, Kind: ca.KindClient, Validity: time.Duration(o.days) * 24 * time.Hour,
		OU: o.ou, Organization: o.org, Emails: o.emails, URIs: o.uris, DNSNames: o.dns, IPs: o.ips,
		AcceptCSRNames: o.acceptCSR, Renew: o.renew, Bundle: o.bundle, Out: o.out}
	if o.server {
		req.Kind = ca.KindServer
	}
	plan, err := cadir.PlanSign(req)
	if err != nil {
		return fmt.Errorf("CSR %s: %w", ca.SafeText(path), err)
	}
	printSignPlan(g, plan, o.acceptCSR)
	if req.Out == "" {
		req.Out = plan.Name + ".crt"
	}
	stdout := req.Out == "-"
	if stdout {
		req.Out = ""
	}
	res, err := g.caDir().Sign(req)
	if err != nil {
		return fmt.Errorf("CSR %s: %w", ca.SafeText(path), err)
	}
	for _, w := range res.Warnings {
		fmt.Fprintf(g.env.stderr, "wsca: warning: %s\n", w)
	}
	if stdout {
		_, err = g.env.stdout.Write(res.PEM)
		return err
	}
	fmt.Fprintf(g.env.stdout, "signed %s: serial %s, valid until %s\n  certificate: %s\n", res.Record.Name,
		ca.SerialText(res.Record.Serial), res.Record.NotAfter.Format("2006-01-02"), res.Path)
	return nil
}

// printSignPlan tells the operator, on standard error and before anything is signed, what the CSR asked
// for that will not be certified, and what is taken from the CSR beyond its common name.
func printSignPlan(g *globals, plan *cadir.SignPlan, accept bool) {
	if len(plan.Ignored) > 0 {
		fmt.Fprintf(g.env.stderr, "wsca: ignored from the CSR: %s\n", strings.Join(plan.Ignored, ", "))
	}
	if accept {
		fmt.Fprintf(g.env.stderr, "wsca: certifying (--accept-csr-names): %s\n", strings.Join(plan.Certified, ", "))
	} else if len(plan.FromCSR) > 0 {
		fmt.Fprintf(g.env.stderr, "wsca: taken from the CSR (--server): %s\n", strings.Join(plan.FromCSR, ", "))
	}
}
