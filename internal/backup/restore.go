package backup

import (
	"archive/tar"
	"compress/gzip"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/wsca/wsca/ca"
	"github.com/wsca/wsca/crl"
	"github.com/wsca/wsca/internal/cadir"
	"github.com/wsca/wsca/store"
)

// RestoreOptions control Restore.
type RestoreOptions struct {
	// Force replaces a live CA. Its files are moved into a "replaced-TIMESTAMP" directory inside the CA
	// directory, not deleted.
	Force bool
	// Step, if not nil, is called at each step of the swap (cadir.Dir.SwapIn): fault-injection tests kill
	// the process there.
	Step func(string)
}

// RestoreResult describes a restore.
type RestoreResult struct {
	Manifest *Manifest
	Records  int
	// Replaced is where the previous CA's files were moved with Force, or "".
	Replaced string
	Warnings []string
}

// Restore unpacks the archive at path into d.Path after validating it completely in a staging directory
// inside d.Path (the same file system, also when d.Path is a mount point). Keys in the archive are opened
// with d.Passphrase (asked only if they are encrypted) and must match their certificates. The "restore"
// audit entry is written into the staged database, so the restored CA records its own restore. The switch
// from the old CA to the new one is cadir.Dir.SwapIn: journalled, so a process killed at any moment leaves
// the complete old CA or a committed swap that the next wsca command finishes. It fails with ErrLiveCA
// when d.Path holds any CA file and opt.Force is not set, ErrInvalidArchive (wrapped with the reason) for a
// damaged or foreign archive, and the store, ca and crl errors of a content that does not validate; in
// each case the target is unchanged and the staging directory removed.
func Restore(d *cadir.Dir, path string, opt RestoreOptions) (res *RestoreResult, err error) {
	if live := liveFiles(d); len(live) > 0 && !opt.Force {
		return nil, fmt.Errorf("%s holds %v: %w (pass --force to replace it; its files are kept in a replaced-* directory)", d.Path, live, ErrLiveCA)
	}
	if err := d.RecoverSwap(); err != nil {
		return nil, err
	}
	_, statErr := os.Stat(d.Path)
	createdDir := errors.Is(statErr, fs.ErrNotExist)
	staging, err := d.NewStaging()
	if err != nil {
		return nil, fmt.Errorf("restoring: %w", err)
	}
	committed := false
	defer func() {
		if !committed {
			os.RemoveAll(staging)
			if createdDir {
				os.Remove(d.Path) // only if still empty
			}
		}
	}()
	unlock, err := d.LockDir()
	if err != nil {
		return nil, err
	}
	defer unlock()
	step := opt.Step
	if step == nil {
		step = func(string) {}
	}
	step("staging")
	m, err := extract(path, staging)
	if err != nil {
		return nil, err
	}
	step("extracted")
	res = &RestoreResult{Manifest: m}
	if err := validate(d, staging, m, res); err != nil {
		return nil, fmt.Errorf("restoring %s: %w", path, err)
	}
	step("validated")
	if err := recordRestore(d, staging, path, m, res); err != nil {
		return nil, err
	}
	step("recorded")
	if live := liveFiles(d); len(live) > 0 && !opt.Force {
		return nil, fmt.Errorf("%s holds %v: %w", d.Path, live, ErrLiveCA)
	}
	// The live database stays open (bbolt's lock) during the swap, so no wsca command is half-way through
	// a write; a command waiting for that lock opens the restored database afterwards (store.Open checks
	// that the file it locked is still the one at the path).
	if st, err := d.OpenStoreOnly(false); err == nil {
		defer st.Close()
	} else if !errors.Is(err, fs.ErrNotExist) && !errors.Is(err, cadir.ErrNotInitialized) &&
		!errors.Is(err, store.ErrCorrupt) && !errors.Is(err, store.ErrSchema) && !errors.Is(err, store.ErrRolledBack) {
		return nil, fmt.Errorf("restoring: locking the live database: %w", err)
	}
	committed = true // from here on the staging directory belongs to the swap
	if res.Replaced, err = d.SwapIn(staging, step); err != nil {
		return nil, err
	}
	return res, nil
}

// recordRestore carries the replaced CA's CRL numbers forward into the staged database (carryCRLNumbers),
// then appends the "restore" audit entry to it and writes its anchor there.
func recordRestore(d *cadir.Dir, staging, path string, m *Manifest, res *RestoreResult) error {
	sd := &cadir.Dir{Path: staging, LockTimeout: d.LockTimeout}
	inter, root, err := sd.Chain()
	if err != nil {
		return fmt.Errorf("restoring: %w", err)
	}
	// The staged database has no anchor (backups hold none); opening it read-write writes one, and the
	// audit entry below moves it forward.
	st, err := sd.OpenStoreOnly(false)
	if err != nil {
		return fmt.Errorf("restoring: %w", err)
	}
	moved, err := carryCRLNumbers(d, st, inter, root)
	if err != nil {
		st.Close()
		return fmt.Errorf("restoring: carrying CRL numbers forward: %w", err)
	}
	res.Warnings = append(res.Warnings, moved...)
	detail := fmt.Sprintf("from %s (made %s)", path, m.Created.Format(time.RFC3339))
	if live := liveFiles(d); len(live) > 0 {
		detail += ", previous CA moved to a " + cadir.ReplacedPrefix + "* directory"
	}
	err = st.AppendAudit(store.AuditEntry{Time: d.Now().UTC(), Action: store.ActionRestore, User: d.User, Detail: detail})
	if cerr := st.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("restoring: recording the restore in the audit log: %w", err)
	}
	return nil
}

// liveFiles returns the CA files present in d.
func liveFiles(d *cadir.Dir) []string {
	var out []string
	for _, name := range cadir.SwapFiles() {
		if _, err := os.Lstat(d.File(name)); err == nil {
			out = append(out, name)
		}
	}
	return out
}

func invalid(format string, a ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalidArchive, fmt.Sprintf(format, a...))
}

// extract reads the archive into dir, checking it against its manifest: known names only, each once,
// regular files, sizes within limits and as declared, checksums equal.
func extract(path, dir string) (*Manifest, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("restoring: %w", err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		return nil, fmt.Errorf("restoring %s: %w", path, invalid("not gzip: %v", err))
	}
	tr := tar.NewReader(zr)
	hdr, err := tr.Next()
	if err != nil || hdr.Name != ManifestName || hdr.Typeflag != tar.TypeReg || hdr.Size > maxManifestSize {
		return nil, fmt.Errorf("restoring %s: %w", path, invalid("the first member must be %s", ManifestName))
	}
	raw, err := io.ReadAll(io.LimitReader(tr, maxManifestSize))
	if err != nil {
		return nil, fmt.Errorf("restoring %s: %w", path, invalid("reading the manifest: %v", err))
	}
	var m Manifest
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, fmt.Errorf("restoring %s: %w", path, invalid("manifest: %v", err))
	}
	if m.Format != FormatVersion {
		return nil, fmt.Errorf("restoring %s: %w", path, invalid("format %d, this wsca reads format %d", m.Format, FormatVersion))
	}
	want := map[string]FileInfo{}
	for _, fi := range m.Files {
		mb, ok := memberNamed(fi.Name)
		if !ok {
			return nil, fmt.Errorf("restoring %s: %w", path, invalid("manifest names unknown file %q", fi.Name))
		}
		if _, dup := want[fi.Name]; dup {
			return nil, fmt.Errorf("restoring %s: %w", path, invalid("manifest names %s twice", fi.Name))
		}
		limit := int64(maxFileSize)
		if mb.name == cadir.DBFile {
			limit = maxDBSize
		}
		if fi.Size < 0 || fi.Size > limit {
			return nil, fmt.Errorf("restoring %s: %w", path, invalid("%s: size %d out of range", fi.Name, fi.Size))
		}
		want[fi.Name] = fi
	}
	for _, mb := range members() {
		if _, ok := want[mb.name]; mb.required && !ok && !(mb.key && !m.WithKeys) {
			return nil, fmt.Errorf("restoring %s: %w", path, invalid("%s is missing", mb.name))
		}
	}
	got := map[string]bool{}
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("restoring %s: %w", path, invalid("%v", err))
		}
		fi, ok := want[hdr.Name]
		if !ok || got[hdr.Name] || hdr.Typeflag != tar.TypeReg || hdr.Size != fi.Size {
			return nil, fmt.Errorf("restoring %s: %w", path, invalid("unexpected member %q", hdr.Name))
		}
		got[hdr.Name] = true
		mb, _ := memberNamed(hdr.Name)
		if err := extractFile(filepath.Join(dir, hdr.Name), tr, fi, mb.mode); err != nil {
			return nil, fmt.Errorf("restoring %s: %w", path, err)
		}
	}
	for name := range want {
		if !got[name] {
			return nil, fmt.Errorf("restoring %s: %w", path, invalid("%s is in the manifest but not in the archive (truncated?)", name))
		}
	}
	return &m, nil
}

func extractFile(path string, r io.Reader, fi FileInfo, mode fs.FileMode) error {
	out, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
	if err != nil {
		return err
	}
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(out, h), io.LimitReader(r, fi.Size+1))
	if err == nil {
		err = out.Sync()
	}
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return invalid("%s: %v", fi.Name, err)
	}
	if n != fi.Size || !sumEqual(h, fi.SHA256) {
		return invalid("%s: checksum mismatch (damaged archive)", fi.Name)
	}
	return nil
}

func sumEqual(h hash.Hash, want string) bool { return hex.EncodeToString(h.Sum(nil)) == want }

// validate checks the staged CA: database, records, audit chain, chain, bundle, CRLs and keys.
func validate(d *cadir.Dir, staging string, m *Manifest, res *RestoreResult) error {
	sd := &cadir.Dir{Path: staging, Rand: d.Rand, Now: d.Now, User: d.User, LockTimeout: d.LockTimeout, Passphrase: d.Passphrase}
	st, err := sd.OpenStore(true)
	if err != nil {
		return fmt.Errorf("the database: %w", err)
	}
	defer st.Close()
	err = st.ForEach(func(r store.Record) error {
		cert, err := x509.ParseCertificate(r.DER)
		if err != nil {
			return fmt.Errorf("record %s: %w", ca.SerialHex(r.Serial), err)
		}
		if cert.SerialNumber.Cmp(r.Serial) != 0 {
			return fmt.Errorf("record %s holds the certificate of serial %s", ca.SerialHex(r.Serial), ca.SerialHex(cert.SerialNumber))
		}
		res.Records++
		return nil
	})
	if err != nil {
		return fmt.Errorf("the database: %w", err)
	}
	if err := st.VerifyAudit(); err != nil {
		return err
	}
	inter, root, err := sd.Chain()
	if err != nil {
		return err
	}
	bundle, err := os.ReadFile(sd.File(cadir.BundleFile))
	if err != nil {
		return err
	}
	if _, err := ca.ParseCertificates(bundle); err != nil {
		return fmt.Errorf("%s: %w", cadir.BundleFile, err)
	}
	for _, name := range []string{cadir.CRLFile, cadir.RootCRLFile} {
		data, err := os.ReadFile(sd.File(name))
		if errors.Is(err, fs.ErrNotExist) {
			if name == cadir.CRLFile {
				res.Warnings = append(res.Warnings, "the backup has no crl.pem: run wsca crl")
			}
			continue
		}
		if err != nil {
			return err
		}
		crls, err := crl.Parse(data, []*x509.Certificate{inter, root})
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		for _, c := range crls {
			if !d.Now().Before(c.NextUpdate) {
				res.Warnings = append(res.Warnings, fmt.Sprintf("%s from %s expired at %s: run wsca crl", name, c.Issuer.Subject, c.NextUpdate.UTC().Format(time.RFC3339)))
			}
		}
	}
	if !m.WithKeys {
		res.Warnings = append(res.Warnings, "the backup holds no CA keys: put intermediate.key (and root.key) back before issuing or signing CRLs")
		return nil
	}
	if _, err := sd.Intermediate(); err != nil {
		return err
	}
	if sd.RootKeyAvailable() {
		if _, err := sd.Root(); err != nil {
			return err
		}
	}
	return nil
}
