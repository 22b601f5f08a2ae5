package interop_test

import (
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"math/big"
	"os"
	"testing"
	"time"

	"github.com/wsca/wsca/ca"
)

// TestExpiredCRL shows that the three servers fail closed when crl.pem has expired (nextUpdate in the
// past, what happens when wsca crl stops running from cron): even a valid, unrevoked client is refused.
func TestExpiredCRL(t *testing.T) {
	for _, tc := range []struct {
		server string
		start  func(t *testing.T, block string, port int) *server
	}{
		{"apache", startApache},
		{"nginx", startNginx},
		{"haproxy", startHAProxy},
	} {
		t.Run(tc.server, func(t *testing.T) {
			p := newPKI(t, "Expired "+tc.server)
			writeExpiredCRL(t, p)
			backend := newBackend(t)
			port := freePort(t)
			block := p.wsca("config", tc.server, "--cert", p.file("srv.crt"),
				"--listen", fmt.Sprintf("127.0.0.1:%d", port), "--backend", backend.URL)
			srv := tc.start(t, block, port)
			expectRejected(t, "alice (valid) with an expired intermediate CRL", client{addr: srv.addr, roots: p.roots(), cert: p.cert("alice")}, "/headers")
		})
	}
}

// writeExpiredCRL replaces crl.pem with an intermediate CRL whose nextUpdate passed an hour ago, followed by
// the root's (still valid) CRL, signed with the intermediate's real key.
func writeExpiredCRL(t *testing.T, p *pki) {
	t.Helper()
	read := func(name string) []byte {
		data, err := os.ReadFile(p.caFile(name))
		if err != nil {
			t.Fatal(err)
		}
		return data
	}
	certs, err := ca.ParseCertificates(read("intermediate.crt"))
	if err != nil {
		t.Fatal(err)
	}
	key, err := ca.ParseKey(read("intermediate.key"), []byte("interop test passphrase"))
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	der, err := x509.CreateRevocationList(rand.Reader, &x509.RevocationList{
		Number: big.NewInt(1 << 20), ThisUpdate: now.Add(-2 * time.Hour), NextUpdate: now.Add(-time.Hour),
	}, certs[0], key)
	if err != nil {
		t.Fatal(err)
	}
	_, rest := pem.Decode(read("crl.pem")) // skip the intermediate's current CRL, keep the root's
	out := append(pem.EncodeToMemory(&pem.Block{Type: "X509 CRL", Bytes: der}), rest...)
	writeFile(t, p.caFile("crl.pem"), string(out))
}
