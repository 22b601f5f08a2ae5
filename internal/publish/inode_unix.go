//go:build unix

package publish

import (
	"io/fs"
	"syscall"
)

// inode returns the file's inode number: an atomic replace (rename) changes it even when the new file has
// the old one's size and, within the coarse clock's tick, its modification time.
func inode(fi fs.FileInfo) uint64 {
	if sys, ok := fi.Sys().(*syscall.Stat_t); ok {
		return uint64(sys.Ino) //nolint:unconvert // Ino is not uint64 on every unix
	}
	return 0
}
