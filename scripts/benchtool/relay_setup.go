//go:build linux

package main

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/wsca/wsca/ca"
)

// setup makes the PKI every peer uses: a wsca CA, a server certificate for 127.0.0.1, a valid client, a
// revoked client, one "victim" per peer and repetition for the revoke workload, and a CRL of ~10,000
// entries (synthetic revocations added through the store, as in the CA benchmark).
func (b *relayBench) setup() error {
	var err error
	if b.pass, err = newPassphraseFile(b.work); err != nil {
		return err
	}
	b.pki = pkiFiles{dir: filepath.Join(b.work, "pki")}
	b.certs = filepath.Join(b.work, "certs")
	if err := os.MkdirAll(b.certs, 0o700); err != nil {
		return err
	}
	if err := b.run(b.wscaCmd("init", "--name", "Relay Bench")...); err != nil {
		return err
	}
	if err := b.run(b.wscaCmd("issue", "relay", "--server", "--ip", "127.0.0.1", "--out", b.certs)...); err != nil {
		return err
	}
	if err := b.issueClients(); err != nil {
		return err
	}
	if err := b.fillCRL(); err != nil {
		return err
	}
	if err := b.writeServerPEM(); err != nil {
		return err
	}
	if err := b.clientConfigs(); err != nil {
		return err
	}
	b.logf("relay: PKI ready, CRL with %d entries", b.cfg.crlEntries)
	return nil
}

// issueClients issues, in one `wsca issue --from`, the client certificates the runs use: alice (valid),
// mallory (to be revoked), the sessions victims and one victim per peer and repetition.
func (b *relayBench) issueClients() error {
	var csv strings.Builder
	csv.WriteString("name\nalice\nmallory\n" + sessionsCutVictim + "\n" + sessionsCRLVictim + "\n")
	for _, p := range relayPeerNames {
		for rep := range b.cfg.reps {
			fmt.Fprintf(&csv, "victim-%s-%d\n", p, rep)
		}
	}
	csvPath := filepath.Join(b.work, "clients.csv")
	if err := os.WriteFile(csvPath, []byte(csv.String()), 0o600); err != nil {
		return err
	}
	return b.run(b.wscaCmd("issue", "--from", csvPath, "--out", b.certs)...)
}

// fillCRL fills the database with cfg.crlEntries-1 synthetic revocations (each carrying alice's DER),
// revokes mallory for real and writes crl.pem, so the relays load a CRL of cfg.crlEntries entries.
func (b *relayBench) fillCRL() error {
	leaf, err := os.ReadFile(filepath.Join(b.certs, "alice.crt"))
	if err != nil {
		return err
	}
	certs, err := ca.ParseCertificates(leaf)
	if err != nil {
		return err
	}
	if _, err := populate(filepath.Join(b.pki.dir, "wsca.db"), filepath.Join(b.work, "index.txt"), b.cfg.crlEntries-1,
		certs[0].Raw, time.Now()); err != nil {
		return err
	}
	if err := b.run(b.wscaCmd("revoke", "mallory", "--reason", "keyCompromise")...); err != nil {
		return err
	}
	return b.run(b.wscaCmd("crl")...)
}

// writeServerPEM sets the PKI paths the peers are configured with and writes relay.pem, the server
// certificate followed by its key, for the peers (haproxy) that want both in one file.
func (b *relayBench) writeServerPEM() error {
	b.pki.serverCert = filepath.Join(b.certs, "relay.crt")
	b.pki.serverKey = filepath.Join(b.certs, "relay.key")
	b.pki.caBundle = filepath.Join(b.pki.dir, "ca.crt")
	b.pki.crl = filepath.Join(b.pki.dir, "crl.pem")
	b.pki.serverPEM = filepath.Join(b.certs, "relay.pem")
	crt, err := os.ReadFile(b.pki.serverCert)
	if err != nil {
		return err
	}
	key, err := os.ReadFile(b.pki.serverKey)
	if err != nil {
		return err
	}
	return os.WriteFile(b.pki.serverPEM, append(crt, key...), 0o600)
}

// clientConfigs builds the three client TLS configurations the runs dial with, all trusting root.crt:
// b.valid (alice), b.revoked (mallory) and b.noCert (no client certificate).
func (b *relayBench) clientConfigs() error {
	root, err := os.ReadFile(filepath.Join(b.pki.dir, "root.crt"))
	if err != nil {
		return err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(root) {
		return errors.New("root.crt holds no certificate")
	}
	base := &tls.Config{RootCAs: pool, ServerName: "127.0.0.1", MinVersion: tls.VersionTLS12}
	if b.valid, err = b.clientTLS(base, "alice"); err != nil {
		return err
	}
	if b.revoked, err = b.clientTLS(base, "mallory"); err != nil {
		return err
	}
	b.noCert = base.Clone()
	return nil
}

func (b *relayBench) clientTLS(base *tls.Config, name string) (*tls.Config, error) {
	cert, err := tls.LoadX509KeyPair(filepath.Join(b.certs, name+".crt"), filepath.Join(b.certs, name+".key"))
	if err != nil {
		return nil, err
	}
	c := base.Clone()
	c.Certificates = []tls.Certificate{cert}
	return c, nil
}
