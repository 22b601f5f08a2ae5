//go:build !linux

package atomicfile

// syncFS is not available: Batch falls back to an fsync of each file.
func syncFS(string) error { return errNoSyncFS }
