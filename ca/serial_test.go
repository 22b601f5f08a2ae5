package ca

import (
	"math/big"
	"testing"
)

func TestSerialForms(t *testing.T) {
	tests := []struct {
		n                *big.Int
		hex, text, upper string
	}{
		{nil, "", "", ""},
		{big.NewInt(0x5), "5", "05", "5"},
		{big.NewInt(0xabc), "abc", "0abc", "ABC"},
		{big.NewInt(0x1000), "1000", "1000", "1000"},
		{new(big.Int).Lsh(big.NewInt(0xf), 124), "f" + "0000000000000000000000000000000", "f" + "0000000000000000000000000000000", "F" + "0000000000000000000000000000000"},
	}
	for _, tt := range tests {
		if got := SerialHex(tt.n); got != tt.hex {
			t.Errorf("SerialHex(%v) = %q, want %q", tt.n, got, tt.hex)
		}
		if got := SerialText(tt.n); got != tt.text {
			t.Errorf("SerialText(%v) = %q, want %q", tt.n, got, tt.text)
		}
		if got := SerialUpper(tt.n); got != tt.upper {
			t.Errorf("SerialUpper(%v) = %q, want %q", tt.n, got, tt.upper)
		}
	}
}
