package backup

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wsca/wsca/ca"
	"github.com/wsca/wsca/internal/cadir"
	"github.com/wsca/wsca/store"
)

var pass = []byte("correct horse battery staple")

func newCA(t *testing.T) *cadir.Dir {
	t.Helper()
	d := dirAt(filepath.Join(t.TempDir(), "pki"))
	if _, err := d.Init(cadir.InitRequest{Hierarchy: ca.HierarchyRequest{Name: "T"}, Passphrase: pass}); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Issue(cadir.IssueRequest{Name: "alice", OutDir: t.TempDir()}); err != nil {
		t.Fatal(err)
	}
	return d
}

func dirAt(path string) *cadir.Dir {
	return &cadir.Dir{Path: path, Rand: rand.Reader, Now: time.Now, User: "t", LockTimeout: time.Second,
		Passphrase: func() ([]byte, error) { return pass, nil }}
}

// archive is a parsed backup: the manifest and the members, for tests that rebuild damaged copies.
type archive struct {
	m     Manifest
	order []string
	files map[string][]byte
}

func readArchive(t *testing.T, path string) *archive {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	a := &archive{files: map[string][]byte{}}
	tr := tar.NewReader(zr)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		data, _ := io.ReadAll(tr)
		if h.Name == ManifestName {
			if err := json.Unmarshal(data, &a.m); err != nil {
				t.Fatal(err)
			}
			continue
		}
		a.order = append(a.order, h.Name)
		a.files[h.Name] = data
	}
	return a
}

func (a *archive) write(t *testing.T, path string, fixManifest bool) {
	t.Helper()
	if fixManifest {
		a.m.Files = nil
		for _, n := range a.order {
			sum := sha256.Sum256(a.files[n])
			a.m.Files = append(a.m.Files, FileInfo{Name: n, Size: int64(len(a.files[n])), Mode: 0o600, SHA256: hex.EncodeToString(sum[:])})
		}
	}
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	man, _ := json.Marshal(a.m)
	add := func(name string, data []byte) {
		tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: name, Size: int64(len(data)), Mode: 0o600})
		tw.Write(data)
	}
	add(ManifestName, man)
	for _, n := range a.order {
		add(n, a.files[n])
	}
	tw.Close()
	zw.Close()
	if err := os.WriteFile(path, buf.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestCreateRestoreRoundTrip(t *testing.T) {
	d := newCA(t)
	out := filepath.Join(t.TempDir(), "b.tgz")
	m, err := Create(d, out, Options{WithKeys: true})
	if err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(out); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("archive mode %v, %v", fi.Mode(), err)
	}
	if len(m.Files) != 8 || !m.WithKeys {
		t.Fatalf("manifest %+v", m)
	}
	// A second backup to the same file is refused and changes nothing; with Replace it replaces the first
	// atomically and leaves no temporary file.
	before, _ := os.ReadFile(out)
	if _, err := Create(d, out, Options{}); !errors.Is(err, ErrExists) {
		t.Fatalf("backup over an existing file: %v, want ErrExists", err)
	}
	if after, _ := os.ReadFile(out); !bytes.Equal(before, after) {
		t.Fatal("a refused backup changed the existing file")
	}
	if _, err := Create(d, filepath.Dir(out), Options{}); err == nil || !strings.Contains(err.Error(), "is a directory") {
		t.Fatalf("backup to a directory: %v", err)
	}
	if _, err := Create(d, out, Options{Replace: true}); err != nil {
		t.Fatal(err)
	}
	entries, _ := os.ReadDir(filepath.Dir(out))
	if len(entries) != 1 {
		t.Errorf("files next to the archive: %v", entries)
	}
	if _, err := Create(d, out, Options{WithKeys: true, Replace: true}); err != nil {
		t.Fatal(err)
	}
	r := dirAt(filepath.Join(t.TempDir(), "restored"))
	res, err := Restore(r, out, RestoreOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if res.Records != 3 || res.Replaced != "" || len(res.Warnings) != 0 {
		t.Errorf("result %+v", res)
	}
	for _, name := range []string{cadir.RootCertFile, cadir.IntermediateKeyFile, cadir.CRLFile} {
		a, _ := os.ReadFile(d.File(name))
		b, _ := os.ReadFile(r.File(name))
		if !bytes.Equal(a, b) {
			t.Errorf("%s differs after restore", name)
		}
	}
	if _, err := r.Issue(cadir.IssueRequest{Name: "bob", OutDir: t.TempDir()}); err != nil {
		t.Errorf("issuing from the restored CA: %v", err)
	}
	st, err := r.OpenStore(true)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	var actions []string
	st.Audit(func(e store.AuditEntry) error { actions = append(actions, string(e.Action)); return nil })
	if got := strings.Join(actions, ","); !strings.HasSuffix(got, "backup,backup,restore,issue") {
		t.Errorf("audit actions %s", got)
	}
}

func TestRestoreRefusesLiveCA(t *testing.T) {
	d := newCA(t)
	out := filepath.Join(t.TempDir(), "b.tgz")
	if _, err := Create(d, out, Options{WithKeys: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := Restore(d, out, RestoreOptions{}); !errors.Is(err, ErrLiveCA) {
		t.Fatalf("want ErrLiveCA, got %v", err)
	}
	before, _ := os.ReadFile(d.File(cadir.IntermediateKeyFile))
	res, err := Restore(d, out, RestoreOptions{Force: true})
	if err != nil {
		t.Fatal(err)
	}
	if res.Replaced == "" {
		t.Fatal("no replaced directory reported")
	}
	kept, err := os.ReadFile(filepath.Join(res.Replaced, cadir.IntermediateKeyFile))
	if err != nil || !bytes.Equal(kept, before) {
		t.Errorf("the old key was not kept aside: %v", err)
	}
	// Leftover staging directories would leak key copies.
	matches, _ := filepath.Glob(filepath.Join(filepath.Dir(d.Path), ".wsca-restore-*"))
	if len(matches) != 0 {
		t.Errorf("staging left behind: %v", matches)
	}
}

func TestRestoreRejectsBadArchives(t *testing.T) {
	d := newCA(t)
	good := filepath.Join(t.TempDir(), "b.tgz")
	if _, err := Create(d, good, Options{WithKeys: true}); err != nil {
		t.Fatal(err)
	}
	otherCA := newCA(t)
	tests := []struct {
		name   string
		mutate func(a *archive) bool // returns whether to recompute the manifest
		want   error
		text   string
	}{
		{"flipped byte in the database", func(a *archive) bool { a.files[cadir.DBFile][5000] ^= 1; return false }, ErrInvalidArchive, "checksum mismatch"},
		{"unknown member", func(a *archive) bool {
			a.order = append(a.order, "../evil")
			a.files["../evil"] = []byte("x")
			return true
		}, ErrInvalidArchive, `unknown file "../evil"`},
		{"missing member", func(a *archive) bool {
			a.order = a.order[:len(a.order)-1]
			return false
		}, ErrInvalidArchive, "not in the archive"},
		{"missing key in a keyed backup", func(a *archive) bool {
			var keep []string
			for _, n := range a.order {
				if n != cadir.IntermediateKeyFile {
					keep = append(keep, n)
				}
			}
			a.order = keep
			return true
		}, ErrInvalidArchive, "intermediate.key is missing"},
		{"future format", func(a *archive) bool { a.m.Format = 2; return false }, ErrInvalidArchive, "format 2"},
		{"key of another CA", func(a *archive) bool {
			a.files[cadir.IntermediateKeyFile], _ = os.ReadFile(otherCA.File(cadir.IntermediateKeyFile))
			return true
		}, ca.ErrKeyMismatch, ""},
		{"corrupt database with a valid checksum", func(a *archive) bool {
			a.files[cadir.DBFile] = bytes.Repeat([]byte{0xAA}, 4096*4)
			return true
		}, store.ErrCorrupt, ""},
		{"certificate garbage", func(a *archive) bool { a.files[cadir.BundleFile] = []byte("nope"); return true }, nil, "ca.crt"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := readArchive(t, good)
			fix := tt.mutate(a)
			bad := filepath.Join(t.TempDir(), "bad.tgz")
			a.write(t, bad, fix)
			target := dirAt(filepath.Join(t.TempDir(), "target"))
			_, err := Restore(target, bad, RestoreOptions{})
			if err == nil {
				t.Fatal("restored a bad archive")
			}
			if tt.want != nil && !errors.Is(err, tt.want) {
				t.Errorf("error %v does not wrap %v", err, tt.want)
			}
			if !strings.Contains(err.Error(), tt.text) {
				t.Errorf("error %q does not contain %q", err, tt.text)
			}
			if _, err := os.Stat(target.Path); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("the target was created: %v", err)
			}
		})
	}
	// Not even gzip.
	junk := filepath.Join(t.TempDir(), "junk.tgz")
	os.WriteFile(junk, []byte("hello"), 0o600)
	if _, err := Restore(dirAt(filepath.Join(t.TempDir(), "x")), junk, RestoreOptions{}); !errors.Is(err, ErrInvalidArchive) {
		t.Errorf("junk: %v", err)
	}
}

func TestCreateNoCA(t *testing.T) {
	_, err := Create(dirAt(t.TempDir()), filepath.Join(t.TempDir(), "b.tgz"), Options{})
	if !errors.Is(err, cadir.ErrNotInitialized) {
		t.Fatalf("want ErrNotInitialized, got %v", err)
	}
}

// FuzzExtract feeds arbitrary bytes to the archive reader: it must fail cleanly (never panic, never
// write outside the staging directory) unless the input is a consistent archive.
func FuzzExtract(f *testing.F) {
	var seed bytes.Buffer
	zw := gzip.NewWriter(&seed)
	tw := tar.NewWriter(zw)
	data := []byte("-----BEGIN CERTIFICATE-----\n")
	sum := sha256.Sum256(data)
	man, _ := json.Marshal(Manifest{Format: 1, Files: []FileInfo{{Name: cadir.RootCertFile, Size: int64(len(data)), Mode: 0o644, SHA256: hex.EncodeToString(sum[:])}}})
	tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: ManifestName, Size: int64(len(man)), Mode: 0o644})
	tw.Write(man)
	tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: cadir.RootCertFile, Size: int64(len(data)), Mode: 0o644})
	tw.Write(data)
	tw.Close()
	zw.Close()
	f.Add(seed.Bytes())
	f.Add([]byte("\x1f\x8b\x08\x00\x00\x00\x00\x00"))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, in []byte) {
		base := t.TempDir()
		path := filepath.Join(base, "a.tgz")
		if err := os.WriteFile(path, in, 0o600); err != nil {
			t.Fatal(err)
		}
		dir := filepath.Join(base, "stage")
		if err := os.Mkdir(dir, 0o700); err != nil {
			t.Fatal(err)
		}
		m, err := extract(path, dir)
		entries, _ := os.ReadDir(base)
		if len(entries) != 2 {
			t.Fatalf("extract wrote outside its directory: %v", entries)
		}
		if err != nil {
			if !errors.Is(err, ErrInvalidArchive) {
				t.Fatalf("error %v does not wrap ErrInvalidArchive", err)
			}
			return
		}
		got, _ := os.ReadDir(dir)
		if len(got) != len(m.Files) {
			t.Fatalf("manifest lists %d files, %d extracted", len(m.Files), len(got))
		}
	})
}
