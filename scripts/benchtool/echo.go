//go:build linux

package main

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/wsca/wsca/ca"
	"github.com/wsca/wsca/crl"
)

// runEcho serves WebSocket echo on a loopback address until SIGTERM: plain, as the backend every relay
// forwards to, or — with -cert — over mutual TLS as the "direct" peer, the physical limit of this machine:
// client certificate required, verified to the root through the intermediate (depth 2), and checked against
// the CRLs with the same O(1) set the relay uses.
func runEcho(args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("echo", flag.ContinueOnError)
	listen := fs.String("listen", "127.0.0.1:0", "loopback address, or a comma-separated list of them (plain echo only)")
	certFile := fs.String("cert", "", "server certificate (leaf + intermediate): serve TLS")
	keyFile := fs.String("key", "", "server key")
	caFile := fs.String("ca", "", "client CA bundle (intermediate + root)")
	crlFile := fs.String("crl", "", "CRL file (one CRL per CA)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	addrs := strings.Split(*listen, ",")
	for _, a := range addrs {
		ap, err := netip.ParseAddrPort(a)
		if err != nil || !ap.Addr().IsLoopback() {
			return fmt.Errorf("-listen %q: loopback addresses only", a)
		}
	}
	if len(addrs) > 1 && *certFile != "" {
		return errors.New("-listen: one address only with -cert")
	}
	// Every address past the first is served by its own accept loop; the first one's loop is this function's.
	for _, a := range addrs[1:] {
		ln, err := net.Listen("tcp", a)
		if err != nil {
			return err
		}
		go func() { _ = serveEcho(ln, stderr) }()
	}
	ln, err := net.Listen("tcp", addrs[0])
	if err != nil {
		return err
	}
	if *certFile != "" {
		conf, err := directTLS(*certFile, *keyFile, *caFile, *crlFile)
		if err != nil {
			return err
		}
		ln = tls.NewListener(ln, conf)
	}
	go func() {
		sig := make(chan os.Signal, 1)
		signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
		<-sig
		ln.Close()
	}()
	return serveEcho(ln, stderr)
}

// serveEcho answers WebSocket upgrades on ln with an echo until ln is closed.
func serveEcho(ln net.Listener, stderr io.Writer) error {
	for {
		c, err := ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return nil
			}
			fmt.Fprintf(stderr, "echo: accept: %v\n", err)
			time.Sleep(10 * time.Millisecond) // e.g. out of file descriptors: do not spin
			continue
		}
		go func() {
			defer c.Close()
			ws, err := acceptWS(c)
			if err != nil {
				return
			}
			_ = ws.echo()
		}()
	}
}

// directTLS is the mTLS configuration of the direct peer: TLS 1.2+, the client certificate asked for and
// verified in VerifyConnection (which also runs on resumed sessions) to the root through the intermediate,
// at most two CAs above the leaf, clientAuth EKU, then the chain checked against the CRLs.
func directTLS(certFile, keyFile, caFile, crlFile string) (*tls.Config, error) {
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, err
	}
	data, err := os.ReadFile(caFile)
	if err != nil {
		return nil, err
	}
	cas, err := ca.ParseCertificates(data)
	if err != nil {
		return nil, err
	}
	roots, inters := x509.NewCertPool(), x509.NewCertPool()
	for _, c := range cas {
		if c.CheckSignatureFrom(c) == nil {
			roots.AddCert(c)
		} else {
			inters.AddCert(c)
		}
	}
	crlData, err := os.ReadFile(crlFile)
	if err != nil {
		return nil, err
	}
	crls, err := crl.Parse(crlData, cas)
	if err != nil {
		return nil, err
	}
	bundle := crl.NewBundle(crls)
	return &tls.Config{
		MinVersion:   tls.VersionTLS12,
		Certificates: []tls.Certificate{cert},
		ClientAuth:   tls.RequireAnyClientCert,
		VerifyConnection: func(cs tls.ConnectionState) error {
			if len(cs.PeerCertificates) == 0 {
				return errors.New("no client certificate")
			}
			chains, err := cs.PeerCertificates[0].Verify(x509.VerifyOptions{
				Roots: roots, Intermediates: inters, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
			})
			if err != nil {
				return err
			}
			if len(chains[0]) > 3 {
				return errors.New("chain deeper than 2 CAs")
			}
			return bundle.CheckChain(chains[0], time.Now(), 0)
		},
	}, nil
}
