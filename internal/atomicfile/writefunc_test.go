package atomicfile

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
)

// leftovers returns the names in dir other than keep.
func leftovers(t *testing.T, dir string, keep ...string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range ents {
		found := false
		for _, k := range keep {
			found = found || e.Name() == k
		}
		if !found {
			out = append(out, e.Name())
		}
	}
	return out
}

func TestWriteFunc(t *testing.T) {
	big := bytes.Repeat([]byte("0123456789abcdef"), 300_000) // 4.8 MiB, many buffer flushes
	errFn := errors.New("fn failed")
	cases := []struct {
		name    string
		old     []byte // existing content, nil for none
		fn      func(io.Writer) error
		want    []byte // content afterwards
		wantErr error  // nil for success; errFn to match with errors.Is
		panics  bool
	}{
		{"new file", nil, func(w io.Writer) error { _, err := w.Write([]byte("hello\n")); return err }, []byte("hello\n"), nil, false},
		{"replace", []byte("old"), func(w io.Writer) error { _, err := w.Write([]byte("new")); return err }, []byte("new"), nil, false},
		{"empty", []byte("old"), func(io.Writer) error { return nil }, []byte{}, nil, false},
		{"large in pieces", nil, func(w io.Writer) error {
			for off := 0; off < len(big); off += 7001 {
				if _, err := w.Write(big[off:min(off+7001, len(big))]); err != nil {
					return err
				}
			}
			return nil
		}, big, nil, false},
		{"fn error keeps old", []byte("old"), func(w io.Writer) error {
			_, _ = w.Write(big)
			return errFn
		}, []byte("old"), errFn, false},
		{"fn error, no old", nil, func(io.Writer) error { return errFn }, nil, errFn, false},
		{"fn panics", []byte("old"), func(w io.Writer) error {
			_, _ = w.Write([]byte("half"))
			panic("boom")
		}, []byte("old"), nil, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "crl.pem")
			if tc.old != nil {
				if err := os.WriteFile(path, tc.old, 0o600); err != nil {
					t.Fatal(err)
				}
			}
			var err error
			func() {
				defer func() {
					if r := recover(); (r != nil) != tc.panics {
						t.Errorf("panic %v, want panic %v", r, tc.panics)
					}
				}()
				err = WriteFunc(path, 0o644, tc.fn)
			}()
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("WriteFunc = %v, want %v", err, tc.wantErr)
				}
			} else if err != nil && !tc.panics {
				t.Fatal(err)
			}
			got, rerr := os.ReadFile(path)
			switch {
			case tc.want == nil && !errors.Is(rerr, os.ErrNotExist):
				t.Errorf("file exists after a failed first write (%v)", rerr)
			case tc.want != nil && (rerr != nil || !bytes.Equal(got, tc.want)):
				t.Errorf("content %d octets (%v), want %d", len(got), rerr, len(tc.want))
			}
			if tc.want != nil && tc.old == nil || tc.name == "replace" {
				if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o644 {
					t.Errorf("mode %v (%v), want 0644", fi.Mode().Perm(), err)
				}
			}
			if extra := leftovers(t, dir, "crl.pem"); len(extra) != 0 {
				t.Errorf("left behind: %v", extra)
			}
		})
	}
}

func TestWriteFuncMissingDir(t *testing.T) {
	path := filepath.Join(t.TempDir(), "no", "crl.pem")
	called := false
	if err := WriteFunc(path, 0o644, func(io.Writer) error { called = true; return nil }); err == nil || called {
		t.Fatalf("WriteFunc into a missing directory = %v (fn called %v), want an error before fn", err, called)
	}
}
