package crlsync

import (
	"bytes"
	"encoding/pem"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/wsca/wsca/crl"
)

// TestVerifyParsesAsCRLParse checks that Verify's fast path for plain PEM (splitPEM) returns what crl.Parse returns:
// the same CRLs (same DER) for what crl.Parse accepts, the same error for what it refuses, over plain files and
// variants that leave the plain form (CRLF, headers, stray text, a broken or foreign block, DER).
func TestVerifyParsesAsCRLParse(t *testing.T) {
	p := newTestPKI(t)
	good := p.crlPEM(t, 7, 1, 2, 3)
	inter := crlOf(t, p.inter, 7, time.Hour, 4)
	block, _ := pem.Decode(inter)
	headers := pem.EncodeToMemory(&pem.Block{Type: "X509 CRL", Headers: map[string]string{"Proc-Type": "4,CRL"},
		Bytes: block.Bytes})
	flipped := bytes.Clone(good)
	flipped[len(pemBegin)+40] ^= 'A' ^ 'B' // a body byte: the DER (signature or structure) no longer holds
	cases := map[string][]byte{
		"plain":              good,
		"leading whitespace": append([]byte("\n \t\r\n"), good...),
		"trailing space":     append(bytes.Clone(good), " \n\n"...),
		"no final newline":   bytes.TrimRight(good, "\n"),
		"blank lines":        bytes.Replace(good, []byte("-----\n-----BEGIN"), []byte("-----\n\n\n-----BEGIN"), 1),
		"CRLF":               bytes.ReplaceAll(good, []byte("\n"), []byte("\r\n")),
		"headers":            append(headers, p.rootCRL...),
		"stray text":         append(append(bytes.Clone(inter), "junk\n"...), p.rootCRL...),
		"trailing text":      append(bytes.Clone(good), "junk"...),
		"text after END":     bytes.Replace(good, []byte("CRL-----\n"), []byte("CRL-----x\n"), 1),
		"spaces in body":     bytes.Replace(good, []byte("\n"), []byte(" \n"), 3),
		"foreign block":      append(bytes.Clone(inter), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: p.root.cert.Raw})...),
		"two BEGIN":          bytes.Replace(good, []byte("-----END X509 CRL-----"), nil, 1),
		"no END":             good[:len(good)/2],
		"bad base64":         bytes.Replace(good, []byte("\n"), []byte("*\n"), 2),
		"flipped byte":       flipped,
		"empty block":        append([]byte("-----BEGIN X509 CRL-----\n-----END X509 CRL-----\n"), good...),
		"DER":                block.Bytes,
		"empty":              nil,
		"missing root CRL":   inter,
	}
	for name, data := range cases {
		want, wantErr := crl.Parse(data, p.cas())
		got, gotErr := parse(data, p.cas())
		if (wantErr == nil) != (gotErr == nil) || (wantErr != nil && wantErr.Error() != gotErr.Error()) {
			t.Errorf("%s: parse error %v, crl.Parse error %v", name, gotErr, wantErr)
			continue
		}
		for _, sentinel := range []error{crl.ErrMalformed, crl.ErrBadSignature, crl.ErrNoCRL, crl.ErrUnknownIssuer} {
			if errors.Is(wantErr, sentinel) != errors.Is(gotErr, sentinel) {
				t.Errorf("%s: errors.Is(%v) differs: %v vs %v", name, sentinel, gotErr, wantErr)
			}
		}
		if len(got) != len(want) {
			t.Errorf("%s: %d CRLs, crl.Parse %d", name, len(got), len(want))
			continue
		}
		for i := range got {
			if !bytes.Equal(got[i].Raw, want[i].Raw) || got[i].Revoked.Len() != want[i].Revoked.Len() ||
				got[i].Number.Cmp(want[i].Number) != 0 {
				t.Errorf("%s: CRL %d differs from crl.Parse's", name, i+1)
			}
		}
	}
	// The fast path must really be taken for wsca's own files, and their buffer must stay untouched.
	if _, ok := splitPEM(good); !ok {
		t.Error("splitPEM refused a plain crl.pem")
	}
	if !strings.HasPrefix(string(good), string(pemBegin)) {
		t.Error("input modified")
	}
	if _, err := Verify(good, p.cas()); err != nil {
		t.Errorf("Verify: %v", err)
	}
	if _, err := Verify(inter, p.cas()); !errors.Is(err, crl.ErrNoCRL) {
		t.Errorf("Verify without the root's CRL: %v, want ErrNoCRL", err)
	}
}
