package publish

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"testing"

	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"
	"golang.org/x/crypto/ocsp"
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
