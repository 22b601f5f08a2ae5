package cadir

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/wsca/wsca/internal/atomicfile"
	"github.com/wsca/wsca/store"
)

// Replacing the whole CA (wsca restore --force) with a journal.
//
// A CA directory is a set of files (certificates, keys, CRLs, wsca.db and its anchor) that must change
// together, and no file system renames a set of files at once. The directory itself cannot be swapped either:
// it may be a mount point (EBUSY), and servers hold paths into it. So the swap is journalled, as a database
// commits a transaction:
//
//  1. the new CA is staged and validated in StagingPrefix* INSIDE the CA directory — the same file system,
//     so every later step is a rename, never a copy (a copy across file systems is not atomic, and a
//     staging directory next to a mount point would be on another file system);
//  2. the journal SwapJournal is written atomically (temporary file, fsync, rename, directory fsync): the
//     commit point. Before it, the directory holds the complete old CA and a staging directory that any
//     later command removes; after it, the swap is decided;
//  3. every old file is renamed into the replaced-TIMESTAMP directory, then every staged file into place;
//  4. the journal is removed and the empty staging directory with it.
//
// A process killed at any step leaves either no journal and the complete old CA, or the journal, from which
// RecoverSwap — run by every wsca command before it reads the CA directory (doctor excepted, which only
// reports), and by OpenStore — finishes steps 3 and 4. Every step of the recovery is idempotent: it looks at which copy of each file exists.
// Servers that read ca.crt and crl.pem themselves may see the old ca.crt next to the new crl.pem for the
// milliseconds of step 3, as they may during any wsca crl; wsca's own commands never do.

// Names inside the CA directory used by the swap.
const (
	SwapJournal    = ".wsca-swap.json"
	StagingPrefix  = ".wsca-restore-"
	ReplacedPrefix = "replaced-"
)

// swapPlan is the journal's content.
type swapPlan struct {
	Staging string   `json:"staging"` // base name of the staging directory
	Aside   string   `json:"aside"`   // base name of the replaced-TIMESTAMP directory
	Old     []string `json:"old"`     // files of the live CA, moved aside
	New     []string `json:"new"`     // files of the staged CA, moved in
}

// SwapFiles lists the files that make up a CA directory and move together in a swap, in a fixed order.
func SwapFiles() []string {
	return []string{DBFile, AnchorFile, RootCertFile, IntermediateCertFile, BundleFile, CRLFile, RootCRLFile,
		IntermediateKeyFile, RootKeyFile}
}

// NewStaging creates an empty staging directory (mode 0700) inside the CA directory, creating the CA
// directory if needed. The caller must hold the directory lock (LockDir) until SwapIn or RemoveAll.
func (d *Dir) NewStaging() (string, error) {
	if err := atomicfile.MkdirPrivate(d.Path); err != nil {
		return "", err
	}
	return os.MkdirTemp(d.Path, StagingPrefix+"*")
}

// SwapIn replaces the CA in d with the files staged in staging (a directory from NewStaging), as described
// above, and returns the directory the old files were moved into ("" when d held no CA files). step, if not
// nil, is called with the name of each step as it is reached; fault-injection tests kill the process there.
// The caller must hold the directory lock.
func (d *Dir) SwapIn(staging string, step func(string)) (string, error) {
	if step == nil {
		step = func(string) {}
	}
	plan := swapPlan{Staging: filepath.Base(staging)}
	for _, name := range SwapFiles() {
		if _, err := os.Lstat(filepath.Join(staging, name)); err == nil {
			plan.New = append(plan.New, name)
		}
		if _, err := os.Lstat(d.File(name)); err == nil {
			plan.Old = append(plan.Old, name)
		}
	}
	if len(plan.Old) > 0 {
		plan.Aside = ReplacedPrefix + d.now().UTC().Format("20060102T150405.000000000Z")
	}
	if err := atomicfile.SyncDir(staging); err != nil {
		return "", fmt.Errorf("restoring: %w", err)
	}
	step("staged")
	data, err := json.Marshal(plan)
	if err != nil {
		return "", err
	}
	if err := atomicfile.Write(d.File(SwapJournal), data, 0o600); err != nil {
		return "", fmt.Errorf("restoring: writing the journal: %w", err)
	}
	step("journal")
	if err := d.finishSwap(plan, step); err != nil {
		return "", err
	}
	if plan.Aside == "" {
		return "", nil
	}
	return d.File(plan.Aside), nil
}

// finishSwap performs steps 3 and 4 of a journalled swap; it is safe to run again after any interruption.
func (d *Dir) finishSwap(plan swapPlan, step func(string)) error {
	staging := d.File(plan.Staging)
	exists := func(p string) bool { _, err := os.Lstat(p); return err == nil }
	if plan.Aside != "" {
		if err := os.Mkdir(d.File(plan.Aside), 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("restoring: %w", err)
		}
	}
	for _, name := range plan.Old {
		live, aside := d.File(name), filepath.Join(d.File(plan.Aside), name)
		// The live copy is still the old one unless its staged replacement was already moved in.
		stillOld := exists(filepath.Join(staging, name)) || !slices.Contains(plan.New, name)
		if !exists(aside) && exists(live) && stillOld {
			if err := os.Rename(live, aside); err != nil {
				return fmt.Errorf("restoring: moving the live %s aside: %w", name, err)
			}
		}
		step("aside " + name)
	}
	for _, name := range plan.New {
		if src := filepath.Join(staging, name); exists(src) {
			if err := os.Rename(src, d.File(name)); err != nil {
				return fmt.Errorf("restoring: installing %s: %w", name, err)
			}
		}
		step("install " + name)
	}
	if plan.Aside != "" {
		if err := atomicfile.SyncDir(d.File(plan.Aside)); err != nil {
			return fmt.Errorf("restoring: %w", err)
		}
	}
	if err := atomicfile.SyncDir(d.Path); err != nil {
		return fmt.Errorf("restoring: %w", err)
	}
	step("installed")
	if err := os.Remove(d.File(SwapJournal)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("restoring: removing the journal: %w", err)
	}
	if err := atomicfile.SyncDir(d.Path); err != nil {
		return fmt.Errorf("restoring: %w", err)
	}
	step("committed")
	return os.RemoveAll(staging)
}

// RecoverSwap finishes a swap that a killed process left behind (the journal exists) and removes staging
// directories of restores that were killed before their commit point. It does nothing, cheaply, when there
// is neither. It takes the directory lock, waiting at most d.LockTimeout for a running restore.
func (d *Dir) RecoverSwap() error {
	_, jerr := os.Lstat(d.File(SwapJournal))
	stale, _ := filepath.Glob(filepath.Join(d.Path, StagingPrefix+"*"))
	if errors.Is(jerr, fs.ErrNotExist) && len(stale) == 0 {
		return nil
	}
	unlock, err := d.LockDir()
	if err != nil {
		return err
	}
	defer unlock()
	data, err := os.ReadFile(d.File(SwapJournal))
	switch {
	case errors.Is(err, fs.ErrNotExist):
		// No commit point reached: the staged copies are discarded.
		stale, _ = filepath.Glob(filepath.Join(d.Path, StagingPrefix+"*"))
		for _, s := range stale {
			if err := os.RemoveAll(s); err != nil {
				return fmt.Errorf("removing the staging directory of an interrupted restore: %w", err)
			}
		}
		return nil
	case err != nil:
		return fmt.Errorf("reading %s: %w", d.File(SwapJournal), err)
	}
	var plan swapPlan
	if err := json.Unmarshal(data, &plan); err != nil || !safeSwapName(plan.Staging, StagingPrefix) ||
		(plan.Aside != "" && !safeSwapName(plan.Aside, ReplacedPrefix)) {
		return fmt.Errorf("%s is damaged: finish the interrupted restore by hand (see docs/operations.md)", d.File(SwapJournal))
	}
	for _, n := range append(slices.Clone(plan.Old), plan.New...) {
		if !slices.Contains(SwapFiles(), n) {
			return fmt.Errorf("%s names %q: finish the interrupted restore by hand (see docs/operations.md)", d.File(SwapJournal), n)
		}
	}
	return d.finishSwap(plan, func(string) {})
}

// safeSwapName reports whether name is a plain base name with the given prefix.
func safeSwapName(name, prefix string) bool {
	return strings.HasPrefix(name, prefix) && filepath.Base(name) == name && !strings.ContainsAny(name, `/\`)
}

// lockRetry is how often LockDir retries a held lock.
const lockRetry = 20 * time.Millisecond

// ErrDirLocked means another wsca process holds the CA directory's lock (a restore is running).
var ErrDirLocked = fmt.Errorf("%w (a restore is running)", store.ErrLocked)
