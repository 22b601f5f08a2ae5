//go:build !unix

package relay

import (
	"errors"
	"io"
	"net"
)

// rawReads reports whether rawRead can read a socket here: not without Unix read(2), so relay directions always
// read through net.Conn (one EAGAIN read more per message, the same bytes).
const rawReads = false

// rawRead is never called where rawReads is false (start2 sets no raw socket); it fails rather than block.
func rawRead(uintptr, []byte, *bool, net.Conn) (int, error) {
	return 0, errors.ErrUnsupported
}

// socketWriter has no raw socket writes to offer here: the relay writes through net.Conn.
func socketWriter(net.Conn) io.Writer { return nil }
