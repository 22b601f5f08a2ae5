package docs

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Bounds of every wait: a documented command that hangs fails the page instead of the CI job.
const (
	stepTimeout    = 3 * time.Minute  // a foreground command (go install on a cold cache is the slowest)
	outputTimeout  = 30 * time.Second // a background command whose whole output a later block shows ends
	stopGrace      = 5 * time.Second  // SIGTERM → SIGKILL at the end of a page
	expectFailLine = "wsca: error:"
)

// runPage runs the marked blocks of one page in order in the sandbox and returns the first failure, naming the
// block's file and line. Background commands are stopped before it returns.
func runPage(s *sandbox, blocks []block) (err error) {
	defer func() {
		if e := s.stopAll(); err == nil && e != nil {
			err = e
		}
	}()
	return s.runBlocks(blocks, 0)
}

// runBlocks runs the blocks in order; depth bounds a chain of "after" marks.
func (s *sandbox) runBlocks(blocks []block, depth int) error {
	for _, b := range blocks {
		var e error
		switch b.mark {
		case markRun:
			e = s.runBlock(b)
		case markBackground:
			e = s.startBlock(b)
		case markOutputOf:
			e = s.checkOutputOf(b)
		case markAfter:
			e = s.runAfter(b, depth)
		}
		if e != nil {
			return fmt.Errorf("%s: %w", b.where(), e)
		}
	}
	return nil
}

func (s *sandbox) runBlock(b block) error {
	for _, st := range b.steps() {
		cmd, err := s.command(st.cmd)
		if err != nil {
			return err
		}
		ctx, cancel := context.WithTimeout(context.Background(), stepTimeout)
		c := s.bash(s.script(cmd, !st.shown, true))
		c.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		var out bytes.Buffer
		c.Stdout, c.Stderr = &out, &out
		err = c.Start()
		if err == nil {
			err = waitCtx(ctx, c)
		}
		cancel()
		got := s.output(out.String())
		if !st.shown {
			if err != nil {
				return fmt.Errorf("$ %s\nfailed: %v\n\t%s", st.cmd, err, strings.Join(got, "\n\t"))
			}
			continue
		}
		wantFail := false
		for _, l := range st.output {
			wantFail = wantFail || strings.HasPrefix(l, expectFailLine)
		}
		if _, exit := err.(*exec.ExitError); err != nil && !exit {
			return fmt.Errorf("$ %s: %v", st.cmd, err)
		}
		if wantFail && err == nil {
			return fmt.Errorf("$ %s: succeeded, but the page shows an error\n\t%s", st.cmd, strings.Join(got, "\n\t"))
		}
		if !wantFail && err != nil {
			return fmt.Errorf("$ %s: %v, but the page shows success\n\t%s", st.cmd, err, strings.Join(got, "\n\t"))
		}
		if e := matchOutput(st.output, got); e != nil {
			return fmt.Errorf("$ %s: %v", st.cmd, e)
		}
	}
	return nil
}

// waitCtx waits for c, killing its process group when ctx ends (the command may have started children).
func waitCtx(ctx context.Context, c *exec.Cmd) error {
	done := make(chan error, 1)
	go func() { done <- c.Wait() }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		_ = syscall.Kill(-c.Process.Pid, syscall.SIGKILL)
		<-done
		return fmt.Errorf("still running after %v", stepTimeout)
	}
}

// bgProc is a command left running: a server the page starts, or a client that stays connected.
type bgProc struct {
	cmd  string
	c    *exec.Cmd
	mu   sync.Mutex
	out  bytes.Buffer
	done chan struct{}
	err  error
}

func (p *bgProc) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.out.Write(b)
}

func (p *bgProc) text() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.out.String()
}

// startBlock starts the commands of a background block: the "$ " lines of a console block (which must print the
// lines the page shows first), or each line of an sh block (each must print something: it is up and connected).
func (s *sandbox) startBlock(b block) error {
	var steps []step
	if b.prompted() {
		steps = b.steps()
	} else {
		for _, l := range b.body {
			if t := strings.TrimSpace(l); t != "" && !strings.HasPrefix(t, "#") {
				steps = append(steps, step{cmd: l})
			}
		}
	}
	var started []*bgProc
	for _, st := range steps {
		cmd, err := s.command(st.cmd)
		if err != nil {
			return err
		}
		p := &bgProc{cmd: st.cmd, done: make(chan struct{})}
		p.c = s.bash(s.script(cmd, false, false))
		p.c.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		p.c.Stdout, p.c.Stderr = p, p
		if err := p.c.Start(); err != nil {
			return fmt.Errorf("$ %s: %v", st.cmd, err)
		}
		go func() { p.err = p.c.Wait(); close(p.done) }()
		s.bg = append(s.bg, p)
		started = append(started, p)
	}
	deadline := time.Now().Add(s.startTimeout)
	for i, p := range started {
		for finished := false; ; {
			got := s.output(p.text())
			ready := strings.TrimSpace(p.text()) != ""
			if steps[i].shown {
				ready = matchPrefix(steps[i].output, got)
			}
			if ready {
				break
			}
			if finished {
				return fmt.Errorf("$ %s: ended (%v) before printing what the page shows:\n\t%s", p.cmd, p.err,
					strings.Join(got, "\n\t"))
			}
			select {
			case <-p.done:
				finished = true // look at the output once more: it may have printed everything, then ended
			case <-time.After(50 * time.Millisecond):
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("$ %s: after %v the page shows:\n\t%s\nbut it printed:\n\t%s", p.cmd, s.startTimeout,
					strings.Join(steps[i].output, "\n\t"), strings.Join(got, "\n\t"))
			}
		}
	}
	return nil
}

// checkOutputOf waits for background command N to end and compares all it printed with the block.
func (s *sandbox) checkOutputOf(b block) error {
	n, _ := strconv.Atoi(b.arg)
	if n > len(s.bg) {
		return fmt.Errorf("output-of: %d, but only %d background commands were started above", n, len(s.bg))
	}
	p := s.bg[n-1]
	select {
	case <-p.done:
	case <-time.After(outputTimeout):
		return fmt.Errorf("$ %s: still running after %v", p.cmd, outputTimeout)
	}
	if err := matchOutput(b.body, s.output(p.text())); err != nil {
		return fmt.Errorf("$ %s: %v", p.cmd, err)
	}
	return nil
}

// stopAll ends the background commands as Ctrl-C would (SIGINT to the process group), then kills what is left.
func (s *sandbox) stopAll() error {
	var hung []string
	for i := len(s.bg) - 1; i >= 0; i-- { // clients before the servers they hold open
		p := s.bg[i]
		select {
		case <-p.done:
			continue
		default:
		}
		_ = syscall.Kill(-p.c.Process.Pid, syscall.SIGINT)
		select {
		case <-p.done:
		case <-time.After(stopGrace):
			hung = append(hung, p.cmd)
			_ = syscall.Kill(-p.c.Process.Pid, syscall.SIGKILL)
			<-p.done
		}
	}
	s.bg = nil
	if len(hung) > 0 {
		return fmt.Errorf("did not stop within %v of Ctrl-C: %s", stopGrace, strings.Join(hung, "; "))
	}
	return nil
}

// runAfter runs the run blocks of the page a page continues, in the same sandbox. The path is relative to the
// page's directory.
func (s *sandbox) runAfter(b block, depth int) error {
	if depth > 3 {
		return fmt.Errorf("after: %s: more than 3 pages deep", b.arg)
	}
	path := b.arg
	if !filepath.IsAbs(path) {
		path = filepath.Join(filepath.Dir(b.file), path)
	}
	src, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("after: %v", err)
	}
	blocks, err := extract(path, string(src))
	if err != nil {
		return fmt.Errorf("after: %v", err)
	}
	if err := s.runBlocks(blocks, depth+1); err != nil {
		return fmt.Errorf("after: %w", err)
	}
	return nil
}
