package ocspresp

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"testing"
	"time"

	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"
	"golang.org/x/crypto/ocsp"

	"github.com/wsca/wsca/ca"
)

// testCA is a hierarchy with alice and bob (issued), a signer, and a responder.
type testCA struct {
	h          *ca.Hierarchy
	alice, bob *x509.Certificate
	signer     *Signer
	r          *Responder
	now        time.Time
}

func newTestCA(t testing.TB, name string) *testCA {
	t.Helper()
	now := time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)
	h, err := ca.NewHierarchy(rand.Reader, now, ca.HierarchyRequest{Name: name})
	if err != nil {
		t.Fatal(err)
	}
	tc := &testCA{h: h, now: now}
	issue := func(cn string) *x509.Certificate {
		key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		c, err := ca.Issue(rand.Reader, now, h.Intermediate, ca.LeafRequest{Subject: pkix.Name{CommonName: cn}, PublicKey: key.Public()})
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	tc.alice, tc.bob = issue("alice"), issue("bob")
	skey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	scert, err := ca.IssueOCSPSigner(rand.Reader, now, h.Intermediate, 24*time.Hour, skey.Public())
	if err != nil {
		t.Fatal(err)
	}
	if tc.signer, err = NewSigner(scert, skey); err != nil {
		t.Fatal(err)
	}
	tc.r, err = New(Config{Issuer: h.Intermediate.Cert, Now: func() time.Time { return tc.now }})
	if err != nil {
		t.Fatal(err)
	}
	if err := tc.r.SetSigner(tc.signer); err != nil {
		t.Fatal(err)
	}
	tc.r.SetSnapshot(tc.snapshot(nil))
	return tc
}

// snapshot has alice and bob issued and the given certificates revoked (keyCompromise).
func (tc *testCA) snapshot(revoked map[*x509.Certificate]int) *Snapshot {
	s := NewSnapshot(2)
	s.AddIssued(tc.alice.SerialNumber.Bytes())
	s.AddIssued(tc.bob.SerialNumber.Bytes())
	for c, reason := range revoked {
		s.AddRevoked(c.SerialNumber.Bytes(), Revocation{At: tc.now.Add(-time.Minute), Reason: reason})
	}
	return s
}

func (tc *testCA) request(t testing.TB, cert *x509.Certificate, h crypto.Hash) []byte {
	t.Helper()
	req, err := ocsp.CreateRequest(cert, tc.h.Intermediate.Cert, &ocsp.RequestOptions{Hash: h})
	if err != nil {
		t.Fatal(err)
	}
	return req
}

func (tc *testCA) parse(t testing.TB, resp []byte, cert *x509.Certificate) *ocsp.Response {
	t.Helper()
	r, err := ocsp.ParseResponseForCert(resp, cert, tc.h.Intermediate.Cert)
	if err != nil {
		t.Fatalf("parsing response: %v", err)
	}
	if !r.Certificate.Equal(tc.signer.Cert) {
		t.Fatal("response does not embed the signer certificate")
	}
	return r
}

func TestRespondStatuses(t *testing.T) {
	tc := newTestCA(t, "Resp")
	tc.r.SetSnapshot(tc.snapshot(map[*x509.Certificate]int{tc.bob: 1}))
	unknown := *tc.alice
	unknown.SerialNumber = big.NewInt(424242)
	for _, c := range []struct {
		name   string
		cert   *x509.Certificate
		hash   crypto.Hash
		status int
	}{
		{"good sha1", tc.alice, crypto.SHA1, ocsp.Good},
		{"good sha256", tc.alice, crypto.SHA256, ocsp.Good},
		{"good sha384", tc.alice, crypto.SHA384, ocsp.Good},
		{"good sha512", tc.alice, crypto.SHA512, ocsp.Good},
		{"revoked", tc.bob, crypto.SHA1, ocsp.Revoked},
		{"never issued", &unknown, crypto.SHA1, ocsp.Unknown},
	} {
		t.Run(c.name, func(t *testing.T) {
			resp, res := tc.r.Respond(tc.request(t, c.cert, c.hash))
			if res.Status != Successful {
				t.Fatalf("status %d: %s", res.Status, res.Reason)
			}
			r := tc.parse(t, resp, c.cert)
			if r.Status != c.status {
				t.Fatalf("status %d, want %d", r.Status, c.status)
			}
			if got := r.NextUpdate.Sub(r.ThisUpdate); got != DefaultValidity {
				t.Fatalf("validity %v, want %v", got, DefaultValidity)
			}
			if c.status == ocsp.Revoked && (r.RevocationReason != 1 || !r.RevokedAt.Equal(tc.now.Add(-time.Minute))) {
				t.Fatalf("revoked at %v reason %d", r.RevokedAt, r.RevocationReason)
			}
		})
	}
}

func TestRespondErrors(t *testing.T) {
	tc := newTestCA(t, "Resp")
	other := newTestCA(t, "Other")
	rootIssued, err := ocsp.CreateRequest(tc.h.Intermediate.Cert, tc.h.Root.Cert, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		req  []byte
		want ResponseStatus
	}{
		{"another CA", other.request(t, other.alice, crypto.SHA1), Unauthorized},
		{"certificate issued by the root", rootIssued, Unauthorized},
		{"garbage", []byte("hello"), MalformedRequest},
		{"empty", nil, MalformedRequest},
		{"trailing byte", append(tc.request(t, tc.alice, crypto.SHA1), 0), MalformedRequest},
		{"huge", bytes.Repeat([]byte{0x30}, 10<<20), MalformedRequest},
		{"nonce too long", withNonce(t, tc.request(t, tc.alice, crypto.SHA1), bytes.Repeat([]byte{1}, 33)), MalformedRequest},
		{"empty nonce", withNonce(t, tc.request(t, tc.alice, crypto.SHA1), []byte{0x04, 0x00}), MalformedRequest},
		{"33 certificates", requestOf(t, 33, tc.request(t, tc.alice, crypto.SHA1), nil), MalformedRequest},
		{"unknown critical extension", requestOf(t, 1, tc.request(t, tc.alice, crypto.SHA1), []byte{0x06, 0x03, 0x2a, 0x03, 0x04}), MalformedRequest},
	} {
		t.Run(c.name, func(t *testing.T) {
			resp, res := tc.r.Respond(c.req)
			if res.Status != c.want {
				t.Fatalf("status %d (%s), want %d", res.Status, res.Reason, c.want)
			}
			_, err := ocsp.ParseResponse(resp, nil)
			if err == nil {
				t.Fatal("x/crypto/ocsp parsed an error response as success")
			}
			if want := ErrorResponse(c.want); !bytes.Equal(resp, want) {
				t.Fatalf("response %x, want %x", resp, want)
			}
		})
	}
}

func TestRespondWithoutSigner(t *testing.T) {
	tc := newTestCA(t, "Resp")
	if err := tc.r.SetSigner(nil); err != nil {
		t.Fatal(err)
	}
	if _, res := tc.r.Respond(tc.request(t, tc.alice, crypto.SHA1)); res.Status != TryLater {
		t.Fatalf("no signer: status %d, want tryLater", res.Status)
	}
	tc.now = tc.signer.Cert.NotAfter.Add(-time.Minute)
	_ = tc.r.SetSigner(tc.signer)
	resp, res := tc.r.Respond(tc.request(t, tc.alice, crypto.SHA1))
	if r := tc.parse(t, resp, tc.alice); res.Status != Successful || !r.NextUpdate.Equal(tc.signer.Cert.NotAfter) {
		t.Fatalf("a minute before the signer expires: status %d, nextUpdate %v, want the signer's NotAfter %v", res.Status, r.NextUpdate, tc.signer.Cert.NotAfter)
	}
	tc.now = tc.signer.Cert.NotAfter.Add(time.Second)
	if _, res := tc.r.Respond(tc.request(t, tc.alice, crypto.SHA1)); res.Status != TryLater {
		t.Fatalf("expired signer: status %d, want tryLater", res.Status)
	}
	other := newTestCA(t, "Other")
	if err := tc.r.SetSigner(other.signer); err == nil {
		t.Fatal("a signer of another CA was accepted")
	}
}

// TestNonceEchoed: the response carries the request's nonce extension, byte for byte, in its
// responseExtensions (Apache's default SSLOCSPUseRequestNonce refuses a response without it).
func TestNonceEchoed(t *testing.T) {
	tc := newTestCA(t, "Resp")
	nonce := []byte{0x04, 0x10, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}
	for i := 0; i < 2; i++ {
		resp, res := tc.r.Respond(withNonce(t, tc.request(t, tc.alice, crypto.SHA1), nonce))
		if res.Status != Successful || res.Cached || !res.Nonce {
			t.Fatalf("result %+v", res)
		}
		r := tc.parse(t, resp, tc.alice)
		if got := responseNonce(t, r.TBSResponseData); !bytes.Equal(got, nonce) {
			t.Fatalf("nonce %x, want %x", got, nonce)
		}
	}
	resp, _ := tc.r.Respond(tc.request(t, tc.alice, crypto.SHA1))
	if got := responseNonce(t, tc.parse(t, resp, tc.alice).TBSResponseData); got != nil {
		t.Fatalf("nonce %x in a response to a request without one", got)
	}
}

// TestCacheAndChange: a nonce-less request is answered from the cache (same bytes, no signature) until the
// status changes; SetSnapshot re-signs it at once; half-way to nextUpdate it is re-signed.
func TestCacheAndChange(t *testing.T) {
	tc := newTestCA(t, "Resp")
	req := tc.request(t, tc.bob, crypto.SHA1)
	first, res := tc.r.Respond(req)
	if res.Cached {
		t.Fatal("first answer came from the cache")
	}
	again, res := tc.r.Respond(req)
	if !res.Cached || !bytes.Equal(first, again) {
		t.Fatal("second answer was signed again")
	}
	tc.r.SetSnapshot(tc.snapshot(map[*x509.Certificate]int{tc.bob: 0}))
	revoked, res := tc.r.Respond(req)
	if !res.Cached {
		t.Fatal("SetSnapshot did not re-sign the changed response")
	}
	if r := tc.parse(t, revoked, tc.bob); r.Status != ocsp.Revoked || r.RevocationReason != ocsp.Unspecified {
		t.Fatalf("after revocation: status %d reason %d", r.Status, r.RevocationReason)
	}
	tc.now = tc.now.Add(DefaultValidity/2 + time.Second)
	later, res := tc.r.Respond(req)
	if res.Cached || bytes.Equal(later, revoked) {
		t.Fatal("a response half-way to its nextUpdate was served from the cache")
	}
	if r := tc.parse(t, later, tc.bob); !r.ThisUpdate.Equal(tc.now) {
		t.Fatalf("thisUpdate %v, want %v", r.ThisUpdate, tc.now)
	}
}

// withNonce re-encodes an x/crypto/ocsp request with a nonce extension whose extnValue is value.
func withNonce(t testing.TB, req, value []byte) []byte {
	t.Helper()
	in := cryptobyte.String(req)
	var outer, tbs, version, list cryptobyte.String
	if !in.ReadASN1(&outer, cbasn1.SEQUENCE) || !outer.ReadASN1(&tbs, cbasn1.SEQUENCE) {
		t.Fatal("bad request")
	}
	_ = version
	if !tbs.ReadASN1Element(&list, cbasn1.SEQUENCE) {
		t.Fatal("bad request list")
	}
	var b cryptobyte.Builder
	b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
		b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
			b.AddBytes(list)
			b.AddASN1(cbasn1.Tag(2).Constructed().ContextSpecific(), func(b *cryptobyte.Builder) {
				b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
					b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
						b.AddASN1ObjectIdentifier(oidNonce)
						b.AddASN1OctetString(value)
					})
				})
			})
		})
	})
	return b.BytesOrPanic()
}

// requestOf re-encodes a one-certificate request with its entry repeated n times and, if criticalOID (a DER
// OBJECT IDENTIFIER) is given, a critical request extension of that type.
func requestOf(t testing.TB, n int, req, criticalOID []byte) []byte {
	t.Helper()
	in := cryptobyte.String(req)
	var outer, tbs, list, entry cryptobyte.String
	if !in.ReadASN1(&outer, cbasn1.SEQUENCE) || !outer.ReadASN1(&tbs, cbasn1.SEQUENCE) ||
		!tbs.ReadASN1(&list, cbasn1.SEQUENCE) || !list.ReadASN1Element(&entry, cbasn1.SEQUENCE) {
		t.Fatal("bad request")
	}
	var b cryptobyte.Builder
	b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
		b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
			b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
				for range n {
					b.AddBytes(entry)
				}
			})
			if criticalOID != nil {
				b.AddASN1(cbasn1.Tag(2).Constructed().ContextSpecific(), func(b *cryptobyte.Builder) {
					b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
						b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
							b.AddBytes(criticalOID)
							b.AddASN1Boolean(true)
							b.AddASN1OctetString([]byte{0x05, 0x00})
						})
					})
				})
			}
		})
	})
	return b.BytesOrPanic()
}

// TestSeveralCertificates: a request about two certificates gets one response with both statuses, and 32
// (the limit) are still answered.
func TestSeveralCertificates(t *testing.T) {
	tc := newTestCA(t, "Resp")
	for _, n := range []int{2, 32} {
		resp, res := tc.r.Respond(requestOf(t, n, tc.request(t, tc.alice, crypto.SHA1), nil))
		if res.Status != Successful {
			t.Fatalf("%d certificates: status %d (%s)", n, res.Status, res.Reason)
		}
		// x/crypto/ocsp reads only single-certificate responses: count the SingleResponses by hand.
		if got := countSingles(t, resp); got != n {
			t.Fatalf("%d certificates: %d SingleResponses", n, got)
		}
	}
}

// countSingles returns the number of SingleResponses in a successful DER OCSPResponse.
func countSingles(t testing.TB, resp []byte) int {
	t.Helper()
	in := cryptobyte.String(resp)
	var r, rb, basicSeq, basic, tbs, singles cryptobyte.String
	var basicOctets []byte
	if !in.ReadASN1(&r, cbasn1.SEQUENCE) || !r.SkipASN1(cbasn1.ENUM) ||
		!r.ReadASN1(&rb, cbasn1.Tag(0).Constructed().ContextSpecific()) || !rb.ReadASN1(&basicSeq, cbasn1.SEQUENCE) ||
		!basicSeq.SkipASN1(cbasn1.OBJECT_IDENTIFIER) || !basicSeq.ReadASN1Bytes(&basicOctets, cbasn1.OCTET_STRING) {
		t.Fatal("malformed OCSPResponse")
	}
	bs := cryptobyte.String(basicOctets)
	if !bs.ReadASN1(&basic, cbasn1.SEQUENCE) || !basic.ReadASN1(&tbs, cbasn1.SEQUENCE) ||
		!tbs.SkipASN1(cbasn1.Tag(2).Constructed().ContextSpecific()) || !tbs.SkipASN1(cbasn1.GeneralizedTime) ||
		!tbs.ReadASN1(&singles, cbasn1.SEQUENCE) {
		t.Fatal("malformed BasicOCSPResponse")
	}
	n := 0
	for !singles.Empty() {
		if !singles.SkipASN1(cbasn1.SEQUENCE) {
			t.Fatal("malformed SingleResponse")
		}
		n++
	}
	return n
}

// responseNonce returns the nonce extnValue in a ResponseData, or nil.
func responseNonce(t testing.TB, tbsDER []byte) []byte {
	t.Helper()
	in := cryptobyte.String(tbsDER)
	var tbs, exts cryptobyte.String
	var has bool
	if !in.ReadASN1(&tbs, cbasn1.SEQUENCE) ||
		!tbs.SkipOptionalASN1(cbasn1.Tag(0).Constructed().ContextSpecific()) ||
		!tbs.SkipASN1(cbasn1.Tag(2).Constructed().ContextSpecific()) ||
		!tbs.SkipASN1(cbasn1.GeneralizedTime) || !tbs.SkipASN1(cbasn1.SEQUENCE) ||
		!tbs.ReadOptionalASN1(&exts, &has, cbasn1.Tag(1).Constructed().ContextSpecific()) {
		t.Fatal("malformed ResponseData")
	}
	if !has {
		return nil
	}
	nonce, err := parseExtensions(exts)
	if err != nil {
		t.Fatal(err)
	}
	return nonce
}

// FuzzParseRequest: no input panics the parser or the responder, and every answer is a DER OCSPResponse.
func FuzzParseRequest(f *testing.F) {
	tc := newTestCA(f, "Fuzz")
	f.Add(tc.request(f, tc.alice, crypto.SHA1))
	f.Add(tc.request(f, tc.bob, crypto.SHA256))
	f.Add(withNonce(f, tc.request(f, tc.alice, crypto.SHA1), []byte{0x04, 0x02, 1, 2}))
	f.Add([]byte{0x30, 0x00})
	f.Fuzz(func(t *testing.T, data []byte) {
		req, err := ParseRequest(data)
		if err == nil && len(req.Items) == 0 {
			t.Fatal("a request without items parsed")
		}
		resp, res := tc.r.Respond(data)
		if res.Status == Successful {
			if _, err := ocsp.ParseResponse(resp, tc.h.Intermediate.Cert); err != nil && len(req.Items) == 1 {
				t.Fatalf("successful response does not parse: %v", err)
			}
		} else if !bytes.Equal(resp, ErrorResponse(res.Status)) {
			t.Fatalf("error response %x", resp)
		}
	})
}

// BenchmarkRespond: one OCSP answer, served from the pre-signed cache (nginx, openssl without a nonce) and
// signed per request (Apache's default nonce).
func BenchmarkRespond(b *testing.B) {
	tc := newTestCA(b, "Bench")
	tc.r.cfg.Now = time.Now
	plain := tc.request(b, tc.alice, crypto.SHA1)
	nonced := withNonce(b, plain, []byte{0x04, 0x10, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16})
	for _, c := range []struct {
		name string
		req  []byte
	}{{"cached", plain}, {"nonce", nonced}} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, res := tc.r.Respond(c.req); res.Status != Successful {
					b.Fatal(res.Reason)
				}
			}
		})
	}
}

// BenchmarkSignatureOnly is the floor of BenchmarkRespond/nonce: the one P-256 signature a nonce costs,
// with the signer's key, and nothing else.
func BenchmarkSignatureOnly(b *testing.B) {
	tc := newTestCA(b, "Bench")
	d := sha256.Sum256(bytes.Repeat([]byte{0x30}, 200))
	for b.Loop() {
		if _, err := tc.r.signer.Key.Sign(rand.Reader, d[:], crypto.SHA256); err != nil {
			b.Fatal(err)
		}
	}
}

// TestNonceResponseAllocations bounds what a signed answer allocates beyond its one signature (which Go's
// crypto allocates on its own, differently across versions): 55 before the builders were sized up front.
func TestNonceResponseAllocations(t *testing.T) {
	tc := newTestCA(t, "Allocs")
	tc.r.cfg.Now = time.Now
	req := withNonce(t, tc.request(t, tc.alice, crypto.SHA1), []byte{0x04, 0x10, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16})
	d := sha256.Sum256(bytes.Repeat([]byte{0x30}, 200))
	sig := testing.AllocsPerRun(100, func() { _, _ = tc.r.signer.Key.Sign(rand.Reader, d[:], crypto.SHA256) })
	all := testing.AllocsPerRun(100, func() {
		if _, res := tc.r.Respond(req); res.Status != Successful || !res.Nonce {
			t.Fatalf("%+v", res)
		}
	})
	t.Logf("%.0f allocations per signed answer, %.0f of them in the signature", all, sig)
	if extra := all - sig; extra > 44 {
		t.Errorf("%.0f allocations beyond the signature, want at most 44", extra)
	}
}
