//go:build !linux

package relay

import (
	"errors"
	"syscall"
)

// parker is only implemented on Linux; elsewhere idle directions keep blocking in Read.
type parker struct{}

func newParker() *parker { return nil }

func (p *parker) park(syscall.RawConn, func()) (uint64, error) { return 0, errors.ErrUnsupported }
func (p *parker) unpark(uint64) bool                           { return false }
func (p *parker) close()                                       {}
