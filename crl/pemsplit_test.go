package crl

import (
	"bytes"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"math/big"
	"testing"
)

// TestParseFastPEM checks that Parse's fast path for plain PEM (splitPEM)
// returns what the encoding/pem path (parsePEM) returns: the same CRLs (same
// DER) for what parsePEM accepts, the same error for what it refuses, over
// plain files and variants that leave the plain form (CRLF, headers, stray
// text, a broken or foreign block). Every case also goes through Parse, so
// the DER one and the whitespace around blocks are covered too.
func TestParseFastPEM(t *testing.T) {
	root := newRoot(t, "p256", "Split Root")
	inter := root.newIntermediate(t, "p256", "Split Inter", 2)
	cas := []*x509.Certificate{root.cert, inter.cert}
	now := baseTime()
	interDER := inter.build(t, 7, Entry{Serial: big.NewInt(4), RevokedAt: now, Reason: ReasonKeyCompromise})
	rootDER := root.build(t, 7, Entry{Serial: big.NewInt(2), RevokedAt: now})
	good := EncodePEM(interDER, rootDER)
	interPEM, rootPEM := EncodePEM(interDER), EncodePEM(rootDER)
	headers := pem.EncodeToMemory(&pem.Block{Type: "X509 CRL", Headers: map[string]string{"Proc-Type": "4,CRL"},
		Bytes: interDER})
	flipped := bytes.Clone(good)
	flipped[len(pemBegin)+40] ^= 'A' ^ 'B' // a body byte: the DER (signature or structure) no longer holds
	cases := map[string][]byte{
		"plain":            good,
		"trailing space":   append(bytes.Clone(good), " \n\n"...),
		"no final newline": bytes.TrimRight(good, "\n"),
		"blank lines":      bytes.Replace(good, []byte("-----\n-----BEGIN"), []byte("-----\n\n\n-----BEGIN"), 1),
		"CRLF":             bytes.ReplaceAll(good, []byte("\n"), []byte("\r\n")),
		"headers":          append(headers, rootPEM...),
		"stray text":       append(append(bytes.Clone(interPEM), "junk\n"...), rootPEM...),
		"trailing text":    append(bytes.Clone(good), "junk"...),
		"text after END":   bytes.Replace(good, []byte("CRL-----\n"), []byte("CRL-----x\n"), 1),
		"spaces in body":   bytes.Replace(good, []byte("\n"), []byte(" \n"), 3),
		"foreign block":    append(bytes.Clone(interPEM), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: root.cert.Raw})...),
		"two BEGIN":        bytes.Replace(good, []byte("-----END X509 CRL-----"), nil, 1),
		"no END":           good[:len(good)/2],
		"bad base64":       bytes.Replace(good, []byte("\n"), []byte("*\n"), 2),
		"flipped byte":     flipped,
		"empty block":      append([]byte("-----BEGIN X509 CRL-----\n-----END X509 CRL-----\n"), good...),
		"foreign CA":       EncodePEM(newRoot(t, "p256", "Other Root").build(t, 1)),
	}
	for name, data := range cases {
		want, wantErr := parsePEM(data, cas)
		in := append([]byte("\n \t\r\n"), data...) // leading whitespace: Parse trims it before either path
		got, gotErr := Parse(in, cas)
		if (wantErr == nil) != (gotErr == nil) || (wantErr != nil && wantErr.Error() != gotErr.Error()) {
			t.Errorf("%s: Parse error %v, parsePEM error %v", name, gotErr, wantErr)
			continue
		}
		for _, sentinel := range []error{ErrMalformed, ErrBadSignature, ErrNoCRL, ErrUnknownIssuer} {
			if errors.Is(wantErr, sentinel) != errors.Is(gotErr, sentinel) {
				t.Errorf("%s: errors.Is(%v) differs: %v vs %v", name, sentinel, gotErr, wantErr)
			}
		}
		if len(got) != len(want) {
			t.Errorf("%s: %d CRLs, parsePEM %d", name, len(got), len(want))
			continue
		}
		for i := range got {
			if !bytes.Equal(got[i].Raw, want[i].Raw) || got[i].Revoked.Len() != want[i].Revoked.Len() ||
				got[i].Number.Cmp(want[i].Number) != 0 || got[i].Issuer != want[i].Issuer {
				t.Errorf("%s: CRL %d differs from parsePEM's", name, i+1)
			}
		}
	}
	// The fast path must really be taken for wsca's own files, and the input must stay untouched.
	ders, ok := splitPEM(good)
	if !ok || len(ders) != 2 || !bytes.Equal(ders[0], interDER) || !bytes.Equal(ders[1], rootDER) {
		t.Fatal("splitPEM refused or misread a plain crl.pem")
	}
	for i, der := range ders {
		if cap(der)-len(der) > 2 { // at most what base64 padding leaves
			t.Errorf("DER %d: %d octets of spare capacity, kept with Raw", i+1, cap(der)-len(der))
		}
	}
	if !bytes.Equal(good, EncodePEM(interDER, rootDER)) {
		t.Error("input modified")
	}
	// Raw never aliases the input, on either path.
	for name, data := range map[string][]byte{"DER": bytes.Clone(interDER), "PEM": bytes.Clone(good)} {
		crls, err := Parse(data, cas)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		clear(data)
		if !bytes.Equal(crls[0].Raw, interDER) {
			t.Errorf("%s: Raw aliases the input", name)
		}
	}
}
