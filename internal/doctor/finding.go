package doctor

import (
	"fmt"
	"slices"
)

// Severity grades a Finding.
type Severity string

// Severities, from harmless to blocking. Only SeverityError makes `wsca doctor` exit non-zero.
const (
	SeverityOK      Severity = "ok"
	SeverityInfo    Severity = "info"
	SeverityWarning Severity = "warning"
	SeverityError   Severity = "error"
)

// rank orders severities for Worst.
func (s Severity) rank() int {
	return slices.Index([]Severity{SeverityOK, SeverityInfo, SeverityWarning, SeverityError}, s)
}

// Finding is one result of a check: how bad it is, which check produced it (a stable id, one of the Check*
// constants), what was found, and how to fix it (empty when there is nothing to do).
type Finding struct {
	Severity Severity `json:"severity"`
	Check    string   `json:"check"`
	Message  string   `json:"message"`
	Fix      string   `json:"fix,omitempty"`
}

// String returns the finding on one line, as "error crl.expiry: message (fix: …)".
func (f Finding) String() string {
	s := fmt.Sprintf("%s %s: %s", f.Severity, f.Check, f.Message)
	if f.Fix != "" {
		s += " (fix: " + f.Fix + ")"
	}
	return s
}

// Check ids of the CA directory checks (Check). They are stable: scripts match on them.
const (
	CheckDir          = "dir"           // the directory exists and holds a CA
	CheckDirMode      = "dir.mode"      // the directory is 0700
	CheckFiles        = "files"         // the CA files are present
	CheckKeyMode      = "key.mode"      // keys and bundles are 0600, never world-readable
	CheckKeyEncrypted = "key.encrypted" // CA keys are encrypted at rest
	CheckKeyMatch     = "key.match"     // each key belongs to its certificate
	CheckCertParse    = "cert.parse"    // the CA certificates parse
	CheckCertChain    = "cert.chain"    // root self-signed, intermediate signed by the root, ca.crt = both
	CheckCertExpiry   = "cert.expiry"   // remaining life of the CA certificates
	CheckCRLFile      = "crl.file"      // crl.pem present and parseable
	CheckCRLSigner    = "crl.signer"    // each CRL signed by a CA of this directory
	CheckCRLCoverage  = "crl.coverage"  // one CRL per CA of the chain
	CheckCRLExpiry    = "crl.expiry"    // days to nextUpdate
	CheckRootCRLFile  = "crl.root-file" // root-crl.pem, reused while the root key is offline
	CheckDBOpen       = "db.open"       // wsca.db opens
	CheckDBMode       = "db.mode"       // wsca.db is not readable by others
	CheckDBCerts      = "db.certs"      // certificate files are recorded in the database
	CheckDBCRL        = "db.crl"        // revocations in the database agree with crl.pem
	CheckDBAudit      = "db.audit"      // the audit log's hash chain is intact
	CheckDBRollback   = "db.rollback"   // wsca.db is not behind its anchor wsca.db.head; bbolt's meta pages are intact
)

// Check ids of the connection checks (Connect).
const (
	CheckConnect       = "connect"        // TCP and TLS handshake
	CheckServerChain   = "server.chain"   // the chain the server sends verifies (no missing intermediate)
	CheckServerName    = "server.name"    // the server certificate is for the name we connected to
	CheckServerExpiry  = "server.expiry"  // the server's certificates are within their validity
	CheckServerEKU     = "server.eku"     // the server's certificate is a server certificate (EKU serverAuth)
	CheckClientRequest = "client.request" // whether the server asks for a client certificate, and from which CAs
	CheckClientCert    = "client.cert"    // the client certificate itself (expiry, EKU, issuer)
	CheckUpgrade       = "upgrade"        // the WebSocket upgrade and its cause if refused
)

// Worst returns the highest severity among findings, SeverityOK for none.
func Worst(findings []Finding) Severity {
	w := SeverityOK
	for _, f := range findings {
		if f.Severity.rank() > w.rank() {
			w = f.Severity
		}
	}
	return w
}

// Count returns how many findings have severity s.
func Count(findings []Finding, s Severity) int {
	n := 0
	for _, f := range findings {
		if f.Severity == s {
			n++
		}
	}
	return n
}
