package main

import (
	"errors"
	"fmt"
	"io/fs"
	"net"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/wsca/wsca/ca"
	"github.com/wsca/wsca/crl"
	"github.com/wsca/wsca/crlsync"
	"github.com/wsca/wsca/internal/backup"
	"github.com/wsca/wsca/internal/cadir"
	"github.com/wsca/wsca/internal/importer"
	"github.com/wsca/wsca/internal/webconf"
	"github.com/wsca/wsca/internal/wsclient"
	"github.com/wsca/wsca/relay"
	"github.com/wsca/wsca/store"
)

// hint returns the next step for an error, or "". Decisions are made on the sentinels the packages own.
func hint(err error) string {
	var he hintedError
	if errors.As(err, &he) {
		return he.hint
	}
	var opErr *net.OpError
	if errors.Is(err, syscall.EADDRINUSE) && errors.As(err, &opErr) && opErr.Addr != nil {
		_, port, _ := net.SplitHostPort(opErr.Addr.String())
		return fmt.Sprintf("another process listens on %s already (ss -ltnp 'sport = :%s' names it): stop it, or choose another listen address", opErr.Addr, port)
	}
	// Stopgap until relay owns a sentinel for it: relay's loadMaterial says "reading server certificate: open
	// PATH: …". The PathError gives the path; the words say which file it was.
	var pathErr *fs.PathError
	if errors.Is(err, fs.ErrNotExist) && errors.As(err, &pathErr) && strings.Contains(err.Error(), "reading server certificate") {
		name := strings.TrimSuffix(filepath.Base(pathErr.Path), filepath.Ext(pathErr.Path))
		return fmt.Sprintf("make it with: wsca issue %s --server --dns HOST --out %s (it writes %s.crt and %s.key)", name, filepath.Dir(pathErr.Path), name, name)
	}
	if h := flagHint(err); h != "" {
		return h
	}
	switch {
	case errors.Is(err, wsclient.ErrClosedByServer):
		return "wsca doctor --connect HOST:PORT with the same certificate names the likely cause"
	case errors.Is(err, cadir.ErrAmbiguousSerial):
		return "give more digits of the serial (wsca list shows them in full)"
	case errors.Is(err, store.ErrLocked):
		return "another wsca command is using this CA; wait for it to finish or raise --lock-timeout"
	case errors.Is(err, cadir.ErrNotInitialized):
		return "run wsca init first, or point --dir (or WSCA_DIR) at the CA directory"
	case errors.Is(err, cadir.ErrAlreadyInitialized):
		return "nothing was changed; choose another --dir to create a new CA"
	case errors.Is(err, importer.ErrOldKey):
		// Before ErrWrongPassphrase: this is the old CA's passphrase, not wsca's.
		return oldKeyHint(err)
	case errors.Is(err, importer.ErrCertMissing):
		return "pass --certs with the old CA's new_certs_dir (the SERIAL.pem files)"
	case errors.Is(err, backup.ErrLiveCA):
		return "restore into an empty --dir, or pass --force (the current files are kept in replaced-TIMESTAMP/)"
	case errors.Is(err, ca.ErrWrongPassphrase):
		return "check the passphrase (--passphrase-file or WSCA_PASSPHRASE_FILE); nothing was changed"
	case errors.Is(err, ca.ErrPassphraseRequired):
		return "pass --passphrase-file or set WSCA_PASSPHRASE_FILE"
	case errors.Is(err, ca.ErrKeyMismatch):
		return "the key file belongs to another certificate: restore the matching key from your backup"
	case errors.Is(err, webconf.ErrNotServerCert):
		return "make one with: wsca issue NAME --server --dns HOST (the server needs its own certificate, not a client's)"
	case errors.Is(err, cadir.ErrNoPublishURL):
		return "pass --pickup-url with the address users reach wsca publish at, e.g. --pickup-url http://pki.example.com (remembered for next time)"
	case errors.Is(err, cadir.ErrServerNames):
		return "add --server for a server certificate (in a CSV: kind server), or leave out --dns/--ip"
	case errors.Is(err, cadir.ErrBadName):
		return "write the name as it should appear, without leading or trailing spaces or invisible characters (wsca sign: --name)"
	case errors.Is(err, ca.ErrOutsideNameConstraints):
		return "the intermediate permits only the names given at wsca init (see: openssl x509 -in intermediate.crt -noout -ext nameConstraints)"
	case errors.Is(err, cadir.ErrRootKeyOffline):
		return "copy the root key back into the CA directory as root.key for this operation, then remove it again"
	case errors.Is(err, store.ErrRolledBack):
		return "restore wsca.db from the latest backup (wsca restore) and redo what was lost; to accept the loss, move wsca.db.head aside (see docs/operations.md)"
	case errors.Is(err, store.ErrCorrupt):
		return "the database is damaged: restore wsca.db from a backup (wsca backup makes one)"
	case errors.Is(err, crlsync.ErrRollback):
		return "this CRL is older than one already used here; publish a fresh one with wsca crl (never copy an old crl.pem back)"
	case errors.Is(err, crlsync.ErrTooLarge):
		return "check the URL; a CA with that many revocations needs a larger --max-size"
	case errors.Is(err, crl.ErrUnknownIssuer), errors.Is(err, crl.ErrBadSignature):
		return "this CRL was not made by this CA; regenerate it with wsca crl"
	case errors.Is(err, relay.ErrServerCertEKU):
		return "issue a server certificate for the relay: wsca issue relay --server --dns HOST (or --ip ADDR)"
	case errors.Is(err, crl.ErrCRLExpired):
		return "regenerate the CRL with wsca crl (and run it from cron: see docs/operations.md)"
	}
	return ""
}

// flagHint names the flag that fixes an error of a package that knows no flag names (STYLE: only cmd does):
// the packages return sentinels or typed errors with the data, and the flag goes here.
func flagHint(err error) string {
	var taken *cadir.NameTakenError
	var outlives *ca.OutlivesIssuerError
	var unwritten *cadir.UnwrittenError
	switch {
	case errors.As(err, &unwritten):
		return fmt.Sprintf("wsca show %s --pem prints it", ca.SerialHex(unwritten.Serial))
	case errors.As(err, &taken):
		return fmt.Sprintf("use --renew to issue another, or wsca revoke %s first", ca.SerialHex(taken.Serial))
	case errors.As(err, &outlives) && outlives.MaxDays > 0:
		return fmt.Sprintf("use --days %d or less", outlives.MaxDays)
	case errors.Is(err, ca.ErrOutlivesIssuer):
		return "use a shorter validity, e.g. a smaller --days"
	case errors.Is(err, cadir.ErrOutputExists):
		return "move it away or choose another --out"
	case errors.Is(err, cadir.ErrNoOutputDir):
		return "create it or pass --out"
	case errors.Is(err, cadir.ErrCACertificate):
		return "use wsca revoke --intermediate"
	case errors.Is(err, cadir.ErrAmbiguous):
		return "pass a serial, or --all"
	}
	return ""
}

// oldKeyHint says what to do when the old CA key of wsca import cannot be opened: ask for the passphrase
// only when none was given.
func oldKeyHint(err error) string {
	switch {
	case errors.Is(err, ca.ErrPassphraseRequired):
		return "pass the old CA key's passphrase with --ca-key-passphrase-file"
	case errors.Is(err, ca.ErrWrongPassphrase):
		return "the passphrase in --ca-key-passphrase-file does not open the old CA key: check the file (its first line is the passphrase); nothing was changed"
	case errors.Is(err, ca.ErrMalformedKey):
		return "convert the key to PKCS#8 (openssl pkcs8 -topk8 -v2 aes-256-cbc -in KEY -out KEY.new) and import with the new file"
	}
	return ""
}
