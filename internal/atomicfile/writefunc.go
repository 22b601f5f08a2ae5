package atomicfile

import (
	"bufio"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
)

// writeFuncBuffer is the buffer between fn and the temporary file: large
// enough that a 60 MiB crl.pem costs a few hundred write(2) calls.
const writeFuncBuffer = 256 << 10

// WriteFunc replaces path atomically with what fn writes, for contents too
// large to build in memory first (a CRL with a million entries). fn gets a
// buffered writer on a temporary file in the same directory, created with
// mode perm; after fn returns nil the file is flushed, synced and renamed over
// path, and the directory is synced so the rename survives a crash. If fn or
// any step fails, or fn panics, the temporary file is removed and path is
// left as it was; fn's error is returned wrapped with the path.
func WriteFunc(path string, perm fs.FileMode, fn func(io.Writer) error) (err error) {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	renamed := false
	defer func() {
		// Runs on errors and on a panic in fn alike: nothing is left behind.
		if !renamed {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	// CreateTemp makes the file 0600; chmod before any byte is written so a
	// secret is never exposed under a looser mode.
	if err := tmp.Chmod(perm); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	bw := bufio.NewWriterSize(tmp, writeFuncBuffer)
	if err := fn(bw); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := tmp.Sync(); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	renamed = true
	return syncDir(filepath.Dir(path))
}
