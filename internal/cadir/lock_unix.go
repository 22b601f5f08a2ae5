//go:build unix

package cadir

import (
	"errors"
	"fmt"
	"os"
	"syscall"
	"time"
)

// LockDir takes the CA directory's own lock: an exclusive flock on the directory, held by wsca restore from
// staging to commit and by RecoverSwap. It waits at most d.LockTimeout (store.DefaultTimeout when zero) and
// then fails with ErrDirLocked. The returned function releases it. The lock is advisory and independent of
// bbolt's lock on wsca.db; the kernel drops it when the process dies.
func (d *Dir) LockDir() (func(), error) {
	f, err := os.Open(d.Path)
	if err != nil {
		return nil, fmt.Errorf("locking %s: %w", d.Path, err)
	}
	timeout := d.LockTimeout
	if timeout <= 0 {
		timeout = 5 * time.Second
	}
	deadline := time.Now().Add(timeout)
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			return func() { f.Close() }, nil
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) || time.Now().After(deadline) {
			f.Close()
			if errors.Is(err, syscall.EWOULDBLOCK) {
				return nil, fmt.Errorf("%s: %w", d.Path, ErrDirLocked)
			}
			return nil, fmt.Errorf("locking %s: %w", d.Path, err)
		}
		time.Sleep(lockRetry)
	}
}
