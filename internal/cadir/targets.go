package cadir

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/wsca/wsca/internal/atomicfile"
	"github.com/wsca/wsca/store"
)

// ErrTargetNotCRL means a copy target was asked for a run that does not write crl.pem (another output file, or
// DER): a target mirrors crl.pem of the CA directory, byte for byte, so it can only be registered with it.
var ErrTargetNotCRL = errors.New("a copy target mirrors crl.pem of the CA directory")

// TargetResult is what one CRL run did to one copy target.
type TargetResult struct {
	Path      string
	Refreshed bool  // its content differed from crl.pem and was replaced
	Err       error // it could not be written (the other targets were still refreshed)
}

// TargetsError lists the copy targets a CRL run could not refresh. crl.pem and every other target were written.
type TargetsError struct {
	Failed []TargetResult
	Total  int // registered targets
}

func (e *TargetsError) Error() string {
	parts := make([]string, len(e.Failed))
	for i, f := range e.Failed {
		parts[i] = fmt.Sprintf("copy target %s not refreshed: %v", f.Path, f.Err)
	}
	if len(e.Failed) == 1 {
		return parts[0]
	}
	return fmt.Sprintf("%d of %d copy targets not refreshed: %s", len(e.Failed), e.Total, strings.Join(parts, "; "))
}

// Unwrap returns each failure's cause, so errors.Is finds fs.ErrPermission or fs.ErrNotExist.
func (e *TargetsError) Unwrap() []error {
	errs := make([]error, len(e.Failed))
	for i, f := range e.Failed {
		errs[i] = f.Err
	}
	return errs
}

// targetPaths checks and cleans the paths a CRL run is asked to register.
func (d *Dir) targetPaths(opt CRLOptions, out string) ([]string, error) {
	if len(opt.CopyTo) == 0 {
		return nil, nil
	}
	crlPath, err := filepath.Abs(d.File(CRLFile))
	if err != nil {
		return nil, err
	}
	if abs, err := filepath.Abs(out); err != nil || abs != crlPath || opt.DER {
		return nil, fmt.Errorf("%w: register copy targets in a run that writes %s", ErrTargetNotCRL, d.File(CRLFile))
	}
	var paths []string
	for _, p := range opt.CopyTo {
		abs, err := filepath.Abs(p)
		if err != nil {
			return nil, fmt.Errorf("copy target %q: %w", p, err)
		}
		if abs == crlPath {
			return nil, fmt.Errorf("copy target %s is crl.pem itself: name a path outside the CA directory", p)
		}
		// A typo must not become a target that fails on every run from now on.
		if st, err := os.Stat(filepath.Dir(abs)); err != nil || !st.IsDir() {
			return nil, fmt.Errorf("copy target %s: directory %s does not exist: create it first", p, filepath.Dir(abs))
		}
		if st, err := os.Stat(abs); err == nil && st.IsDir() {
			return nil, fmt.Errorf("copy target %s is a directory: name the file, e.g. %s", p, filepath.Join(p, CRLFile))
		}
		paths = append(paths, abs)
	}
	return paths, nil
}

// registerTargets adds paths to the registered copy targets and returns those that were new.
func (d *Dir) registerTargets(st *store.Store, paths []string) ([]string, error) {
	var added []string
	for _, p := range paths {
		ok, err := st.AddCRLTarget(p, d.User)
		if err != nil {
			return nil, err
		}
		if ok {
			added = append(added, p)
		}
	}
	return added, nil
}

// syncTargets makes every registered copy target byte-identical to crl.pem and records what it did in res. It
// runs with the database open read-write, so runs are serialised by its lock: two runs can never rename an
// older crl.pem over a newer copy.
func (d *Dir) syncTargets(st *store.Store, res *CRLResult) error {
	paths, err := st.CRLTargets()
	if err != nil {
		return err
	}
	src := d.File(CRLFile)
	var failed []TargetResult
	for _, p := range paths {
		r := TargetResult{Path: p}
		same, err := CompareTarget(src, p)
		switch {
		case err != nil:
			r.Err = err
		case !same:
			r.Err = copyFile(src, p)
			r.Refreshed = r.Err == nil
		}
		res.Targets = append(res.Targets, r)
		if r.Err != nil {
			failed = append(failed, r)
		}
	}
	if len(failed) > 0 {
		return &TargetsError{Failed: failed, Total: len(paths)}
	}
	return nil
}

// CompareTarget reports whether target holds exactly the bytes of crlPath. A missing or unreadable target
// differs (it must be rewritten); only a crlPath that cannot be read is an error. It compares in chunks, so a
// CRL of 60 MiB is never held in memory.
func CompareTarget(crlPath, target string) (bool, error) {
	a, err := os.Open(crlPath)
	if err != nil {
		return false, fmt.Errorf("reading %s: %w", crlPath, err)
	}
	defer a.Close()
	b, err := os.Open(target)
	if err != nil {
		return false, nil
	}
	defer b.Close()
	sa, err1 := a.Stat()
	sb, err2 := b.Stat()
	if err1 != nil || err2 != nil || sa.Size() != sb.Size() || !sb.Mode().IsRegular() {
		return false, nil
	}
	bufA, bufB := make([]byte, 64<<10), make([]byte, 64<<10)
	for {
		na, errA := io.ReadFull(a, bufA)
		nb, errB := io.ReadFull(b, bufB)
		if na != nb || !bytes.Equal(bufA[:na], bufB[:nb]) {
			return false, nil
		}
		if errA != nil || errB != nil {
			if !isEOF(errA) {
				return false, fmt.Errorf("reading %s: %w", crlPath, errA)
			}
			return isEOF(errB), nil
		}
	}
}

func isEOF(err error) bool { return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) }

// copyFile replaces dst with the content of src atomically (mode 0644), so a server never reads half a CRL.
func copyFile(src, dst string) error {
	return atomicfile.WriteFunc(dst, 0o644, func(w io.Writer) error {
		f, err := os.Open(src)
		if err != nil {
			return err
		}
		defer f.Close()
		_, err = io.Copy(w, f)
		return err
	})
}

// TargetStatus is a registered copy target and whether it holds crl.pem's bytes.
type TargetStatus struct {
	Path    string
	Exists  bool
	Current bool
}

// CRLTargets lists the registered copy targets and whether each is current. It opens the database read-only.
func (d *Dir) CRLTargets() ([]TargetStatus, error) {
	st, err := d.OpenStore(true)
	if err != nil {
		return nil, err
	}
	defer st.Close()
	paths, err := st.CRLTargets()
	if err != nil {
		return nil, err
	}
	out := make([]TargetStatus, 0, len(paths))
	for _, p := range paths {
		same, err := CompareTarget(d.File(CRLFile), p)
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return nil, err
		}
		_, statErr := os.Stat(p)
		out = append(out, TargetStatus{Path: p, Exists: statErr == nil, Current: same})
	}
	return out, nil
}

// RemoveCRLTarget forgets a copy target (the file is left where it is). It reports false when the path was not
// registered.
func (d *Dir) RemoveCRLTarget(path string) (bool, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return false, err
	}
	st, err := d.OpenStore(false)
	if err != nil {
		return false, err
	}
	defer st.Close()
	return st.RemoveCRLTarget(abs, d.User)
}
