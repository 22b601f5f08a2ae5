package main

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"github.com/wsca/wsca/internal/editdist"
)

// hintedError carries its own next step, for hints that need the values of this invocation (a host, a file)
// rather than a fixed sentence chosen by sentinel in hint.
type hintedError struct {
	err  error
	hint string
}

func (e hintedError) Error() string { return e.err.Error() }
func (e hintedError) Unwrap() error { return e.err }

// withHint attaches a next step to err. hint reports the outermost hintedError of a chain (errors.As).
func withHint(err error, format string, args ...any) error {
	return hintedError{err: err, hint: fmt.Sprintf(format, args...)}
}

// rootArgs replaces Cobra's unknown-command check, whose error is several lines ("Did you mean this?" and a
// tab-indented list) and not a usage error. It gives one line, exit 2, and a "did you mean" hint.
func rootArgs(cmd *cobra.Command, args []string) error {
	if len(args) == 0 {
		return nil
	}
	err := usageError{fmt.Errorf("unknown command %q", args[0])}
	if s := cmd.SuggestionsFor(args[0]); len(s) > 0 {
		return withHint(err, "did you mean wsca %s? (wsca --help lists the commands)", strings.Join(s, " or wsca "))
	}
	return withHint(err, "wsca --help lists the commands")
}

// newHelpCmd replaces Cobra's help command, which prints "Unknown help topic" for `wsca help lsit` and exits 0:
// an unknown topic is a usage error (exit 2) with a "did you mean" hint, like an unknown command.
func newHelpCmd(root *cobra.Command) *cobra.Command {
	return &cobra.Command{
		Use:   "help [command]",
		Short: "Help about any command",
		Long:  "Help provides help for any command in the application.\nSimply type wsca help [path to command] for full details.",
		RunE: func(_ *cobra.Command, args []string) error {
			cmd, rest, err := root.Find(args)
			if err == nil && cmd != nil && (len(rest) == 0 || !cmd.HasSubCommands()) {
				return cmd.Help()
			}
			if cmd == nil || len(rest) == 0 {
				cmd, rest = root, args
			}
			topic := usageError{fmt.Errorf("unknown help topic %q", strings.Join(args, " "))}
			path := strings.TrimPrefix(cmd.CommandPath()+" ", "wsca ")
			if cmd.SuggestionsMinimumDistance <= 0 {
				cmd.SuggestionsMinimumDistance = 2 // what Cobra sets before its own suggestions
			}
			if s := cmd.SuggestionsFor(rest[0]); len(s) > 0 {
				return withHint(topic, "did you mean wsca help %s%s? (wsca --help lists the commands)", path,
					strings.Join(s, " or wsca help "+path))
			}
			return withHint(topic, "wsca --help lists the commands")
		},
	}
}

// flagError turns pflag's parse errors into usage errors (exit 2), with "did you mean --email?" for a
// misspelt flag.
func flagError(cmd *cobra.Command, err error) error {
	var ne *pflag.NotExistError
	if !errors.As(err, &ne) {
		return usageError{err}
	}
	name := ne.GetSpecifiedName()
	if name == "" || ne.GetSpecifiedShortnames() != "" {
		return withHint(usageError{fmt.Errorf("unknown flag -%s", name)}, "wsca %s --help lists its flags", cmd.Name())
	}
	if s := suggestFlag(cmd, name); s != "" {
		return withHint(usageError{fmt.Errorf("unknown flag --%s", name)}, "did you mean --%s? (wsca %s --help lists its flags)", s, cmd.Name())
	}
	return withHint(usageError{fmt.Errorf("unknown flag --%s", name)}, "wsca %s --help lists its flags", cmd.Name())
}

// suggestFlag returns the visible flag of cmd closest to name: within two edits, or one that name is a
// prefix of; "" when none is close.
func suggestFlag(cmd *cobra.Command, name string) string {
	best, bestDist := "", 3
	var names []string
	cmd.Flags().VisitAll(func(f *pflag.Flag) {
		if !f.Hidden {
			names = append(names, f.Name)
		}
	})
	slices.Sort(names)
	for _, n := range names {
		d := editdist.Distance(strings.ToLower(name), n)
		if strings.HasPrefix(n, name) && len(name) >= 3 {
			d = min(d, 1)
		}
		if d < bestDist {
			best, bestDist = n, d
		}
	}
	return best
}
