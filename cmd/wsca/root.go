package main

import (
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"os"
	"os/user"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/wsca/wsca/internal/buildinfo"
	"github.com/wsca/wsca/internal/cadir"
)

// env is everything a command may touch outside its arguments: streams, environment, clock and
// randomness. Tests build one with buffers; main builds the real one.
type env struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	getenv         func(string) string
	now            func() time.Time
	rand           io.Reader
	// tty opens the controlling terminal for prompts; nil when there is none.
	tty func() (*os.File, error)
	// stderrIsTerminal reports whether progress output may use carriage returns.
	stderrIsTerminal bool
	// restoreStep, nil in production, is called at each step of wsca restore's swap: the crash tests
	// (restore_crash_test.go) kill the process there.
	restoreStep func(string)
}

func newEnv() *env {
	return &env{
		stdin: os.Stdin, stdout: os.Stdout, stderr: os.Stderr,
		getenv: os.Getenv, now: time.Now, rand: rand.Reader,
		tty:              func() (*os.File, error) { return os.OpenFile("/dev/tty", os.O_RDWR, 0) },
		stderrIsTerminal: term.IsTerminal(int(os.Stderr.Fd())),
	}
}

// globals are the flags every command shares.
type globals struct {
	env            *env
	dir            string
	lockTimeout    time.Duration
	passphraseFile string
	verbose        bool
}

// errAlreadyReported is a failure the command has already described on its output (wsca doctor's summary):
// exit 1 without an error line that would say it twice.
var errAlreadyReported = errors.New("already reported")

// usageError marks errors in how wsca was called: exit code 2.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

// run executes wsca with args and returns the process exit code: 0 ok, 1 error, 2 usage.
func run(e *env, args []string) int {
	root := newRootCmd(e)
	root.SetArgs(args)
	err := root.Execute()
	if err == nil {
		return 0
	}
	if errors.Is(err, errAlreadyReported) {
		return 1
	}
	fmt.Fprintf(e.stderr, "wsca: error: %v\n", err)
	if h := hint(err); h != "" {
		fmt.Fprintf(e.stderr, "wsca: hint: %s\n", h)
	}
	var ue usageError
	if errors.As(err, &ue) {
		return 2
	}
	return 1
}

func newRootCmd(e *env) *cobra.Command {
	g := &globals{env: e}
	root := &cobra.Command{
		Use:   "wsca",
		Short: "private CA for client certificates, with an mTLS-gated WebSocket relay",
		Long: `wsca runs a private certificate authority for client certificates (a root and an
intermediate CA, an issuance database, CRLs) and a relay that admits WebSocket clients by
certificate. It replaces openssl ca/req/x509/pkcs12 and Apache mod_ssl + mod_proxy_wstunnel.

Every command reads the CA directory from --dir or WSCA_DIR (default ./pki). Errors are one line
"wsca: error: …", often followed by "wsca: hint: …" with the next step; exit 0 ok, 1 error, 2 usage.`,
		Example: `  $ wsca init --name "Example CA" --dir /etc/wsca
  $ wsca issue alice --email alice@example.com --p12
  $ wsca revoke alice --reason keyCompromise
  $ wsca serve --config /etc/wsca-relay/relay.yaml`,
		SilenceUsage:  true,
		SilenceErrors: true,
		// --version prints what `wsca version` prints (cobra adds the flag when Version is set).
		Version: buildinfo.Read().String(),
	}
	root.SetVersionTemplate("{{.Version}}")
	root.SetOut(e.stdout)
	root.SetErr(e.stderr)
	root.SetIn(e.stdin)
	root.SetFlagErrorFunc(flagError)
	root.Args = rootArgs
	root.SuggestionsMinimumDistance = 2
	// Runnable so that rootArgs, not Cobra's legacy check, judges "wsca lsit"; bare wsca prints the help.
	root.RunE = func(cmd *cobra.Command, _ []string) error { return cmd.Help() }
	// A wsca restore killed after its commit point is finished before any command reads the CA directory
	// (internal/cadir/swap.go); doctor only reads and reports it.
	root.PersistentPreRunE = func(cmd *cobra.Command, _ []string) error {
		if cmd.Name() == "doctor" {
			return nil
		}
		if st, err := os.Stat(g.dir); err != nil || !st.IsDir() {
			return nil
		}
		return g.caDir().RecoverSwap()
	}

	defDir := e.getenv("WSCA_DIR")
	if defDir == "" {
		defDir = "pki"
	}
	pf := root.PersistentFlags()
	pf.StringVar(&g.dir, "dir", defDir, "CA directory (env WSCA_DIR)")
	pf.DurationVar(&g.lockTimeout, "lock-timeout", 5*time.Second, "how long to wait for another wsca process holding the database")
	pf.StringVar(&g.passphraseFile, "passphrase-file", e.getenv("WSCA_PASSPHRASE_FILE"), "file holding the CA key passphrase (env WSCA_PASSPHRASE_FILE); default: ask on the terminal")
	pf.BoolVarP(&g.verbose, "verbose", "v", false, "say what was done even when all went well")
	// Declared here, not left to cobra, for a useful help line; cobra still acts on it because Version is set.
	root.Flags().Bool("version", false, "print the version, VCS revision and Go version (as wsca version)")

	root.AddCommand(
		newInitCmd(g),
		newIssueCmd(g),
		newSignCmd(g),
		newListCmd(g),
		newShowCmd(g),
		newRevokeCmd(g),
		newUnrevokeCmd(g),
		newCRLCmd(g),
		newVerifyCmd(g),
		newServeCmd(g),
		newPublishCmd(g),
		newEnrollCmd(g), newRenewCmd(g),
		newImportCmd(g), newBackupCmd(g), newRestoreCmd(g), newAuditCmd(g),
		newConfigCmd(g),
		newDoctorCmd(g),
		newClientCmd(g),
		newVersionCmd(g),
	)
	addCompletionExamples(root)
	root.SetHelpCommand(newHelpCmd(root))
	installHelp(root)
	return root
}

// caDir returns the CA directory with this invocation's dependencies.
func (g *globals) caDir() *cadir.Dir {
	return &cadir.Dir{
		Path:        filepath.Clean(g.dir),
		Rand:        g.env.rand,
		Now:         g.env.now,
		User:        osUser(),
		LockTimeout: g.lockTimeout,
		Passphrase:  g.passphrase(false),
	}
}

func osUser() string {
	if u, err := user.Current(); err == nil {
		return u.Username
	}
	return fmt.Sprintf("uid %d", os.Getuid())
}

// exactArgs is cobra.ExactArgs with a usage error and a message that names what is missing.
func exactArgs(n int, what string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) != n {
			return usageError{fmt.Errorf("%s needs %s (got %d arguments); see %s --help", cmd.CommandPath(), what, len(args), cmd.CommandPath())}
		}
		return nil
	}
}
