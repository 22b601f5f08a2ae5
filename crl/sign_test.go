package crl

import (
	"bytes"
	"crypto"
	"crypto/x509"
	"errors"
	"io"
	"math/big"
	"testing"
	"time"
)

// TestSerialBytes checks that an Entry given as SerialBytes encodes exactly
// as the same serial given as a big.Int (Ed25519 is deterministic, so the
// whole CRLs must be equal), including leading zero octets and high bits.
func TestSerialBytes(t *testing.T) {
	ca := newRoot(t, "ed25519", "Root")
	now := baseTime()
	tmpl := Template{Number: big.NewInt(7), ThisUpdate: now, NextUpdate: now.Add(time.Hour), Issuer: ca.cert, Signer: ca.key}
	serials := [][]byte{{1}, {0x7f}, {0x80}, {0, 0, 0x80, 1}, {0xff, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19}}
	var asInt, asBytes []Entry
	for i, b := range serials {
		at := now.Add(-time.Duration(i) * time.Hour)
		asInt = append(asInt, Entry{Serial: new(big.Int).SetBytes(b), RevokedAt: at, Reason: i % 3})
		asBytes = append(asBytes, Entry{SerialBytes: b, RevokedAt: at, Reason: i % 3})
	}
	want, err := Build(tmpl, seqOf(asInt))
	if err != nil {
		t.Fatal(err)
	}
	got, err := Build(tmpl, seqOf(asBytes))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("SerialBytes CRL differs from the big.Int one")
	}
	if _, err := x509.ParseRevocationList(got); err != nil {
		t.Fatal(err)
	}
}

// TestSignWriters checks that WriteTo, Bytes and WritePEMTo agree with Build's
// DER and EncodePEM at sizes around the chunk and PEM line boundaries.
func TestSignWriters(t *testing.T) {
	ca := newRoot(t, "p256", "Root")
	now := baseTime()
	tmpl := Template{Number: big.NewInt(7), ThisUpdate: now, NextUpdate: now.Add(time.Hour), Issuer: ca.cert, Signer: ca.key}
	for _, n := range []int{0, 1, 2, 3, 90, 91, 92, 93, 1000, 30_000} {
		s, err := Sign(tmpl, genEntries(n, now))
		if err != nil {
			t.Fatal(err)
		}
		der := s.Bytes()
		if len(der) != s.Len() {
			t.Fatalf("%d entries: Len %d, Bytes %d octets", n, s.Len(), len(der))
		}
		rl, err := x509.ParseRevocationList(der)
		if err != nil {
			t.Fatalf("%d entries: %v", n, err)
		}
		if err := rl.CheckSignatureFrom(ca.cert); err != nil {
			t.Fatalf("%d entries: %v", n, err)
		}
		if len(rl.RevokedCertificateEntries) != n {
			t.Fatalf("%d entries: parsed %d", n, len(rl.RevokedCertificateEntries))
		}
		var buf bytes.Buffer
		if k, err := s.WriteTo(&buf); err != nil || k != int64(len(der)) || !bytes.Equal(buf.Bytes(), der) {
			t.Fatalf("%d entries: WriteTo = %d, %v; equal %v", n, k, err, bytes.Equal(buf.Bytes(), der))
		}
		buf.Reset()
		want := EncodePEM(der)
		if k, err := s.WritePEMTo(&buf); err != nil || k != int64(len(want)) || !bytes.Equal(buf.Bytes(), want) {
			t.Fatalf("%d entries: WritePEMTo = %d, %v; equal to EncodePEM %v", n, k, err, bytes.Equal(buf.Bytes(), want))
		}
	}
}

// TestPEMWriterSplits feeds the PEM writer in every split of the input and
// compares with encoding/pem, so partial lines across writes are covered.
func TestPEMWriterSplits(t *testing.T) {
	data := make([]byte, 40_000)
	for i := range data {
		data[i] = byte(i * 31)
	}
	for _, size := range []int{0, 1, 47, 48, 49, 96, 1000, 40_000} {
		want := EncodePEM(data[:size])
		for _, step := range []int{1, 5, 48, 100, 33_000} {
			var buf bytes.Buffer
			p := newPEMWriter(&buf, pemType)
			for off := 0; off < size; off += step {
				if err := p.write(data[off:min(off+step, size)]); err != nil {
					t.Fatal(err)
				}
			}
			if err := p.close(); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(buf.Bytes(), want) || p.n != int64(len(want)) {
				t.Fatalf("size %d step %d: output differs from encoding/pem (%d octets counted)", size, step, p.n)
			}
		}
	}
}

// failWriter accepts limit octets, then fails.
type failWriter struct{ limit int }

var errWrite = errors.New("disk full")

func (w *failWriter) Write(p []byte) (int, error) {
	if len(p) > w.limit {
		n := w.limit
		w.limit = 0
		return n, errWrite
	}
	w.limit -= len(p)
	return len(p), nil
}

func TestSignWriteErrors(t *testing.T) {
	ca := newRoot(t, "p256", "Root")
	now := baseTime()
	s, err := Sign(Template{Number: big.NewInt(7), ThisUpdate: now, NextUpdate: now.Add(time.Hour), Issuer: ca.cert, Signer: ca.key}, genEntries(5000, now))
	if err != nil {
		t.Fatal(err)
	}
	for _, limit := range []int{0, 10, 100_000} {
		if n, err := s.WriteTo(&failWriter{limit}); !errors.Is(err, errWrite) || n != int64(limit) {
			t.Errorf("WriteTo with %d octets of room = %d, %v", limit, n, err)
		}
		if n, err := s.WritePEMTo(&failWriter{limit}); !errors.Is(err, errWrite) || n != int64(limit) {
			t.Errorf("WritePEMTo with %d octets of room = %d, %v", limit, n, err)
		}
	}
}

// badSigner signs with the right public key but returns a corrupted signature.
type badSigner struct{ crypto.Signer }

func (s badSigner) Sign(r io.Reader, digest []byte, opts crypto.SignerOpts) ([]byte, error) {
	sig, err := s.Signer.Sign(r, digest, opts)
	if err != nil {
		return nil, err
	}
	sig[len(sig)-1] ^= 1
	return sig, nil
}

// TestSignFaultySigner checks the verify-before-publish step for every key
// type: a corrupted signature must fail Sign with ErrBadSignature.
func TestSignFaultySigner(t *testing.T) {
	now := baseTime()
	for _, kind := range []string{"p256", "p384", "rsa", "ed25519"} {
		t.Run(kind, func(t *testing.T) {
			ca := newRoot(t, kind, "Root")
			s, err := Sign(Template{Number: big.NewInt(1), ThisUpdate: now, NextUpdate: now.Add(time.Hour), Issuer: ca.cert, Signer: badSigner{ca.key}}, genEntries(10, now))
			if !errors.Is(err, ErrBadSignature) || s != nil {
				t.Fatalf("Sign = %v, %v; want ErrBadSignature", s, err)
			}
		})
	}
}
