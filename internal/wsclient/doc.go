// Package wsclient is the small WebSocket client behind `wsca client`: Session sends a message over a TLS
// connection that presents a client certificate, passes on the echoes and says why the server closed the
// session; LoadKeyPair and LoadPKCS12 load that certificate from the files wsca issue writes.
//
// The package never prompts and knows no flag names: passwords and files come from the caller.
package wsclient
