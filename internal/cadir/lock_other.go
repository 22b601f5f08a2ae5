//go:build !unix

package cadir

// LockDir is a no-op where flock does not exist: wsca supports one CA administrator process at a time there.
func (d *Dir) LockDir() (func(), error) { return func() {}, nil }
