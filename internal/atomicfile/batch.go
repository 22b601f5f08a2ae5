package atomicfile

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// Batch creates many new files with the guarantees of WriteNew — no existing file is replaced, no name ever
// shows a partial file, and a name appears only after its data is on disk — but with two disk flushes for
// the whole batch instead of two per file. wsca issue --from writes three files per certificate; one fsync
// of each file and its directory made that 40,000 flushes for 10,000 certificates (docs/benchmarks.md).
//
// Add writes each file under a temporary name without syncing; Commit flushes the data of every file, links
// each to its final name, then flushes the directories. A Batch is not safe for concurrent use.
type Batch struct {
	files []batchFile
}

type batchFile struct{ tmp, path string }

// Add writes data to a temporary file next to path; it becomes visible under path only at Commit.
func (b *Batch) Add(path string, data []byte, perm fs.FileMode) error {
	tmp, err := writeTemp(path, data, perm, false)
	if err != nil {
		return err
	}
	b.files = append(b.files, batchFile{tmp: tmp, path: path})
	return nil
}

// Commit makes the added files durable and visible. It returns the paths that were created; on error the
// files not created are removed, and the error (wrapping ErrExists for a name already taken) names the
// first path that failed.
func (b *Batch) Commit() (created []string, err error) {
	defer b.Abort()
	dirs := map[string]bool{}
	for _, f := range b.files {
		dirs[filepath.Dir(f.path)] = true
	}
	// Data first: a name must never point at data that a power cut could lose.
	if err := syncData(dirs, b.files); err != nil {
		return nil, err
	}
	for _, f := range b.files {
		if err := os.Link(f.tmp, f.path); err != nil {
			if errors.Is(err, fs.ErrExist) {
				err = ErrExists
			}
			return created, fmt.Errorf("writing %s: %w", f.path, err)
		}
		created = append(created, f.path)
	}
	for d := range dirs {
		if err := syncDir(d); err != nil {
			return created, err
		}
	}
	return created, nil
}

// Abort removes the temporary files of a batch that is not (or no longer) to be committed. It is safe to
// call after Commit.
func (b *Batch) Abort() {
	for _, f := range b.files {
		os.Remove(f.tmp)
	}
	b.files = nil
}

// syncData flushes the data of files: one syncfs(2) per file system where the platform has it, else an
// fsync of each file.
func syncData(dirs map[string]bool, files []batchFile) error {
	synced := true
	for d := range dirs {
		if err := syncFS(d); err != nil {
			if errors.Is(err, errNoSyncFS) {
				synced = false
				break
			}
			return fmt.Errorf("syncing %s: %w", d, err)
		}
	}
	if synced {
		return nil
	}
	for _, f := range files {
		fh, err := os.Open(f.tmp)
		if err != nil {
			return fmt.Errorf("writing %s: %w", f.path, err)
		}
		err = fh.Sync()
		fh.Close()
		if err != nil {
			return fmt.Errorf("writing %s: %w", f.path, err)
		}
	}
	return nil
}

var errNoSyncFS = errors.New("syncfs is not available on this platform")
