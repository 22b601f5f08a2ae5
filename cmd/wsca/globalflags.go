package main

import (
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// globalsUsed names, per command, the global flags it reads. The others are hidden from its help and its
// pages: --passphrase-file under wsca list would suggest that listing needs the key. A command missing from
// the table shows them all, so a new command errs on the side of showing too much.
var globalsUsed = map[string][]string{
	"wsca":                       {"dir", "lock-timeout", "passphrase-file", "verbose"},
	"wsca audit":                 {"dir", "lock-timeout"},
	"wsca backup":                {"dir", "lock-timeout", "verbose"},
	"wsca client":                {"dir"},
	"wsca completion":            {},
	"wsca config":                {"dir"},
	"wsca crl":                   {"dir", "lock-timeout", "passphrase-file", "verbose"},
	"wsca doctor":                {"dir", "lock-timeout", "passphrase-file"},
	"wsca import":                {"dir", "lock-timeout", "passphrase-file"},
	"wsca init":                  {"dir", "passphrase-file"},
	"wsca issue":                 {"dir", "lock-timeout", "passphrase-file", "verbose"},
	"wsca list":                  {"dir", "lock-timeout"},
	"wsca restore":               {"dir", "lock-timeout", "passphrase-file"},
	"wsca revoke":                {"dir", "lock-timeout", "passphrase-file"},
	"wsca serve":                 {"dir"},
	"wsca show":                  {"dir", "lock-timeout"},
	"wsca sign":                  {"dir", "lock-timeout", "passphrase-file"},
	"wsca unrevoke":              {"dir", "lock-timeout", "passphrase-file"},
	"wsca verify":                {"dir"},
	"wsca help":                  {},
	"wsca crl fetch":             {"dir", "verbose"},
	"wsca publish":               {"dir"},
	"wsca version":               {},
	"wsca enroll":                {"dir", "lock-timeout", "passphrase-file"},
	"wsca renew":                 {},
	"wsca import openssl":        {"dir", "lock-timeout", "passphrase-file"},
	"wsca import easy-rsa":       {"dir", "lock-timeout", "passphrase-file"},
	"wsca completion bash":       {},
	"wsca completion zsh":        {},
	"wsca completion fish":       {},
	"wsca completion powershell": {},
}

// withUnusedGlobalsHidden runs fn with the global flags cmd does not read marked hidden, then restores them.
// The flags are shared by every command, so the marks must not outlive fn.
func withUnusedGlobalsHidden(cmd *cobra.Command, fn func()) {
	used, ok := globalsUsed[cmd.CommandPath()]
	if !ok {
		fn()
		return
	}
	var hidden []*pflag.Flag
	cmd.Root().PersistentFlags().VisitAll(func(f *pflag.Flag) {
		if f.Hidden || cmd.Root() == cmd {
			return
		}
		for _, u := range used {
			if u == f.Name {
				return
			}
		}
		f.Hidden = true
		hidden = append(hidden, f)
	})
	defer func() {
		for _, f := range hidden {
			f.Hidden = false
		}
	}()
	fn()
}

// installHelp makes --help and wsca help hide the global flags a command does not read.
func installHelp(root *cobra.Command) {
	defHelp := root.HelpFunc()
	root.SetHelpFunc(func(cmd *cobra.Command, args []string) {
		withUnusedGlobalsHidden(cmd, func() { defHelp(cmd, args) })
	})
}

// addCompletionExamples creates Cobra's completion commands now (Cobra adds them only when executing) to give
// each an example of installing it; their descriptions are Cobra's own.
func addCompletionExamples(root *cobra.Command) {
	root.InitDefaultCompletionCmd()
	examples := map[string]string{
		"bash":       "  $ wsca completion bash > /etc/bash_completion.d/wsca\n  $ source <(wsca completion bash)",
		"zsh":        "  $ wsca completion zsh > \"${fpath[1]}/_wsca\"",
		"fish":       "  $ wsca completion fish > ~/.config/fish/completions/wsca.fish",
		"powershell": "  PS> wsca completion powershell | Out-String | Invoke-Expression\n  $ wsca completion powershell > wsca.ps1",
	}
	for _, c := range root.Commands() {
		if c.Name() != "completion" {
			continue
		}
		c.Example = "  $ wsca completion bash > /etc/bash_completion.d/wsca\n  $ wsca completion zsh > \"${fpath[1]}/_wsca\""
		for _, sub := range c.Commands() {
			sub.Example = examples[sub.Name()]
		}
	}
}
