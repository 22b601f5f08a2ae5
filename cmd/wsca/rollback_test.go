package main

import (
	"bytes"
	"encoding/binary"
	"os"
	"path/filepath"
	"testing"
)

// flipNewestMetaPage flips one byte of the bbolt meta page with the higher transaction id, as a bit error on
// disk would. bbolt then opens the older meta page: the last transaction is gone.
func flipNewestMetaPage(t *testing.T, db string) {
	t.Helper()
	data, err := os.ReadFile(db)
	if err != nil {
		t.Fatal(err)
	}
	const hdr, txid = 16, 48 // bbolt page header; txid offset in its meta (store/anchor.go)
	ps := int(binary.NativeEndian.Uint32(data[hdr+8:]))
	newest := 0
	if binary.NativeEndian.Uint64(data[ps+hdr+txid:]) > binary.NativeEndian.Uint64(data[hdr+txid:]) {
		newest = 1
	}
	data[newest*ps+hdr+20] ^= 0x40
	if err := os.WriteFile(db, data, 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestMetaPageFlipReported: after a keyCompromise revocation, a flipped byte in the newest meta page of the
// real wsca.db undoes the revocation in bbolt's eyes. Opening the CA (wsca list, wsca revoke), wsca doctor
// and wsca audit --verify all report it and name the lost revocation; without the anchor (a CA from an
// older wsca) doctor and audit --verify still report the damaged meta page.
func TestMetaPageFlipReported(t *testing.T) {
	dir, pass := setupCA(t)
	work := filepath.Dir(dir)
	for _, args := range [][]string{
		{"issue", "alice", "--out", work, "--passphrase-file", pass},
		{"revoke", "alice", "--reason", "keyCompromise"},
	} {
		if out, err := wscaRun(dir, args...); err != nil {
			t.Fatalf("%v: %v\n%s", args, err, out)
		}
	}
	db := filepath.Join(dir, "wsca.db")
	flipNewestMetaPage(t, db)
	for _, args := range [][]string{{"list"}, {"revoke", "alice", "--reason", "keyCompromise"}, {"doctor"}, {"audit", "--verify"}} {
		out, err := wscaRun(dir, args...)
		if err == nil {
			t.Errorf("wsca %v succeeded on a rolled-back database:\n%s", args, out)
		}
		for _, want := range []string{"went back to an older state", "revoke alice"} {
			if !bytes.Contains(out, []byte(want)) {
				t.Errorf("wsca %v does not say %q:\n%s", args, want, out)
			}
		}
	}
	if err := os.Remove(db + ".head"); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{"doctor"}, {"audit", "--verify"}} {
		out, err := wscaRun(dir, args...)
		if err == nil || !bytes.Contains(out, []byte("fails its checksum")) {
			t.Errorf("without the anchor, wsca %v: %v\n%s", args, err, out)
		}
	}
}
