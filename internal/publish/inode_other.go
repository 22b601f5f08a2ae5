//go:build !unix

package publish

import "io/fs"

// inode is 0 where there are no inode numbers; size and modification time still catch changes.
func inode(fs.FileInfo) uint64 { return 0 }
