package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"

	"golang.org/x/term"

	"github.com/wsca/wsca/ca"
	"github.com/wsca/wsca/internal/cadir"
)

// minPassphrase is the shortest passphrase wsca init accepts for the CA keys.
const minPassphrase = 8

// passphrase returns a cadir.PassphraseFunc that reads the CA passphrase once — from --passphrase-file
// (or WSCA_PASSPHRASE_FILE), else from the terminal — and caches it for the rest of the command, so a
// command that opens both CA keys asks once. Never from argv: other users can read it in ps.
func (g *globals) passphrase(confirm bool) cadir.PassphraseFunc {
	var cached []byte
	return func() ([]byte, error) {
		if cached != nil {
			return cached, nil
		}
		p, err := g.readPassphrase(confirm)
		if err != nil {
			return nil, err
		}
		cached = p
		return p, nil
	}
}

func (g *globals) readPassphrase(confirm bool) ([]byte, error) {
	if g.passphraseFile != "" {
		return readSecretFile(g.env, g.passphraseFile, "passphrase file")
	}
	if g.env.tty == nil {
		return nil, errNoTerminal
	}
	tty, err := g.env.tty()
	if err != nil {
		return nil, errNoTerminal
	}
	defer tty.Close()
	fmt.Fprint(tty, "CA key passphrase: ")
	p, err := term.ReadPassword(int(tty.Fd()))
	fmt.Fprintln(tty)
	if err != nil {
		return nil, fmt.Errorf("reading the passphrase from the terminal: %w", err)
	}
	if confirm {
		fmt.Fprint(tty, "Repeat the passphrase: ")
		again, err := term.ReadPassword(int(tty.Fd()))
		fmt.Fprintln(tty)
		if err != nil {
			return nil, fmt.Errorf("reading the passphrase from the terminal: %w", err)
		}
		if !bytes.Equal(p, again) {
			return nil, errors.New("the two passphrases differ")
		}
	}
	if len(p) == 0 {
		return nil, errors.New("the passphrase is empty")
	}
	return p, nil
}

// errNoTerminal is ca.ErrPassphraseRequired for the command line: wsca revoke then records the revocation
// and says it is not yet published, instead of failing.
var errNoTerminal error = noTerminalError{}

type noTerminalError struct{}

func (noTerminalError) Error() string {
	return "no terminal to ask for the CA key passphrase: use --passphrase-file or WSCA_PASSPHRASE_FILE"
}

func (noTerminalError) Is(target error) bool { return target == ca.ErrPassphraseRequired }

// maxSecretFile is the largest passphrase or password file read: a passphrase is one line, and a bound keeps a
// wrong path (/dev/zero, a disk image) from eating memory.
const maxSecretFile = 4 << 10

// secretFileFlags names, for readSecretFile's what, where the file's name came from: the hint for a missing
// file says what to change.
var secretFileFlags = map[string]string{
	"passphrase file":            "--passphrase-file (or WSCA_PASSPHRASE_FILE)",
	"old CA key passphrase file": "--ca-key-passphrase-file",
	"bundle password file":       "--p12-password-file",
	"p12 password file":          "--p12-password-file",
}

// readSecretFile reads a passphrase or password file: the first line, without its line ending. Only a regular
// file of at most maxSecretFile bytes is read (a FIFO would block, a device never ends). It warns when the
// file is readable by other users.
func readSecretFile(e *env, path, what string) ([]byte, error) {
	st, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, withHint(fmt.Errorf("%s %s: %w", what, path, fs.ErrNotExist),
			"put it in the file, readable only by you: (umask 077; read -rsp '%s: ' p && printf '%%s\\n' \"$p\" > %s) — or point %s at the file that holds it",
			strings.TrimSuffix(what, " file"), path, secretFileFlags[what])
	}
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", what, err)
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("%s %s is not a regular file (a device, pipe or directory): put the passphrase in a file of its own", what, path)
	}
	if st.Size() > maxSecretFile {
		return nil, fmt.Errorf("%s %s has %d bytes, more than a passphrase file can (%d): is it the right file?", what, path, st.Size(), maxSecretFile)
	}
	if st.Mode().Perm()&0o077 != 0 {
		fmt.Fprintf(e.stderr, "wsca: warning: %s %s is readable by other users (mode %04o): chmod 600 %s\n", what, path, st.Mode().Perm(), path)
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", what, err)
	}
	defer f.Close()
	// Bounded again: the file may have grown, or been swapped for another, since the Stat.
	data, err := io.ReadAll(io.LimitReader(f, maxSecretFile+1))
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", what, err)
	}
	if len(data) > maxSecretFile {
		return nil, fmt.Errorf("%s %s has more than %d bytes: is it the right file?", what, path, maxSecretFile)
	}
	if i := bytes.IndexByte(data, '\n'); i >= 0 {
		data = data[:i]
	}
	data = bytes.TrimSuffix(data, []byte("\r"))
	if len(data) == 0 {
		return nil, fmt.Errorf("%s %s is empty", what, path)
	}
	return data, nil
}

// newCAPassphrase returns the passphrase that will encrypt new CA keys (init, import): confirmed when typed
// on the terminal and at least minPassphrase long. With insecure (--insecure-no-passphrase) it warns and
// returns nil, which writes the keys unencrypted.
func (g *globals) newCAPassphrase(insecure bool) ([]byte, error) {
	if insecure {
		fmt.Fprintln(g.env.stderr, "wsca: warning: the CA keys are written unencrypted (--insecure-no-passphrase)")
		return nil, nil
	}
	pass, err := g.passphrase(true)()
	if err != nil {
		return nil, err
	}
	if len(pass) < minPassphrase {
		return nil, fmt.Errorf("the passphrase has %d characters; use at least %d", len(pass), minPassphrase)
	}
	return pass, nil
}
