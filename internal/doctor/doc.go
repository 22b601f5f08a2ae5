// Package doctor diagnoses a wsca deployment the way an experienced PKI administrator would by hand — with
// `ls -l`, `openssl x509 -text`, `openssl verify -crl_check_all`, `openssl s_client -showcerts` and the server's
// error log — and says what is wrong and how to fix it.
//
// Check inspects a CA directory: files present, file modes, keys matching their certificates, the CA
// certificates' remaining life, crl.pem (a CRL for every CA of the chain, each signed by the right CA, days to
// nextUpdate) and the issuance database against crl.pem and the certificate files.
//
// Connect acts as a TLS client against any server (wsca serve, Apache, nginx): it reports the chain the server
// sends and its problems (missing intermediate, name mismatch, expiry), the CAs the server asks client
// certificates from, and whether a real RFC 6455 WebSocket upgrade succeeds — and if not, the most likely cause,
// from the TLS alert, the HTTP status and body, and what the client certificate itself shows.
//
// Every result is a Finding with a stable check id (the Check* constants), so scripts can rely on `--json`.
// The package never prompts: passphrases come from a caller-supplied function.
package doctor
