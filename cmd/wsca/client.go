package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/wsca/wsca/ca"
	"github.com/wsca/wsca/internal/cadir"
	"github.com/wsca/wsca/internal/wsclient"
)

// clientCertFlags are the ways to give a client certificate, shared by wsca client and wsca doctor --connect.
type clientCertFlags struct {
	cert, key        string
	p12, p12PassFile string
	caFile           string
	serverName       string
	timeout          time.Duration
}

func (f *clientCertFlags) register(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.StringVar(&f.cert, "cert", "", "client certificate (PEM; intermediates may follow it)")
	fl.StringVar(&f.key, "key", "", "the client certificate's key (PEM, unencrypted, as wsca issue writes NAME.key)")
	fl.StringVar(&f.p12, "p12", "", "client certificate and key as a PKCS#12 bundle (wsca issue --p12)")
	fl.StringVar(&f.p12PassFile, "p12-password-file", "", "file holding the bundle's password")
	fl.StringVar(&f.caFile, "ca", "", "CA bundle that verifies the server (default: ca.crt in the CA directory if there is one, else the system roots)")
	fl.StringVar(&f.serverName, "server-name", "", "name the server certificate must carry, sent as SNI (default: the host connected to)")
	fl.DurationVar(&f.timeout, "timeout", 10*time.Second, "bound on connecting, the handshake and each answer")
}

// clientCertificate loads the certificate given by --cert/--key or --p12; nil when none was given.
func (f *clientCertFlags) clientCertificate(g *globals) (*tls.Certificate, error) {
	switch {
	case f.p12 != "" && (f.cert != "" || f.key != ""):
		return nil, usageError{errors.New("give either --p12 or --cert and --key, not both")}
	case (f.cert == "") != (f.key == ""):
		return nil, usageError{errors.New("--cert and --key go together")}
	case f.p12 != "" && f.p12PassFile == "":
		return nil, usageError{errors.New("--p12 needs --p12-password-file (a password never goes on the command line)")}
	case f.p12 != "":
		data, err := os.ReadFile(f.p12)
		if err != nil {
			return nil, fmt.Errorf("reading the bundle: %w", err)
		}
		pass, err := readSecretFile(g.env, f.p12PassFile, "bundle password file")
		if err != nil {
			return nil, err
		}
		c, err := wsclient.LoadPKCS12(data, string(pass))
		if err != nil {
			return nil, fmt.Errorf("%s: %w", f.p12, err)
		}
		return &c, nil
	case f.cert != "":
		certPEM, err := os.ReadFile(f.cert)
		if err != nil {
			return nil, fmt.Errorf("reading the certificate: %w", err)
		}
		keyPEM, err := os.ReadFile(f.key)
		if err != nil {
			return nil, fmt.Errorf("reading the key: %w", err)
		}
		c, err := wsclient.LoadKeyPair(certPEM, keyPEM)
		if err != nil {
			return nil, fmt.Errorf("%s, %s: %w", f.cert, f.key, err)
		}
		return &c, nil
	}
	return nil, nil
}

// peerMaterial is what the client-certificate flags load: the certificate to present (nil: none) and the CAs
// that verify the server (nil: the system roots), read from caPath ("" for the system roots).
type peerMaterial struct {
	cert   *tls.Certificate
	cas    []*x509.Certificate
	caPath string
}

// load is the one loader of wsca client and wsca doctor --connect: the client certificate, then the CA bundle.
func (f *clientCertFlags) load(g *globals) (peerMaterial, error) {
	cert, err := f.clientCertificate(g)
	if err != nil {
		return peerMaterial{}, err
	}
	cas, caPath, err := f.cas(g)
	if err != nil {
		return peerMaterial{}, err
	}
	return peerMaterial{cert: cert, cas: cas, caPath: caPath}, nil
}

// cas returns the CA certificates of --ca, or of ca.crt in the CA directory when --ca is not given and the file
// exists; nil means the system roots.
func (f *clientCertFlags) cas(g *globals) ([]*x509.Certificate, string, error) {
	path := f.caFile
	if path == "" {
		path = filepath.Join(g.dir, cadir.BundleFile)
		if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
			return nil, "", nil
		}
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, "", fmt.Errorf("reading the CA bundle: %w", err)
	}
	certs, err := ca.ParseCertificates(data)
	if err != nil {
		return nil, "", fmt.Errorf("reading the CA bundle %s: %w", path, err)
	}
	return certs, path, nil
}

type clientOptions struct {
	clientCertFlags
	send       string
	every, dur time.Duration
}

func newClientCmd(g *globals) *cobra.Command {
	o := &clientOptions{}
	cmd := &cobra.Command{
		Use:   "client URL",
		Short: "open a WebSocket with a client certificate, send a message and print the echoes",
		Long: `Connect to a WebSocket server (wss://HOST:PORT/PATH) over TLS, presenting the client certificate
from --cert/--key or --p12, upgrade to a WebSocket, send --send and print every message received as
"< MESSAGE" on standard output.

With --every and --for, keep sending the message at that interval until --for has passed, then close
the session normally and exit 0. If the server closes the session first (for example wsca serve cutting
a certificate that was just revoked), exit 1 with one line naming why, such as
"the relay closed the session: 1008 revoked". Without --for, exit after the first echo.`,
		Example: `  $ wsca client wss://127.0.0.1:8443/ --cert alice.crt --key alice.key --ca pki/ca.crt --send hello
  < hello
  $ wsca client wss://relay.example.com/secure --p12 bob.p12 --p12-password-file pw --send ping --every 1s --for 1m
  < ping
  wsca: error: the relay closed the session: 1008 revoked`,
		Args: exactArgs(1, "a URL such as wss://127.0.0.1:8443/"),
		RunE: func(cmd *cobra.Command, args []string) error { return runClient(cmd.Context(), g, o, args[0]) },
	}
	o.register(cmd)
	f := cmd.Flags()
	f.StringVar(&o.send, "send", "", "message to send after connecting")
	f.DurationVar(&o.every, "every", 0, "send the message again at this interval (needs --for)")
	f.DurationVar(&o.dur, "for", 0, "keep the session open this long, then close it and exit 0")
	return cmd
}

func runClient(ctx context.Context, g *globals, o *clientOptions, rawURL string) error {
	u, err := url.Parse(rawURL)
	if err != nil || u.Host == "" {
		return usageError{fmt.Errorf("%q is not a URL like wss://127.0.0.1:8443/", rawURL)}
	}
	switch u.Scheme {
	case "wss", "ws", "https", "http":
	default:
		return usageError{fmt.Errorf("%q: the scheme must be wss:// (or ws://)", rawURL)}
	}
	if o.every < 0 || o.dur < 0 {
		return usageError{errors.New("--every and --for must not be negative")}
	}
	if o.every > 0 && o.dur == 0 {
		return usageError{errors.New("--every needs --for: the session must end")}
	}
	if o.every > 0 && o.send == "" {
		return usageError{errors.New("--every needs --send")}
	}
	m, err := o.load(g)
	if err != nil {
		return err
	}
	cert, caPath := m.cert, m.caPath
	tlsCfg := &tls.Config{ServerName: o.serverName, MinVersion: tls.VersionTLS12}
	if len(m.cas) > 0 {
		pool := x509.NewCertPool()
		for _, c := range m.cas {
			pool.AddCert(c)
		}
		tlsCfg.RootCAs = pool
	}
	if cert != nil {
		// Always present the certificate, even if the server's list of CAs does not name its issuer: the
		// server's refusal says more than a silent omission.
		tlsCfg.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return cert, nil }
	}
	if ctx == nil {
		ctx = context.Background()
	}
	err = wsclient.Session(ctx, rawURL, wsclient.SessionOptions{
		TLS:          tlsCfg,
		Message:      o.send,
		Every:        o.every,
		For:          o.dur,
		ReplyTimeout: o.timeout,
		OnMessage:    func(msg []byte) { fmt.Fprintf(g.env.stdout, "< %s\n", msg) },
	})
	if err != nil {
		return clientHint(err, u, &o.clientCertFlags, caPath)
	}
	return nil
}

// clientHint gives a failed session the next step, filled in with the host, port and files this run used. A
// close whose code already names the cause (1008 revoked, 1001 shutting down) needs none.
func clientHint(err error, u *url.URL, f *clientCertFlags, caPath string) error {
	var closed *wsclient.ClosedError
	if errors.As(err, &closed) && (closed.Code == 1008 || closed.Code == 1001) {
		return hintedError{err: err, hint: ""}
	}
	verifiedBy := "the system roots"
	if caPath != "" {
		verifiedBy = caPath
	}
	var unknownCA x509.UnknownAuthorityError
	if errors.As(err, &unknownCA) {
		return withHint(err, "the server's certificate is not signed by a CA in %s: pass --ca with the CA bundle that signed it, or set WSCA_DIR (--dir) to that CA's directory", verifiedBy)
	}
	hostPort := u.Host
	if u.Port() == "" {
		hostPort = net.JoinHostPort(u.Hostname(), map[bool]string{true: "443", false: "80"}[u.Scheme == "wss" || u.Scheme == "https"])
	}
	var certArgs string
	switch {
	case f.p12 != "":
		certArgs = fmt.Sprintf(" --p12 %s --p12-password-file %s", f.p12, f.p12PassFile)
	case f.cert != "":
		certArgs = fmt.Sprintf(" --cert %s --key %s", f.cert, f.key)
	}
	if caPath != "" {
		certArgs += " --ca " + caPath
	}
	if errors.Is(err, syscall.ECONNREFUSED) {
		return withHint(err, "nothing listens on %s: is wsca serve (or the web server) running, and is the port right?", hostPort)
	}
	return withHint(err, "wsca doctor --connect %s%s names the likely cause", hostPort, certArgs)
}
