package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/cobra"
)

// The man pages carry what a packaged binary's user cannot look up in docs/ (a package ships no docs/ folder):
// the environment, the files, the exit status, and in wsca-serve(1) the relay.yaml reference. That reference
// is rendered from docs/serve.md, its one owner, so the two cannot drift: TestDocsUpToDate fails until the
// pages are regenerated after serve.md changes.

const manEnvironment = `.SH ENVIRONMENT
.TP
\fBWSCA_DIR\fP
The CA directory when \fB--dir\fP is not given (default: \fIpki\fP in the current directory).
.TP
\fBWSCA_PASSPHRASE_FILE\fP
File holding the CA key passphrase when \fB--passphrase-file\fP is not given; without either, wsca asks on
the terminal, and fails with a hint when there is none. Keep the file 0600, and its copies apart from backups
that hold the CA keys (wsca backup never includes it).
`

const manFiles = `.SH FILES
.TP
\fIDIR/ca.crt\fP
The CA bundle to distribute: intermediate and root certificates (public).
.TP
\fIDIR/crl.pem\fP
The current CRLs, intermediate then root (public); copy targets registered with \fBwsca crl --copy-to\fP receive copies.
.TP
\fIDIR/root-crl.pem\fP
The last root CRL, reused while the root key is offline.
.TP
\fIDIR/root.crt\fP, \fIDIR/intermediate.crt\fP
The CA certificates.
.TP
\fIDIR/root.key\fP, \fIDIR/intermediate.key\fP
The CA keys, encrypted with the passphrase, mode 0600 (root.key may be kept offline).
.TP
\fIDIR/wsca.db\fP
The issuance database (bbolt): every certificate, revocation and audit entry.
.TP
\fI/etc/wsca-relay/relay.yaml\fP
The conventional place of the \fBwsca serve\fP configuration (see \fBwsca-serve\fP(1)).
.PP
DIR is \fB--dir\fP, \fBWSCA_DIR\fP or \fIpki\fP; it is created 0700.
`

const manExitStatus = `.SH EXIT STATUS
.TP
\fB0\fP
Success.
.TP
\fB1\fP
An error: the message on standard error starts with "wsca: error:", often followed by a "wsca: hint:" line with the next step.
.TP
\fB2\fP
A usage error: an unknown command or flag, a missing or extra argument, a flag value that is not allowed.
`

// manExtras returns the sections added to cmd's man page, before SEE ALSO.
func manExtras(cmd *cobra.Command, serveMD []byte) (string, error) {
	var b strings.Builder
	b.WriteString(manEnvironment)
	b.WriteString(manFiles)
	b.WriteString(manExitStatus)
	if cmd.CommandPath() == "wsca serve" {
		ref, err := relayYAMLReference(serveMD)
		if err != nil {
			return "", err
		}
		b.WriteString(ref)
	}
	return b.String(), nil
}

// insertManSections puts extra before the SEE ALSO section of a cobra man page (or at its end).
func insertManSections(page []byte, extra string) []byte {
	marker := []byte(".SH SEE ALSO")
	i := bytes.Index(page, marker)
	if i < 0 {
		return append(page, extra...)
	}
	out := append([]byte{}, page[:i]...)
	out = append(out, extra...)
	out = append(out, '\n')
	return append(out, page[i:]...)
}

// relayYAMLReference renders docs/serve.md's "Configuration file" section (the example and the key tables)
// as a man page section.
func relayYAMLReference(serveMD []byte) (string, error) {
	s := string(serveMD)
	start := strings.Index(s, "\n## Configuration file\n")
	if start < 0 {
		return "", fmt.Errorf("docs/serve.md has no \"## Configuration file\" section")
	}
	rest := s[start+len("\n## Configuration file\n"):]
	if end := strings.Index(rest, "\n## "); end >= 0 {
		rest = rest[:end]
	}
	var b strings.Builder
	b.WriteString(".SH RELAY.YAML\n")
	inCode := false
	for _, line := range strings.Split(rest, "\n") {
		switch {
		case strings.HasPrefix(line, "```"):
			if inCode {
				b.WriteString(".fi\n.RE\n")
			} else {
				b.WriteString(".PP\n.RS\n.nf\n")
			}
			inCode = !inCode
		case inCode:
			b.WriteString(roffLine(roffEscape(line)) + "\n")
		case strings.HasPrefix(line, "### "):
			b.WriteString(".SS " + roffEscape(strings.Trim(line[4:], "`")) + "\n")
		case strings.HasPrefix(line, "|"):
			b.WriteString(manTableRow(line))
		case strings.TrimSpace(line) == "":
			b.WriteString(".PP\n")
		default:
			b.WriteString(roffLine(mdInline(line)) + "\n")
		}
	}
	return b.String(), nil
}

// manTableRow turns a "| key | default | meaning | Apache |" row into a tagged paragraph; the header and the
// separator rows are dropped.
func manTableRow(line string) string {
	cells := strings.Split(strings.Trim(strings.TrimSpace(line), "|"), "|")
	for i := range cells {
		cells[i] = strings.TrimSpace(cells[i])
	}
	if len(cells) < 3 || cells[0] == "key" || strings.HasPrefix(cells[0], "---") {
		return ""
	}
	text := strings.TrimSuffix(mdInline(cells[2]), ".") + "."
	switch def := cells[1]; {
	case def == "(required)":
		text += " Required."
	case strings.HasPrefix(def, "("):
		text += " Default: " + mdInline(strings.Trim(def, "()")) + "."
	default:
		text += " Default: " + mdInline(def) + "."
	}
	if len(cells) > 3 && cells[3] != "—" && cells[3] != "" {
		text += " Apache: " + mdInline(cells[3]) + "."
	}
	return ".TP\n" + roffLine(mdInline(cells[0])) + "\n" + roffLine(text) + "\n"
}

// mdInline renders `code` in bold and drops Markdown links' targets.
func mdInline(s string) string {
	s = roffEscape(s)
	var b strings.Builder
	bold := false
	for _, r := range s {
		if r == '`' {
			if bold {
				b.WriteString(`\fP`)
			} else {
				b.WriteString(`\fB`)
			}
			bold = !bold
			continue
		}
		b.WriteRune(r)
	}
	if bold {
		b.WriteString(`\fP`)
	}
	return b.String()
}

func roffEscape(s string) string {
	return strings.NewReplacer(`\`, `\e`, "-", `\-`).Replace(s)
}

// roffLine keeps a line from being read as a roff request.
func roffLine(s string) string {
	if strings.HasPrefix(s, ".") || strings.HasPrefix(s, "'") {
		return `\&` + s
	}
	return s
}

func readServeMD() ([]byte, error) {
	return os.ReadFile(filepath.Join("..", "..", "docs", "serve.md"))
}

// TestManPagesCarryReference checks the sections a packaged binary's man pages need, and that the relay.yaml
// reference in wsca-serve(1) holds every key documented in docs/serve.md.
func TestManPagesCarryReference(t *testing.T) {
	files, err := renderDocs()
	if err != nil {
		t.Fatal(err)
	}
	for _, page := range []string{"man/wsca.1", "man/wsca-issue.1", "man/wsca-serve.1"} {
		for _, want := range []string{".SH ENVIRONMENT", "WSCA_DIR", "WSCA_PASSPHRASE_FILE", ".SH FILES", ".SH EXIT STATUS"} {
			if !bytes.Contains(files[page], []byte(want)) {
				t.Errorf("%s lacks %q", page, want)
			}
		}
	}
	serve := string(files["man/wsca-serve.1"])
	for _, key := range []string{"client_ca", "crl_grace", "verify_depth", "allow_ou", "allow_cidr", "idle_timeout", "websocket_only", "shutdown_grace"} {
		if !strings.Contains(serve, strings.ReplaceAll(key, "-", `\-`)) {
			t.Errorf("wsca-serve.1 relay.yaml reference lacks %s", key)
		}
	}
	if !strings.Contains(serve, ".SH RELAY.YAML") {
		t.Error("wsca-serve.1 has no RELAY.YAML section")
	}
}

// TestEveryCommandDocumented checks that each command a user can run has a description beyond its one-line
// summary and examples, and that the global-flag table knows it (so its help hides what it does not read).
func TestEveryCommandDocumented(t *testing.T) {
	for _, c := range visibleCommands(docsRoot()) {
		path := c.CommandPath()
		if path == "wsca help" {
			continue
		}
		if strings.TrimSpace(c.Long) == "" {
			t.Errorf("%s has no long description", path)
		}
		if !strings.Contains(c.Example, "$ wsca") {
			t.Errorf("%s has no example session ($ wsca …)", path)
		}
		if _, ok := globalsUsed[path]; !ok {
			t.Errorf("%s is missing from globalsUsed", path)
		}
	}
}
