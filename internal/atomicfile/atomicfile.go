// Package atomicfile writes files so that a reader never sees half of one and a crash never leaves a
// partial file behind: data goes to a temporary file in the same directory, is synced, and is renamed
// over the destination. It also writes secrets exclusively (O_EXCL) with owner-only permissions.
package atomicfile

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// ErrExists reports that a file that must not be overwritten is already there.
var ErrExists = errors.New("file already exists")

// Write replaces path with data atomically: a temporary file in the same directory is written with mode perm,
// synced, and renamed over path; the directory is then synced so the rename survives a crash. On any error
// the temporary file is removed and path is left as it was.
func Write(path string, data []byte, perm fs.FileMode) error {
	tmp, err := writeTemp(path, data, perm, true)
	if err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return syncDir(filepath.Dir(path))
}

// WriteNew writes data to path only if path does not exist yet, atomically (temporary file, sync, hard link
// to the final name, which fails if the name is taken). It returns an error wrapping ErrExists when path is
// already there, and leaves no partial file on any error.
func WriteNew(path string, data []byte, perm fs.FileMode) error {
	tmp, err := writeTemp(path, data, perm, true)
	if err != nil {
		return err
	}
	defer os.Remove(tmp)
	// link(2) is the atomic "create if absent" for a fully written file: O_EXCL alone would expose a
	// half-written file under the final name if the process died mid-write.
	if err := os.Link(tmp, path); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("writing %s: %w", path, ErrExists)
		}
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return syncDir(filepath.Dir(path))
}

// writeTemp writes data to a new temporary file next to path, synced if sync is set, and returns its name.
// On error nothing is left behind.
func writeTemp(path string, data []byte, perm fs.FileMode, sync bool) (name string, err error) {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return "", fmt.Errorf("writing %s: %w", path, err)
	}
	defer func() {
		if cerr := tmp.Close(); err == nil && cerr != nil {
			err = fmt.Errorf("writing %s: %w", path, cerr)
		}
		if err != nil {
			os.Remove(tmp.Name())
		}
	}()
	// CreateTemp makes the file 0600; chmod before any byte is written so a secret is never exposed.
	if err := tmp.Chmod(perm); err != nil {
		return "", fmt.Errorf("writing %s: %w", path, err)
	}
	if _, err := tmp.Write(data); err != nil {
		return "", fmt.Errorf("writing %s: %w", path, err)
	}
	if sync {
		if err := tmp.Sync(); err != nil {
			return "", fmt.Errorf("writing %s: %w", path, err)
		}
	}
	return tmp.Name(), nil
}

// MkdirPrivate creates dir (and any missing parents) with mode 0700. An existing directory is left as it is;
// checking its mode is the caller's job (wsca doctor reports loose modes instead of changing them silently).
func MkdirPrivate(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("creating directory %s: %w", dir, err)
	}
	return nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("syncing directory %s: %w", dir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("syncing directory %s: %w", dir, err)
	}
	return nil
}

// SyncDir fsyncs a directory, so that renames and creations in it survive a crash.
func SyncDir(dir string) error { return syncDir(dir) }
