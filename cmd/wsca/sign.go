package main

import (
	"fmt"
	"io"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/wsca/wsca/ca"
	"github.com/wsca/wsca/internal/cadir"
)

type signOptions struct {
	name          string
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
CSR that asks to be a CA, or has a weak key, is refused. The subject comes from the CSR unless --name.`,
		Example: `  $ openssl req -new -key client.key -subj /CN=carol -out carol.csr
  $ wsca sign carol.csr --out carol.crt`,
		Args: exactArgs(1, "a CSR file (or - for standard input)"),
		RunE: func(cmd *cobra.Command, args []string) error { return runSign(g, o, args[0]) },
	}
	f := cmd.Flags()
	f.StringVar(&o.name, "name", "", "name (CN) to use instead of the CSR's")
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
	req := cadir.SignRequest{CSR: data, Name: o.name, Kind: ca.KindClient, Validity: time.Duration(o.days) * 24 * time.Hour,
		Renew: o.renew, Bundle: o.bundle, Out: o.out}
	if o.server {
		req.Kind = ca.KindServer
	}
	if req.Out == "" {
		name := o.name
		if name == "" {
			csr, err := ca.ParseCSR(data)
			if err != nil {
				return fmt.Errorf("CSR %s: %w", path, err)
			}
			name = csr.Subject.CommonName
		}
		if err := cadir.ValidateName(name); err != nil {
			return fmt.Errorf("CSR %s: %w (pass --name)", path, err)
		}
		req.Out = name + ".crt"
	}
	stdout := req.Out == "-"
	if stdout {
		req.Out = ""
	}
	res, err := g.caDir().Sign(req)
	if err != nil {
		return fmt.Errorf("CSR %s: %w", path, err)
	}
	if stdout {
		_, err = g.env.stdout.Write(res.PEM)
		return err
	}
	fmt.Fprintf(g.env.stdout, "signed %s: serial %s, valid until %s\n  certificate: %s\n", res.Record.Name,
		serialHex(res.Record.Serial), res.Record.NotAfter.Format("2006-01-02"), res.Path)
	return nil
}
