package store

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"runtime/debug"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

// Sentinel errors. Callers decide with errors.Is; the returned errors wrap
// them with context (path, serial, name).
var (
	// ErrLocked means another process holds wsca.db open for writing.
	ErrLocked = errors.New("database is locked by another wsca process")
	// ErrNotFound means the database file, serial, name or audit entry does not exist.
	ErrNotFound = errors.New("not found")
	// ErrExists means Create found a file already at the path.
	ErrExists = errors.New("database already exists")
	// ErrDuplicateSerial means Add was given a serial that is already recorded
	// (or twice in one call); nothing was written.
	ErrDuplicateSerial = errors.New("duplicate serial number")
	// ErrAlreadyRevoked means Revoke found the certificate already revoked.
	ErrAlreadyRevoked = errors.New("certificate already revoked")
	// ErrNotOnHold means Unrevoke found a certificate that is not revoked
	// with reason certificateHold; only a hold can be lifted (RFC 5280 5.3.1).
	ErrNotOnHold = errors.New("certificate is not on hold")
	// ErrCorrupt means the file is not a readable bbolt database.
	ErrCorrupt = errors.New("database is corrupt")
	// ErrSchema means the database has no schema version or a newer one than
	// this build understands.
	ErrSchema = errors.New("unsupported database schema")
	// ErrAuditTampered means VerifyAudit found an entry that was edited,
	// deleted or reordered.
	ErrAuditTampered = errors.New("audit log has been tampered with")
	// ErrInvalidRecord means Add was given a record that fails validation.
	ErrInvalidRecord = errors.New("invalid record")
)

// SchemaVersion is the schema this package writes and reads.
const SchemaVersion = 1

// DefaultTimeout is the lock wait used when Options.Timeout is zero.
const DefaultTimeout = 5 * time.Second

var (
	bucketMeta    = []byte("meta")
	bucketCerts   = []byte("certs")
	bucketNames   = []byte("names")
	bucketRevoked = []byte("revoked")
	bucketAudit   = []byte("audit")
	bucketCRL     = []byte("crl")

	keySchemaVersion = []byte("schema_version")
	keyAuditHead     = []byte("audit_head")
)

func allBuckets() [][]byte {
	return [][]byte{bucketMeta, bucketCerts, bucketNames, bucketRevoked, bucketAudit, bucketCRL}
}

// Options tune Create and Open.
type Options struct {
	// Timeout is how long to wait for another process's lock before
	// failing with ErrLocked; zero means DefaultTimeout.
	Timeout time.Duration
	// ReadOnly opens with a shared lock; writes then fail.
	ReadOnly bool
	// Now is the clock used for audit and revocation-change times that
	// have no time of their own; nil means time.Now.
	Now func() time.Time
}

// Store is an open issuance database. Its methods are safe for concurrent
// use (bbolt serialises writers).
type Store struct {
	db   *bolt.DB
	path string
	now  func() time.Time

	anchorMu   sync.Mutex
	anchoredTx uint64 // highest transaction id this Store wrote to (or found in) the anchor; see anchor.go
}

func boltOptions(opts Options, openFile func(string, int, os.FileMode) (*os.File, error)) *bolt.Options {
	t := opts.Timeout
	if t <= 0 {
		t = DefaultTimeout
	}
	return &bolt.Options{Timeout: t, ReadOnly: opts.ReadOnly, OpenFile: openFile}
}

func newStore(db *bolt.DB, path string, opts Options) *Store {
	now := opts.Now
	if now == nil {
		now = time.Now
	}
	return &Store{db: db, path: path, now: now}
}

// Create makes a new database file at path with mode 0600 and writes the
// schema. It fails with ErrExists if anything is already at path: the file
// is created with O_EXCL, so an existing database is never clobbered.
func Create(path string, opts Options) (*Store, error) {
	if opts.ReadOnly {
		return nil, fmt.Errorf("store: creating %s: cannot create read-only", path)
	}
	created := false
	excl := func(name string, flag int, mode os.FileMode) (*os.File, error) {
		f, err := os.OpenFile(name, flag|os.O_CREATE|os.O_EXCL, 0o600)
		if err == nil {
			created = true
		}
		return f, err
	}
	db, err := bolt.Open(path, 0o600, boltOptions(opts, excl))
	if err != nil {
		if created {
			_ = os.Remove(path)
		}
		if errors.Is(err, fs.ErrExist) {
			return nil, fmt.Errorf("store: creating %s: %w", path, ErrExists)
		}
		return nil, fmt.Errorf("store: creating %s: %w", path, err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		for _, name := range allBuckets() {
			if _, err := tx.CreateBucket(name); err != nil {
				return err
			}
		}
		v := binary.BigEndian.AppendUint32(nil, SchemaVersion)
		return tx.Bucket(bucketMeta).Put(keySchemaVersion, v)
	})
	if err != nil {
		_ = db.Close()
		_ = os.Remove(path)
		return nil, fmt.Errorf("store: creating %s: writing schema: %w", path, err)
	}
	s := newStore(db, path, opts)
	// A new database replaces whatever anchor a removed one left behind.
	if err := s.view(func(tx *bolt.Tx) error {
		a, err := headOf(tx)
		if err == nil {
			err = writeAnchor(path, a)
		}
		return err
	}); err != nil {
		_ = db.Close()
		_ = os.Remove(path)
		return nil, fmt.Errorf("store: creating %s: %w", path, err)
	}
	return s, nil
}

// errEmptyFile stops bbolt from initialising a zero-length file that Open
// was asked to read: an empty wsca.db is damage, not a new database.
var errEmptyFile = errors.New("file is empty")

// Open opens an existing database. It fails with ErrNotFound if path does
// not exist (it never creates one), ErrLocked if another process holds the
// lock for longer than opts.Timeout, ErrCorrupt if the file is not a
// readable bbolt database, ErrSchema if its schema version is missing or
// newer than SchemaVersion, and ErrRolledBack if the database is behind its
// anchor file (anchor.go: committed transactions were lost). A read-write
// Open of a database without an anchor writes one. bbolt can panic on some
// damaged files; Open recovers and reports ErrCorrupt. When that panic happens inside bbolt's
// own Open (a damaged freelist, read-write only), the mapping bbolt made
// cannot be unmapped, so the file stays mapped and locked until this
// process exits: a CLI should report the error and exit, not retry.
func Open(path string, opts Options) (*Store, error) {
	// A wsca restore renames the database away while this process may be waiting for its lock: then the
	// lock is on the replaced file. Open again, a bounded number of times, until the locked file is the one
	// at path.
	for attempt := 0; ; attempt++ {
		s, file, err := open(path, opts)
		if err != nil {
			return nil, err
		}
		fi, ferr := file.Stat()
		pi, perr := os.Stat(path)
		if attempt < 2 && ferr == nil && perr == nil && !os.SameFile(fi, pi) {
			_ = s.Close()
			continue
		}
		// A database behind its anchor is refused for reading and writing alike: the next commit would
		// reuse the lost transaction's id and overwrite the damaged meta page, erasing the evidence. Only
		// now: the anchor at the path belongs to the file at the path.
		if err := s.checkAnchor(!opts.ReadOnly); err != nil {
			_ = s.Close()
			return nil, fmt.Errorf("store: opening %s: %w", path, err)
		}
		return s, nil
	}
}

// open is one attempt of Open: it returns the Store and the file bbolt locked, without the anchor check.
func open(path string, opts Options) (s *Store, file *os.File, err error) {
	// file is kept so that, if bbolt panics inside bolt.Open (a damaged
	// freelist does that when opening for writing), the descriptor can be
	// closed. bbolt's memory mapping of the file cannot be released from
	// here, and on Linux it keeps the flock alive: see Open's doc.
	noCreate := func(name string, flag int, mode os.FileMode) (*os.File, error) {
		f, err := os.OpenFile(name, flag&^os.O_CREATE, mode)
		if err != nil {
			return nil, err
		}
		if fi, err := f.Stat(); err == nil && fi.Size() == 0 {
			_ = f.Close()
			return nil, errEmptyFile
		}
		file = f
		return f, nil
	}
	var db *bolt.DB
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if r := recover(); r != nil {
			if db != nil {
				_ = db.Close()
			} else if file != nil {
				_ = file.Close()
			}
			s, err = nil, fmt.Errorf("store: opening %s: %w: bbolt: %v", path, ErrCorrupt, r)
		}
	}()
	db, err = bolt.Open(path, 0o600, boltOptions(opts, noCreate))
	if err != nil {
		return nil, nil, fmt.Errorf("store: opening %s: %w", path, mapOpenError(err))
	}
	if err := checkSchema(db); err != nil {
		_ = db.Close()
		return nil, nil, fmt.Errorf("store: opening %s: %w", path, err)
	}
	return newStore(db, path, opts), file, nil
}

func mapOpenError(err error) error {
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("%w: %w", ErrNotFound, err)
	case errors.Is(err, berrors.ErrTimeout):
		return ErrLocked
	case errors.Is(err, errEmptyFile),
		errors.Is(err, berrors.ErrInvalid),
		errors.Is(err, berrors.ErrChecksum),
		errors.Is(err, berrors.ErrVersionMismatch),
		errors.Is(err, berrors.ErrInvalidMapping):
		return fmt.Errorf("%w: %w", ErrCorrupt, err)
	}
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return err // permissions and the like: not the file's content
	}
	// bbolt reports other structural problems ("file size too small …")
	// with plain errors.
	return fmt.Errorf("%w: %w", ErrCorrupt, err)
}

// checkSchema reads the schema version and walks the top of every bucket,
// so that damage that makes bbolt panic shows up here, under Open's
// recover, rather than in a later call.
func checkSchema(db *bolt.DB) error {
	return db.View(func(tx *bolt.Tx) error {
		// A truncated file would fault when bbolt follows a page id past
		// its end; say so plainly instead.
		if fi, err := os.Stat(db.Path()); err == nil && fi.Size() < tx.Size() {
			return fmt.Errorf("%w: file is %d bytes, its pages need %d (truncated?)", ErrCorrupt, fi.Size(), tx.Size())
		}
		meta := tx.Bucket(bucketMeta)
		if meta == nil {
			return fmt.Errorf("%w: no meta bucket", ErrSchema)
		}
		v := meta.Get(keySchemaVersion)
		if len(v) != 4 {
			return fmt.Errorf("%w: no schema version", ErrSchema)
		}
		if n := binary.BigEndian.Uint32(v); n != SchemaVersion {
			return fmt.Errorf("%w: version %d, this wsca reads version %d", ErrSchema, n, SchemaVersion)
		}
		for _, name := range allBuckets() {
			b := tx.Bucket(name)
			if b == nil {
				return fmt.Errorf("%w: bucket %q missing", ErrCorrupt, name)
			}
			b.Cursor().First()
			b.Cursor().Last()
		}
		return nil
	})
}

// Close releases the database and its lock.
func (s *Store) Close() error {
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("store: closing %s: %w", s.path, err)
	}
	return nil
}

// Path returns the file the Store was opened from.
func (s *Store) Path() string { return s.path }

// callbackPanic carries a panic raised by a caller's callback through
// view's recover, so that only bbolt's own panics become ErrCorrupt and a
// bug in a callback still crashes loudly.
type callbackPanic struct{ v any }

// call runs a caller's callback inside a transaction.
func call(fn func() error) error {
	defer func() {
		if r := recover(); r != nil {
			panic(callbackPanic{r})
		}
	}()
	return fn()
}

// guard turns a bbolt panic, or a memory fault on the mapped file (a page
// id beyond a truncated file gives SIGBUS or SIGSEGV, which
// debug.SetPanicOnFault turns into a panic for this goroutine), into
// ErrCorrupt. bbolt's View and Update roll the transaction back before the
// panic leaves them.
func guard(err *error) {
	r := recover()
	if r == nil {
		return
	}
	if cp, ok := r.(callbackPanic); ok {
		panic(cp.v)
	}
	*err = fmt.Errorf("%w: bbolt: %v", ErrCorrupt, r)
}

// view runs fn in a read transaction under guard.
func (s *Store) view(fn func(tx *bolt.Tx) error) (err error) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer guard(&err)
	return s.db.View(fn)
}

// update runs fn in a write transaction under guard and, once bbolt has committed it, writes the anchor
// (anchor.go).
func (s *Store) update(fn func(tx *bolt.Tx) error) error {
	var head Anchor
	err := s.rawUpdate(func(tx *bolt.Tx) error {
		if err := fn(tx); err != nil {
			return err
		}
		var err error
		head, err = headOf(tx)
		return err
	})
	if err != nil {
		return err
	}
	if err := s.anchorCommitted(head); err != nil {
		return fmt.Errorf("the change was committed, but %w", err)
	}
	return nil
}

func (s *Store) rawUpdate(fn func(tx *bolt.Tx) error) (err error) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer guard(&err)
	return s.db.Update(fn)
}

// Backup writes a consistent copy of the whole database to w from one read
// transaction, so writers may continue meanwhile. It returns the bytes
// written. The copy is a complete wsca.db that Open accepts.
func (s *Store) Backup(w io.Writer) (int64, error) {
	var n int64
	err := s.view(func(tx *bolt.Tx) error {
		var err error
		n, err = tx.WriteTo(w)
		return err
	})
	if err != nil {
		return n, fmt.Errorf("store: backing up %s: %w", s.path, err)
	}
	return n, nil
}
