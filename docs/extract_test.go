// Package docs holds no code: its tests run the shell examples of README.md and docs/*.md, so that a documented
// command that fails, or prints something the page does not show, fails CI. The convention is described in
// docs/architecture.md ("Documentation that runs").
package docs

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// shellLangs are the fence info strings of blocks a reader would paste into a terminal. Every such block must
// carry a docs-test marker; other blocks (yaml, apache, go, output without a language) are not commands.
var shellLangs = map[string]bool{
	"sh": true, "bash": true, "shell": true, "console": true, "zsh": true, "powershell": true, "cmd": true,
}

// Marks a block can carry, on the line right before its opening fence.
const (
	markRun        = "run"        // run in order; in a console block the lines after "$ cmd" are its output
	markBackground = "background" // start each command and keep it running until the page ends
	markOutputOf   = "output-of"  // the whole output of background command N of the page (1-based)
	markSkip       = "skip"       // not runnable here; the reason follows and is mandatory
	// markAfter stands alone (no block follows): the page continues another page's story, whose run blocks are
	// run first in the same sandbox (the README quick start's CA in /etc/wsca, say).
	markAfter = "after"
)

var (
	markerRe = regexp.MustCompile(`^<!--\s*docs-test:\s*(.*?)\s*-->\s*$`)
	fenceRe  = regexp.MustCompile("^( {0,3})```\\s*([A-Za-z0-9_-]*)")
)

// block is one fenced code block and the mark before it.
type block struct {
	file string
	line int // line number of the opening fence, 1-based
	lang string
	mark string
	arg  string // the reason of a skip, the number of an output-of
	body []string
}

func (b block) where() string { return fmt.Sprintf("%s:%d", b.file, b.line) }

// extract returns the fenced blocks of a Markdown page with their marks. It fails on a shell block without a
// mark, a skip without a reason, an unknown mark, a mark followed by anything but a fence, and an unclosed fence:
// the page must say for every example whether it runs.
func extract(file, src string) ([]block, error) {
	lines := strings.Split(strings.ReplaceAll(src, "\r\n", "\n"), "\n")
	var blocks []block
	var errs []string
	pending, pendingLine := "", 0
	for i := 0; i < len(lines); i++ {
		if m := markerRe.FindStringSubmatch(strings.TrimSpace(lines[i])); m != nil {
			if name, arg, _ := strings.Cut(m[1], ":"); strings.TrimSpace(name) == markAfter {
				blocks = append(blocks, block{file: file, line: i + 1, mark: markAfter, arg: strings.TrimSpace(arg)})
				continue
			}
			pending, pendingLine = m[1], i+1
			continue
		}
		f := fenceRe.FindStringSubmatch(lines[i])
		if f == nil {
			if pending != "" && strings.TrimSpace(lines[i]) != "" {
				errs = append(errs, fmt.Sprintf("%s:%d: docs-test marker is not followed by a fenced block", file, pendingLine))
				pending = ""
			}
			continue
		}
		b := block{file: file, line: i + 1, lang: strings.ToLower(f[2])}
		indent := len(f[1])
		closed := false
		for i++; i < len(lines); i++ {
			if strings.HasPrefix(strings.TrimLeft(lines[i], " "), "```") {
				closed = true
				break
			}
			l := lines[i]
			if len(l) >= indent && strings.TrimSpace(l[:indent]) == "" {
				l = l[indent:]
			}
			b.body = append(b.body, l)
		}
		if !closed {
			errs = append(errs, fmt.Sprintf("%s: fence is never closed", b.where()))
			break
		}
		if err := b.setMark(pending); err != nil {
			errs = append(errs, fmt.Sprintf("%s: %v", b.where(), err))
		}
		pending = ""
		blocks = append(blocks, b)
	}
	if len(errs) > 0 {
		return blocks, fmt.Errorf("%s", strings.Join(errs, "\n"))
	}
	return blocks, nil
}

// setMark parses the text of a docs-test marker ("" when there was none) into the block.
func (b *block) setMark(text string) error {
	if text == "" {
		if shellLangs[b.lang] || b.prompted() {
			kind := b.lang
			if kind == "" {
				kind = "unlabelled"
			}
			return fmt.Errorf("%s block has no docs-test marker: put <!-- docs-test: run --> or "+
				"<!-- docs-test: skip: WHY IT CANNOT RUN HERE --> on the line before it", kind)
		}
		return nil
	}
	name, arg, _ := strings.Cut(text, ":")
	name, arg = strings.TrimSpace(name), strings.TrimSpace(arg)
	switch name {
	case markRun, markBackground:
		if arg != "" {
			return fmt.Errorf("docs-test: %s takes no argument, got %q", name, arg)
		}
	case markSkip:
		if arg == "" {
			return fmt.Errorf("docs-test: skip needs a reason: <!-- docs-test: skip: WHY -->")
		}
	case markOutputOf:
		if n, err := strconv.Atoi(arg); err != nil || n < 1 {
			return fmt.Errorf("docs-test: output-of needs the number of a background command, got %q", arg)
		}
	default:
		return fmt.Errorf("unknown docs-test mark %q (run, background, output-of: N, skip: REASON)", name)
	}
	if name != markSkip && !shellLangs[b.lang] && !b.prompted() && name != markOutputOf {
		return fmt.Errorf("docs-test: %s on a %q block: only sh and console blocks run", name, b.lang)
	}
	b.mark, b.arg = name, arg
	return nil
}

// prompted reports whether the block is a terminal session: a console block, or any block whose first line is a
// "$ " prompt (an sh block pasted with its output, an unlabelled one).
func (b block) prompted() bool {
	if b.lang == "console" {
		return true
	}
	for _, l := range b.body {
		if strings.TrimSpace(l) != "" {
			return strings.HasPrefix(l, "$ ")
		}
	}
	return false
}

// step is one command of a block and the output the page shows for it (console blocks only).
type step struct {
	cmd    string
	output []string
	shown  bool // the page shows the output (console block), so it is compared
}

// steps splits a block into commands. An sh block is one step (the page shows no output, so none is compared);
// a console block has a step per "$ " line, its output the lines up to the next "$ ". A line ending in "\"
// continues on the next.
func (b block) steps() []step {
	if !b.prompted() {
		return []step{{cmd: strings.Join(b.body, "\n")}}
	}
	var out []step
	for i := 0; i < len(b.body); i++ {
		l := b.body[i]
		if !strings.HasPrefix(l, "$ ") {
			if len(out) > 0 {
				out[len(out)-1].output = append(out[len(out)-1].output, l)
			}
			continue
		}
		cmd := strings.TrimPrefix(l, "$ ")
		for strings.HasSuffix(cmd, "\\") && i+1 < len(b.body) {
			i++
			cmd += "\n" + b.body[i]
		}
		out = append(out, step{cmd: cmd, shown: true})
	}
	return out
}
