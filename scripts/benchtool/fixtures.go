//go:build linux

package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"iter"
	"math/big"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/wsca/wsca/crl"
	"github.com/wsca/wsca/store"
)

// opensslConf is an `openssl ca` configuration for the same intermediate CA that wsca uses, with the
// profile wsca gives client certificates (RFC 5280 §4.2: CA:FALSE, digitalSignature, clientAuth, SKI/AKI)
// and 128-bit random serials like wsca's. default_crl_days matches wsca crl's 7-day default.
const opensslConf = `[ ca ]
default_ca = bench
[ bench ]
dir = %[1]s
database = $dir/index.txt
new_certs_dir = $dir/new
certificate = %[2]s
private_key = %[3]s
rand_serial = yes
crlnumber = $dir/crlnumber
default_md = sha256
default_days = 365
default_crl_days = 7
policy = pol
unique_subject = no
x509_extensions = client_ext
crl_extensions = crl_ext
copy_extensions = none
[ pol ]
commonName = supplied
[ client_ext ]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = clientAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
[ crl_ext ]
authorityKeyIdentifier = keyid:always
`

// newOpenSSLCA creates dir as a fresh `openssl ca` directory (empty index.txt, CRL number 01) signing with
// certFile/keyFile, and returns the path of its ca.cnf.
func newOpenSSLCA(dir, certFile, keyFile string) (string, error) {
	if err := os.MkdirAll(filepath.Join(dir, "new"), 0o700); err != nil {
		return "", fmt.Errorf("creating %s: %w", dir, err)
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", err
	}
	files := map[string]string{
		"ca.cnf":         fmt.Sprintf(opensslConf, abs, certFile, keyFile),
		"index.txt":      "",
		"index.txt.attr": "unique_subject = no\n",
		"crlnumber":      "01\n",
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600); err != nil {
			return "", fmt.Errorf("writing %s: %w", name, err)
		}
	}
	return filepath.Join(abs, "ca.cnf"), nil
}

// serials returns n distinct positive 128-bit serials in ascending order, as wsca draws them (random, not
// sequential), from a fixed seed so that every run revokes the same set.
func serials(n int, seed uint64) []*big.Int {
	rnd := rand.New(rand.NewPCG(seed, 0x5ca1ab1e))
	keys := make([][16]byte, n)
	for i := range keys {
		hi, lo := rnd.Uint64()|1<<62, rnd.Uint64() // bit 126 set: always 16 octets, never the sign bit
		hi &^= 1 << 63
		for j := range 8 {
			keys[i][j] = byte(hi >> (56 - 8*j))
			keys[i][8+j] = byte(lo >> (56 - 8*j))
		}
	}
	slices.SortFunc(keys, func(a, b [16]byte) int { return bytes.Compare(a[:], b[:]) })
	keys = slices.Compact(keys)
	out := make([]*big.Int, len(keys))
	for i := range keys {
		out[i] = new(big.Int).SetBytes(keys[i][:])
	}
	return out
}

// benchReasons are the reasons the fixtures cycle through (RFC 5280 §5.3.1), named as OpenSSL's index.txt
// spells them.
var benchReasons = []store.Reason{store.KeyCompromise, store.Superseded, store.CessationOfOperation, store.AffiliationChanged}

// opensslTime is the UTCTime form index.txt uses (YYMMDDHHMMSSZ).
func opensslTime(t time.Time) string { return t.UTC().Format("060102150405") + "Z" }

// opensslSerial is a serial as index.txt holds it: upper-case hex with an even number of digits.
func opensslSerial(n *big.Int) string {
	s := strings.ToUpper(n.Text(16))
	if len(s)%2 == 1 {
		s = "0" + s
	}
	return s
}

// populate adds n revoked client certificates to the wsca database at dbPath, 10,000 per transaction in
// serial order (store's fast path), and writes the same revocations as an OpenSSL index.txt. The records
// are synthetic: every one carries der, one real certificate issued by the CA, as its DER (wsca crl reads
// only the serial, revocation time, reason and NotAfter). It returns the number of records added.
func populate(dbPath, indexPath string, n int, der []byte, now time.Time) (int, error) {
	st, err := store.Open(dbPath, store.Options{Timeout: 10 * time.Second})
	if err != nil {
		return 0, err
	}
	defer st.Close()
	f, err := os.Create(indexPath)
	if err != nil {
		return 0, fmt.Errorf("creating %s: %w", indexPath, err)
	}
	defer f.Close()
	w := bufio.NewWriterSize(f, 1<<20)

	sum := sha256.Sum256(der)
	fp := hex.EncodeToString(sum[:])
	now = now.UTC().Truncate(time.Second)
	notBefore, notAfter, revokedAt := now.Add(-2*time.Hour), now.Add(365*24*time.Hour), now.Add(-time.Hour)
	ser := serials(n, uint64(n))
	const batchSize = 10_000
	for start := 0; start < len(ser); start += batchSize {
		batch := make([]store.Record, 0, batchSize)
		for i := start; i < min(start+batchSize, len(ser)); i++ {
			name := "u" + strconv.Itoa(i)
			reason := benchReasons[i%len(benchReasons)]
			batch = append(batch, store.Record{
				Serial: ser[i], Name: name, Kind: "client", Subject: "CN=" + name,
				NotBefore: notBefore, NotAfter: notAfter, FingerprintSHA256: fp, DER: der,
				IssuedAt: notBefore, IssuedBy: "bench",
				Revocation: &store.Revocation{At: revokedAt, Reason: reason, By: "bench"},
			})
			fmt.Fprintf(w, "R\t%s\t%s,%s\t%s\tunknown\t/CN=%s\n",
				opensslTime(notAfter), opensslTime(revokedAt), reason, opensslSerial(ser[i]), name)
		}
		if err := st.Add(batch...); err != nil {
			return 0, fmt.Errorf("populating %s: %w", dbPath, err)
		}
	}
	if err := w.Flush(); err != nil {
		return 0, fmt.Errorf("writing %s: %w", indexPath, err)
	}
	if err := f.Close(); err != nil {
		return 0, fmt.Errorf("writing %s: %w", indexPath, err)
	}
	return len(ser), st.Close()
}

// entries yields n revocations for crl.Build, the same serials populate would record.
func entries(n int, at time.Time) iter.Seq[crl.Entry] {
	return func(yield func(crl.Entry) bool) {
		for i, s := range serials(n, uint64(n)) {
			if !yield(crl.Entry{Serial: s, RevokedAt: at, Reason: int(benchReasons[i%len(benchReasons)])}) {
				return
			}
		}
	}
}

// runFixture creates a CA directory holding n revoked certificates, for profiling `wsca crl` by hand:
//
//	benchtool crl-fixture -wsca BIN -dir DIR -n 1000000
//	wsca --dir DIR/pki --passphrase-file DIR/ca.pass crl
func runFixture(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("crl-fixture", flag.ContinueOnError)
	wsca := fs.String("wsca", "", "wsca binary")
	dir := fs.String("dir", "", "directory to create (pki/, ca.pass, index.txt)")
	n := fs.Int("n", 1_000_000, "revoked certificates")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *wsca == "" || *dir == "" || *n < 1 || *n > 5_000_000 {
		return errors.New("-wsca and -dir are required, -n between 1 and 5,000,000")
	}
	b := &caBench{wsca: *wsca, work: *dir, ctx: context.Background()}
	if err := b.setup(); err != nil {
		return err
	}
	got, err := populate(filepath.Join(b.tmpl, "wsca.db"), filepath.Join(*dir, "index.txt"), *n, b.leafDER, time.Now())
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(stdout, "%d revocations in %s\nrun: %s\n", got, b.tmpl, strings.Join(b.wscaCmd(b.tmpl, "crl"), " "))
	return err
}
