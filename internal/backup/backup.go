// Package backup writes and restores a whole wsca CA directory as one gzip-compressed tar archive: a
// manifest (wsca-backup.json, with a SHA-256 per file), a consistent copy of wsca.db made inside one bbolt
// read transaction (so other wsca commands may keep issuing meanwhile), the CA certificates, ca.crt and
// the CRLs, and — only when asked — the CA keys, still encrypted with the CA passphrase.
//
// Restore (restore.go) validates everything in a staging directory inside the target (the same file system)
// before it touches the CA: the checksums, the database (opens, every record's certificate parses, the audit
// chain verifies), the certificate chain, the CRLs and the keys (they must decrypt and match). It refuses to
// replace a live CA unless forced, and then moves the old files aside instead of deleting them, through the
// journalled cadir.Dir.SwapIn. The database's anchor (wsca.db.head) is not archived: the restored database
// gets a new one.
package backup

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"github.com/wsca/wsca/internal/cadir"
	"github.com/wsca/wsca/store"
)

// Sentinel errors.
var (
	// ErrLiveCA means Restore found CA files in the target directory and Force was not set; nothing changed.
	ErrLiveCA = errors.New("the directory already holds a CA")
	// ErrInvalidArchive means the archive is not a complete, intact wsca backup; nothing changed.
	ErrInvalidArchive = errors.New("not a valid wsca backup")
)

// ManifestName is the first member of every archive.
const ManifestName = "wsca-backup.json"

// FormatVersion is the archive format this package writes and reads.
const FormatVersion = 1

// Size limits on archive members, so a hostile or wrong archive cannot fill the disk: the database may be
// large (a million records is about 1 GiB), everything else is a few kilobytes.
const (
	maxDBSize       = 64 << 30
	maxFileSize     = 64 << 20
	maxManifestSize = 1 << 20
)

// Manifest describes an archive.
type Manifest struct {
	Format   int        `json:"format"`
	Created  time.Time  `json:"created"`
	WithKeys bool       `json:"with_keys"`
	Files    []FileInfo `json:"files"`
	// Warnings are what Create could not do without failing the backup (not in the archive).
	Warnings []string `json:"-"`
}

// FileInfo is one member of the archive.
type FileInfo struct {
	Name   string `json:"name"`
	Size   int64  `json:"size"`
	Mode   uint32 `json:"mode"` // permission bits
	SHA256 string `json:"sha256"`
}

// member describes a file of the CA directory that a backup may hold.
type member struct {
	name     string
	mode     fs.FileMode
	required bool
	key      bool
}

// members lists, in archive order, what a backup holds. The database comes first after the manifest.
func members() []member {
	return []member{
		{cadir.DBFile, 0o600, true, false},
		{cadir.RootCertFile, 0o644, true, false},
		{cadir.IntermediateCertFile, 0o644, true, false},
		{cadir.BundleFile, 0o644, true, false},
		{cadir.CRLFile, 0o644, false, false},
		{cadir.RootCRLFile, 0o644, false, false},
		{cadir.IntermediateKeyFile, 0o600, true, true},
		{cadir.RootKeyFile, 0o600, false, true},
	}
}

func memberNamed(name string) (member, bool) {
	for _, m := range members() {
		if m.name == name {
			return m, true
		}
	}
	return member{}, false
}

// Options control Create.
type Options struct {
	// WithKeys adds intermediate.key and, if present, root.key, as they are on disk (encrypted).
	WithKeys bool
	// Replace allows path to name an existing file, which is replaced once the new archive is complete.
	// Without it an existing path is ErrExists: an older backup is never overwritten by accident.
	Replace bool
}

// ErrExists means Create was asked to write over an existing file without Options.Replace.
var ErrExists = errors.New("the backup file already exists")

// Create writes a backup of the CA in d to path: a temporary file in path's directory with mode 0600,
// synced and renamed over path, so a reader never sees half an archive and a failure leaves any older
// backup in place. The database copy is consistent (one read transaction). A "backup" entry is appended
// to the audit log after the copy is taken. It fails with cadir.ErrNotInitialized for a directory without
// a CA and store.ErrLocked when another process holds the database longer than d.LockTimeout.
func Create(d *cadir.Dir, path string, opt Options) (*Manifest, error) {
	switch fi, err := os.Stat(path); {
	case err == nil && fi.IsDir():
		return nil, fmt.Errorf("backing up: %s is a directory: name the archive file to write, e.g. %s", path,
			filepath.Join(path, "wsca-"+d.Now().UTC().Format("2006-01-02")+".tar.gz"))
	case err == nil && !opt.Replace:
		return nil, fmt.Errorf("backing up: %s: %w (choose a new name, or replace it with --force)", path, ErrExists)
	}
	now := d.Now().UTC()
	dir := filepath.Dir(path)
	dbTmp, err := os.CreateTemp(dir, ".wsca-backup-db-*")
	if err != nil {
		return nil, fmt.Errorf("backing up: %w", err)
	}
	defer func() {
		dbTmp.Close()
		os.Remove(dbTmp.Name())
	}()
	// The database is held only for the copy, not while the archive is compressed: other wsca
	// processes wait for bbolt's file lock, so the shorter the better.
	if err := copyDB(d, dbTmp); err != nil {
		return nil, err
	}
	if _, err := dbTmp.Seek(0, io.SeekStart); err != nil {
		return nil, fmt.Errorf("backing up: %w", err)
	}

	m := &Manifest{Format: FormatVersion, Created: now, WithKeys: opt.WithKeys}
	sources, err := collectSources(d, dbTmp, opt.WithKeys)
	if err != nil {
		return nil, err
	}
	for _, src := range sources {
		m.Files = append(m.Files, src.info)
	}
	manifest, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return nil, err
	}

	err = writeAtomic(path, func(w io.Writer) error { return writeArchive(w, now, manifest, sources) })
	if err != nil {
		return nil, fmt.Errorf("writing backup %s: %w", path, err)
	}
	detail := fmt.Sprintf("to %s, %d files", path, len(m.Files))
	if opt.WithKeys {
		detail += ", with the (encrypted) CA keys"
	}
	err = appendAudit(d, store.AuditEntry{Time: now, Action: store.ActionBackup, User: d.User, Detail: detail})
	if readOnlyDir(err) {
		// A read-only CA directory (a snapshot, a read-only mount) can be backed up; it cannot record it.
		m.Warnings = append(m.Warnings, fmt.Sprintf("the backup is not recorded in the audit log: %s is read-only", d.Path))
		return m, nil
	}
	if err != nil {
		return m, fmt.Errorf("the backup %s was written, but recording it in the audit log failed: %w", path, err)
	}
	return m, nil
}

// source is one archive member: its manifest entry and the reader of its content.
type source struct {
	info FileInfo
	r    io.Reader
}

// collectSources returns the archive members of d in members() order, each hashed and rewound: the
// database from the snapshot db, every other file read from d, the CA keys only withKeys. A missing
// optional file is left out; a missing required file or a read error fails with "backing up: …".
func collectSources(d *cadir.Dir, db io.ReadSeeker, withKeys bool) ([]source, error) {
	var sources []source
	for _, mb := range members() {
		if mb.key && !withKeys {
			continue
		}
		var r io.ReadSeeker
		if mb.name == cadir.DBFile {
			r = db
		} else {
			data, err := os.ReadFile(d.File(mb.name))
			if errors.Is(err, fs.ErrNotExist) && !mb.required {
				continue
			}
			if err != nil {
				return nil, fmt.Errorf("backing up: %w", err)
			}
			r = bytes.NewReader(data)
		}
		size, sum, err := hashSeeker(r)
		if err != nil {
			return nil, fmt.Errorf("backing up %s: %w", mb.name, err)
		}
		info := FileInfo{Name: mb.name, Size: size, Mode: uint32(mb.mode), SHA256: sum}
		sources = append(sources, source{info, r})
	}
	return sources, nil
}

// writeArchive writes the gzipped tar archive to w: the manifest first, then every source, each stamped
// with now. A source whose length differs from its manifest entry fails the archive ("changed while it
// was archived"), as does any write error.
func writeArchive(w io.Writer, now time.Time, manifest []byte, sources []source) error {
	zw := gzip.NewWriter(w)
	tw := tar.NewWriter(zw)
	add := func(name string, size int64, mode fs.FileMode, r io.Reader) error {
		hdr := &tar.Header{Typeflag: tar.TypeReg, Name: name, Size: size, Mode: int64(mode), ModTime: now, Format: tar.FormatPAX}
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		n, err := io.Copy(tw, r)
		if err == nil && n != size {
			err = fmt.Errorf("%s changed while it was archived", name)
		}
		return err
	}
	if err := add(ManifestName, int64(len(manifest)), 0o644, bytes.NewReader(manifest)); err != nil {
		return err
	}
	for _, s := range sources {
		if err := add(s.info.Name, s.info.Size, fs.FileMode(s.info.Mode), s.r); err != nil {
			return err
		}
	}
	if err := tw.Close(); err != nil {
		return err
	}
	return zw.Close()
}

// readOnlyDir reports whether err says the CA directory cannot be written.
func readOnlyDir(err error) bool {
	return errors.Is(err, syscall.EROFS) || errors.Is(err, fs.ErrPermission)
}

// copyDB writes a consistent copy of the database to w (store.Backup: one read transaction). The database is
// opened read-only: the copy needs no more, bbolt's shared lock keeps writers out for its duration, and a
// read-only CA directory works.
func copyDB(d *cadir.Dir, w io.Writer) error {
	st, err := d.OpenStore(true)
	if err != nil {
		return err
	}
	defer st.Close()
	_, err = st.Backup(w)
	return err
}

func appendAudit(d *cadir.Dir, e store.AuditEntry) error {
	st, err := d.OpenStore(false)
	if err != nil {
		return err
	}
	defer st.Close()
	return st.AppendAudit(e)
}

// hashSeeker returns the size and SHA-256 of r and rewinds it.
func hashSeeker(r io.ReadSeeker) (int64, string, error) {
	h := sha256.New()
	n, err := io.Copy(h, r)
	if err != nil {
		return 0, "", err
	}
	if _, err := r.Seek(0, io.SeekStart); err != nil {
		return 0, "", err
	}
	return n, hex.EncodeToString(h.Sum(nil)), nil
}

// writeAtomic writes path through fill into a 0600 temporary file in the same directory, syncs it and
// renames it over path; the directory is synced after. On error the temporary file is removed.
func writeAtomic(path string, fill func(io.Writer) error) (err error) {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if err = tmp.Chmod(0o600); err != nil {
		return err
	}
	if err = fill(tmp); err != nil {
		return err
	}
	if err = tmp.Sync(); err != nil {
		return err
	}
	if err = tmp.Close(); err != nil {
		return err
	}
	if err = os.Rename(tmp.Name(), path); err != nil {
		return err
	}
	return syncDir(dir)
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
