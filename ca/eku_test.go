package ca

import (
	"crypto/x509"
	"testing"
)

// TestHasServerAuthIsExplicit: only a listed serverAuth (clientAuth) counts; "any" and no extension do not.
func TestHasServerAuthIsExplicit(t *testing.T) {
	tests := []struct {
		name           string
		eku            []x509.ExtKeyUsage
		server, client bool
	}{
		{"none", nil, false, false},
		{"any", []x509.ExtKeyUsage{x509.ExtKeyUsageAny}, false, false},
		{"server", []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, true, false},
		{"client", []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}, false, true},
		{"both", []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth, x509.ExtKeyUsageServerAuth}, true, true},
	}
	for _, tt := range tests {
		c := &x509.Certificate{ExtKeyUsage: tt.eku}
		if HasServerAuth(c) != tt.server || HasClientAuth(c) != tt.client {
			t.Errorf("%s: HasServerAuth %v, HasClientAuth %v; want %v, %v", tt.name, HasServerAuth(c), HasClientAuth(c), tt.server, tt.client)
		}
	}
}
