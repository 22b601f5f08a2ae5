package cadir

import (
	"math/big"
	"strings"
)

// SerialOf parses a serial given in hex (with or without colons or a 0x prefix).
func SerialOf(s string) (*big.Int, bool) {
	h := strings.ToLower(strings.TrimPrefix(strings.ReplaceAll(s, ":", ""), "0x"))
	if h == "" || len(h) > 40 {
		return nil, false
	}
	n, ok := new(big.Int).SetString(h, 16)
	if !ok || n.Sign() <= 0 {
		return nil, false
	}
	return n, true
}
