package main

import (
	"crypto/x509"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/wsca/wsca/ca"
	"github.com/wsca/wsca/internal/cadir"
	"github.com/wsca/wsca/internal/webconf"
)

type configOptions struct {
	backend, serverName string
	listen              string
	cert, key           string
	ocspResponder       string
}

func newConfigCmd(g *globals) *cobra.Command {
	o := &configOptions{}
	cmd := &cobra.Command{
		Use:       "config apache|nginx|haproxy --cert FILE",
		Short:     "print a ready-to-use Apache, nginx or HAProxy block that admits this CA's clients",
		ValidArgs: []string{"apache", "nginx", "haproxy"},
		Long: `Print a configuration block for Apache httpd 2.4, nginx or HAProxy that requires a client
certificate from this CA during the TLS handshake, checks crl.pem for every certificate of the chain,
accepts TLS 1.2 and later, relays HTTP and WebSocket traffic to --backend, and tells the backend who
connected in X-Client-Verify, X-Client-Cert-CN, X-Client-Cert-Serial and (Apache, HAProxy) the RFC 9440
Client-Cert header, replacing any copy the client sent.

The block names this CA's ca.crt and crl.pem by absolute path. --cert is the server certificate
(leaf + intermediate, e.g. from wsca issue NAME --server); --key defaults to the same name with .key.
--server-name defaults to the certificate's first DNS name or IP address. The comments in the block say
which modules to enable and where to put it. Servers read crl.pem only when they start or reload: run a
reload after every wsca crl.

When the CA has an OCSP URL (wsca init --ocsp-url), the Apache and nginx blocks also check each client
certificate by OCSP against wsca publish (SSLOCSPEnable leaf / ssl_ocsp leaf): a revoked client is then
refused on its next handshake with no reload. --ocsp-responder sets another responder URL (e.g. an internal
address of wsca publish), or "none" to leave OCSP out. HAProxy cannot check client certificates by OCSP.`,
		Example: `  $ wsca issue relay --server --dns relay.example.com --out /etc/wsca
  $ wsca config nginx --cert /etc/wsca/relay.crt --backend http://127.0.0.1:8080 > /etc/nginx/conf.d/wsca.conf
  $ nginx -t && nginx -s reload
  $ wsca config apache --cert /etc/wsca/relay.crt --listen 8443 > /etc/apache2/sites-available/wsca.conf
  $ wsca config haproxy --cert /etc/wsca/relay.crt --backend ws://127.0.0.1:9000 >> /etc/haproxy/haproxy.cfg`,
		Args: exactArgs(1, "a server: apache, nginx or haproxy"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runConfig(g, o, args[0])
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.backend, "backend", "http://127.0.0.1:8080", "plain-HTTP backend to relay to (http://host:port or ws://host:port)")
	f.StringVar(&o.serverName, "server-name", "", "host name clients use (default: the certificate's first DNS name or IP)")
	f.StringVar(&o.listen, "listen", "443", "PORT or IP:PORT to accept TLS on")
	f.StringVar(&o.cert, "cert", "", "server certificate file, leaf + intermediate (required)")
	f.StringVar(&o.key, "key", "", "server key file (default: --cert with .key in place of its extension)")
	f.StringVar(&o.ocspResponder, "ocsp-responder", "", `OCSP responder the server asks (default: the CA's OCSP URL, if any; "none": no OCSP)`)
	return cmd
}

func runConfig(g *globals, o *configOptions, server string) error {
	s := webconf.Server(server)
	if !slices.Contains(webconf.Servers(), s) {
		return usageError{fmt.Errorf("unknown server %q: want apache, nginx or haproxy", server)}
	}
	if o.cert == "" {
		return usageError{errors.New("wsca config needs --cert FILE: the server's certificate (wsca issue NAME --server --dns HOST makes one)")}
	}
	d := g.caDir()
	caFile, err := filepath.Abs(d.File(cadir.BundleFile))
	if err != nil {
		return fmt.Errorf("resolving CA directory: %w", err)
	}
	crlFile := filepath.Join(filepath.Dir(caFile), cadir.CRLFile)
	if _, err := os.Stat(caFile); errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("%s: %w", caFile, cadir.ErrNotInitialized)
	}
	certFile, err := filepath.Abs(o.cert)
	if err != nil {
		return fmt.Errorf("resolving --cert: %w", err)
	}
	if _, err := os.Stat(certFile); err != nil {
		return missingServerCert(certFile, err)
	}
	keyFile := o.key
	if keyFile == "" {
		keyFile = strings.TrimSuffix(certFile, filepath.Ext(certFile)) + ".key"
	}
	if keyFile, err = filepath.Abs(keyFile); err != nil {
		return fmt.Errorf("resolving --key: %w", err)
	}
	if _, err := os.Stat(keyFile); err != nil {
		return fmt.Errorf("server key: %w", err)
	}
	leaf, err := serverLeaf(certFile)
	if err != nil {
		return err
	}
	name := o.serverName
	if name == "" {
		if name, err = certName(certFile, leaf); err != nil {
			return err
		}
	}
	addr, port, err := parseListen(o.listen)
	if err != nil {
		return usageError{err}
	}
	ocspURL, err := configOCSPURL(d, o.ocspResponder)
	if err != nil {
		return err
	}
	out, err := webconf.Render(s, webconf.Params{
		CAFile: caFile, CRLFile: crlFile, CertFile: certFile, KeyFile: keyFile,
		Backend: o.backend, ServerName: name, Listen: port, Address: addr, OCSPURL: ocspURL,
	})
	if errors.Is(err, webconf.ErrInvalid) {
		return usageError{err}
	}
	if err != nil {
		return err
	}
	_, err = g.env.stdout.Write(out)
	return err
}

// serverLeaf reads the server certificate file and checks that its leaf is a server certificate: a client
// certificate named by mistake would make every client's handshake fail.
func serverLeaf(path string) (*x509.Certificate, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, missingServerCert(path, err)
	}
	certs, err := ca.ParseCertificates(data)
	if err != nil {
		return nil, fmt.Errorf("server certificate %s: %w", path, err)
	}
	if err := webconf.CheckServerCert(certs[0]); err != nil {
		return nil, fmt.Errorf("--cert %s: %w", path, err)
	}
	return certs[0], nil
}

// certName returns the name clients will use for leaf: its first DNS name, else its first IP address,
// else its CN.
func certName(path string, leaf *x509.Certificate) (string, error) {
	switch {
	case len(leaf.DNSNames) > 0:
		return leaf.DNSNames[0], nil
	case len(leaf.IPAddresses) > 0:
		return net.IP(leaf.IPAddresses[0]).String(), nil
	case leaf.Subject.CommonName != "":
		return leaf.Subject.CommonName, nil
	}
	return "", usageError{fmt.Errorf("server certificate %s names no host: pass --server-name", path)}
}

// parseListen splits --listen: "8443", "127.0.0.1:8443" or "[::1]:8443".
func parseListen(s string) (addr string, port int, err error) {
	p := s
	if strings.Contains(s, ":") {
		if addr, p, err = net.SplitHostPort(s); err != nil {
			return "", 0, fmt.Errorf("--listen %q: want PORT or IP:PORT", s)
		}
	}
	if port, err = strconv.Atoi(p); err != nil {
		return "", 0, fmt.Errorf("--listen %q: want PORT or IP:PORT", s)
	}
	return addr, port, nil
}

// missingServerCert says how to make the server certificate a server was pointed at, when the file is missing.
func missingServerCert(path string, err error) error {
	if !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("reading server certificate: %w", err)
	}
	name := strings.TrimSuffix(filepath.Base(path), filepath.Ext(path))
	return withHint(fmt.Errorf("server certificate %s: %w", path, fs.ErrNotExist),
		"make it with: wsca issue %s --server --dns HOST --out %s (it writes %s.crt and %s.key)", name, filepath.Dir(path), name, name)
}
