package cadir

import (
	"crypto"
	"errors"
	"fmt"
	"io/fs"
	"os"

	"github.com/wsca/wsca/ca"
	"github.com/wsca/wsca/internal/atomicfile"
	"github.com/wsca/wsca/store"
)

// newFiles tracks the files a workflow creates, so that a failed init or import can remove them again and
// leave the directory as it found it. Every file is written exclusively: nothing existing is overwritten.
type newFiles struct {
	paths []string
}

// write creates path with data (atomically, refusing an existing file) and remembers it.
func (f *newFiles) write(path string, data []byte, perm fs.FileMode) error {
	if err := atomicfile.WriteNew(path, data, perm); err != nil {
		return err
	}
	f.paths = append(f.paths, path)
	return nil
}

// writeKey writes key as PKCS#8 PEM with mode 0600: encrypted with passphrase, or in the clear when
// passphrase is nil (--insecure-no-passphrase).
func (f *newFiles) writeKey(d *Dir, path string, key crypto.Signer, passphrase []byte) error {
	var pemData []byte
	var err error
	if passphrase != nil {
		pemData, err = ca.EncryptKey(d.Rand, key, passphrase)
	} else {
		pemData, err = ca.MarshalKey(key)
	}
	if err != nil {
		return fmt.Errorf("encoding key %s: %w", path, err)
	}
	return f.write(path, pemData, 0o600)
}

// rollback removes every file created so far, newest first.
func (f *newFiles) rollback() {
	for i := len(f.paths) - 1; i >= 0; i-- {
		os.Remove(f.paths[i])
	}
}

// createStore creates the directory's database and remembers it. store.Create is exclusive, so of two
// concurrent inits only one can win; the other gets ErrAlreadyInitialized.
func (f *newFiles) createStore(d *Dir) (*store.Store, error) {
	st, err := store.Create(d.File(DBFile), store.Options{Timeout: d.LockTimeout})
	if err != nil {
		if errors.Is(err, store.ErrExists) {
			return nil, fmt.Errorf("%s: %w", d.Path, ErrAlreadyInitialized)
		}
		return nil, fmt.Errorf("creating the database: %w", err)
	}
	f.paths = append(f.paths, d.File(DBFile), store.AnchorPath(d.File(DBFile)))
	return st, nil
}
