package publish

import (
	"bytes"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"
	"golang.org/x/crypto/ocsp"

	"github.com/wsca/wsca/internal/cadir"
	"github.com/wsca/wsca/store"
)

// BenchmarkOCSPHandler: POST /ocsp through the publisher's handler (no network): the pre-signed answer
// nginx and openssl ocsp -no_nonce get, against the answer with a nonce that Apache asks for by default.
func BenchmarkOCSPHandler(b *testing.B) {
	f := newFixture(b)
	plain, err := ocsp.CreateRequest(f.alice, f.inter, nil)
	if err != nil {
		b.Fatal(err)
	}
	nonced := appendNonce(plain)
	h := f.srv.Handler()
	for _, c := range []struct {
		name string
		req  []byte
	}{{"presigned", plain}, {"nonce", nonced}} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				w := httptest.NewRecorder()
				h.ServeHTTP(w, httptest.NewRequest(http.MethodPost, "/ocsp", bytes.NewReader(c.req)))
				if w.Code != 200 || w.Body.Len() < 100 {
					b.Fatalf("%d %x", w.Code, w.Body.Bytes())
				}
			}
		})
	}
}

// appendNonce re-encodes an x/crypto/ocsp request (which has no extensions) with a 16-octet nonce, as
// OpenSSL and Apache send it.
func appendNonce(req []byte) []byte {
	in := cryptobyte.String(req)
	var outer, tbs, list cryptobyte.String
	if !in.ReadASN1(&outer, cbasn1.SEQUENCE) || !outer.ReadASN1(&tbs, cbasn1.SEQUENCE) || !tbs.ReadASN1Element(&list, cbasn1.SEQUENCE) {
		panic("malformed request")
	}
	var b cryptobyte.Builder
	b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
		b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
			b.AddBytes(list)
			b.AddASN1(cbasn1.Tag(2).Constructed().ContextSpecific(), func(b *cryptobyte.Builder) {
				b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
					b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
						b.AddBytes([]byte{0x06, 0x09, 0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x30, 0x01, 0x02})
						b.AddASN1OctetString(append([]byte{0x04, 0x10}, bytes.Repeat([]byte{7}, 16)...))
					})
				})
			})
		})
	})
	return b.BytesOrPanic()
}

// BenchmarkLoadDB measures one read of wsca.db after a change — the time the publisher holds the shared
// lock that makes wsca issue/revoke wait — with 100,000 certificates of which 10,000 are revoked.
func BenchmarkLoadDB(b *testing.B) {
	f := newFixture(b)
	st, err := store.Open(f.d.File(cadir.DBFile), store.Options{Timeout: time.Second})
	if err != nil {
		b.Fatal(err)
	}
	const n = 100_000
	t0 := time.Now().Add(-time.Hour)
	recs := make([]store.Record, 0, 1000)
	for i := range n {
		serial := new(big.Int).SetUint64(uint64(i)*7919 + 1<<40)
		recs = append(recs, store.Record{Serial: serial, Name: "u" + strconv.Itoa(i), Kind: "client", Subject: "CN=u",
			NotBefore: t0, NotAfter: t0.Add(24 * time.Hour), FingerprintSHA256: strings.Repeat("ab", 32), DER: []byte{0x30, 0},
			IssuedAt: t0, IssuedBy: "bench"})
		if len(recs) == cap(recs) {
			if err := st.Add(recs...); err != nil {
				b.Fatal(err)
			}
			recs = recs[:0]
		}
	}
	for i := 0; i < n; i += 10 {
		serial := new(big.Int).SetUint64(uint64(i)*7919 + 1<<40)
		if _, err := st.Revoke(serial, store.Revocation{At: t0, Reason: store.KeyCompromise, By: "bench"}); err != nil {
			b.Fatal(err)
		}
	}
	st.Close()
	b.ResetTimer()
	var held time.Duration
	for b.Loop() {
		if !f.srv.loadDB(stamp{ok: true}) {
			b.Fatal("database locked")
		}
		held += time.Duration(f.srv.metrics.dbHeld.Load())
	}
	b.ReportMetric(float64(held.Milliseconds())/float64(b.N), "ms-held/op")
}
