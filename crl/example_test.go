package crl_test

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"sync/atomic"
	"time"

	"github.com/wsca/wsca/crl"
)

// Example_verifyConnection shows how a TLS server checks every client chain
// against the CRLs. VerifyConnection, unlike VerifyPeerCertificate, also runs
// on resumed sessions, so a revoked client cannot resume. The bundle sits
// behind an atomic.Pointer so a reload swaps it without locking handshakes.
func Example_verifyConnection() {
	var bundle atomic.Pointer[crl.Bundle]
	// load runs at start and on every reload. cas are the CA certificates the
	// server trusts (root and intermediate); in wsca they come from ca.crt.
	load := func(crlPEM []byte, cas []*x509.Certificate) error {
		crls, err := crl.Parse(crlPEM, cas)
		if err != nil {
			return fmt.Errorf("loading CRLs: %w", err)
		}
		bundle.Store(crl.NewBundle(crls))
		return nil
	}
	cfg := &tls.Config{
		ClientAuth: tls.RequireAndVerifyClientCert,
		VerifyConnection: func(cs tls.ConnectionState) error {
			for _, chain := range cs.VerifiedChains {
				if err := bundle.Load().CheckChain(chain, time.Now(), time.Hour); err != nil {
					var revoked *crl.RevokedError
					if errors.As(err, &revoked) {
						fmt.Fprintln(os.Stderr, "rejected:", revoked)
					}
					return err
				}
			}
			return nil
		},
	}
	_ = load
	_ = cfg
}
