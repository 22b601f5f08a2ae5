package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"time"
)

// runHook runs an --exec command through /bin/sh -c with its output on stderr (stdout stays for what the command
// was asked), extra appended to the environment, and ends it after timeout: a hung `systemctl reload` must not
// stop a sidecar or a renewal daemon for ever. The error names the command.
func runHook(ctx context.Context, g *globals, command string, timeout time.Duration, extra ...string) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	c := exec.CommandContext(ctx, "/bin/sh", "-c", command)
	c.Stdout, c.Stderr = g.env.stderr, g.env.stderr
	if len(extra) > 0 {
		c.Env = append(os.Environ(), extra...)
	}
	if err := c.Run(); err != nil {
		return fmt.Errorf("--exec %q: %w", command, err)
	}
	return nil
}
