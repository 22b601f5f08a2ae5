package store

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"
)

// The anchor: the head of the database kept outside it.
//
// bbolt keeps two meta pages and, when the newest fails its checksum, silently opens the older one: the last
// committed transaction (a keyCompromise revocation, say) is gone and the database itself cannot tell, since
// its own audit head went back with it. A copy of an older wsca.db put in place of the current one looks just
// as healthy. So after every committed write transaction the Store writes a small file next to the database,
// AnchorSuffix appended to its name ("wsca.db.head"): the transaction id bbolt gave the commit, the audit
// head (sequence and hash) and a summary of the last audit entry. Open compares the database with it.
//
// Crash consistency. The anchor is written strictly after bbolt's commit has returned (the database is
// fsynced by then), as a temporary file that is fsynced and renamed over the old anchor. So:
//   - a crash before the rename leaves the previous anchor: it is BEHIND the database (its txid is lower).
//     That is normal and never an alarm: Open only reports a database that is behind its anchor. Being
//     behind costs at most the detection of a rollback of the one transaction whose anchor was never
//     written — a transaction that, for all the crashed process could tell its caller, may not have
//     committed either;
//   - the anchor can never be ahead of what is durable in the database, because it is written after the
//     commit's fsync; a torn anchor cannot appear, because it is fsynced before the rename;
//   - concurrent writers in one process may finish their anchor writes out of order: the Store keeps the
//     highest txid it wrote and never replaces an anchor with an older one. bbolt's flock admits one
//     read-write process at a time, so no other process writes the anchor meanwhile.
//
// A missing anchor (a CA made before wsca had anchors, or a restored database) is not an error: the first
// read-write Open writes one for the current state. Read-only opens never write it, so a read-only CA
// directory works. An operator who accepts a reported loss moves the anchor aside; the next read-write
// Open anchors the database as it is.

// AnchorSuffix is appended to the database path to name its anchor file.
const AnchorSuffix = ".head"

// ErrRolledBack means the database is older than its anchor: committed transactions were lost (bbolt fell
// back to an older meta page, or an older copy of the file was put in its place). The error names what
// was lost.
var ErrRolledBack = errors.New("database went back to an older state: committed changes are missing")

// anchorFormat is the version of the anchor file.
const anchorFormat = 1

// maxAnchorSize bounds the anchor read: it is a few hundred bytes.
const maxAnchorSize = 16 << 10

// Anchor is the content of the anchor file.
type Anchor struct {
	Format    int       `json:"format"`
	TxID      uint64    `json:"txid"`       // bbolt transaction id of the last commit anchored
	AuditSeq  uint64    `json:"audit_seq"`  // audit head sequence at that commit (0: no entries)
	AuditHash string    `json:"audit_hash"` // audit head hash at that commit
	Last      lastEntry `json:"last"`       // the audit entry at AuditSeq, to say what a loss undid
}

type lastEntry struct {
	Time   time.Time `json:"time"`
	Action Action    `json:"action,omitempty"`
	Serial string    `json:"serial,omitempty"`
	Name   string    `json:"name,omitempty"`
}

func (l lastEntry) String() string {
	s := string(l.Action)
	if l.Name != "" {
		s += " " + l.Name
	}
	if l.Serial != "" {
		s += " (serial " + l.Serial + ")"
	}
	if !l.Time.IsZero() {
		s += " at " + l.Time.UTC().Format(time.RFC3339)
	}
	return s
}

// AnchorPath returns the anchor file of the database at dbPath.
func AnchorPath(dbPath string) string { return dbPath + AnchorSuffix }

// headOf reads the anchor-relevant state of tx: its id, the audit head and the last entry.
func headOf(tx *bolt.Tx) (Anchor, error) {
	a := Anchor{Format: anchorFormat, TxID: uint64(tx.ID())}
	head := tx.Bucket(bucketMeta).Get(keyAuditHead)
	if head == nil {
		return a, nil
	}
	if len(head) != 8+sha256.Size {
		return a, fmt.Errorf("%w: audit head has %d bytes", ErrCorrupt, len(head))
	}
	a.AuditSeq = binary.BigEndian.Uint64(head)
	a.AuditHash = hex.EncodeToString(head[8:])
	if v := tx.Bucket(bucketAudit).Get(seqKey(a.AuditSeq)); v != nil {
		var e AuditEntry
		if json.Unmarshal(v, &e) == nil {
			a.Last = lastEntry{Time: e.Time, Action: e.Action, Serial: e.Serial, Name: e.Name}
		}
	}
	return a, nil
}

// readAnchor returns the anchor of the database at dbPath, or nil when there is none.
func readAnchor(dbPath string) (*Anchor, error) {
	f, err := os.Open(AnchorPath(dbPath))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading the anchor: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxAnchorSize+1))
	if err != nil {
		return nil, fmt.Errorf("reading the anchor: %w", err)
	}
	var a Anchor
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if len(data) > maxAnchorSize || dec.Decode(&a) != nil || a.Format != anchorFormat ||
		(a.AuditSeq > 0 && len(a.AuditHash) != 2*sha256.Size) {
		return nil, fmt.Errorf("%w: the anchor %s is damaged (move it aside to re-anchor the database as it is)",
			ErrRolledBack, AnchorPath(dbPath))
	}
	return &a, nil
}

// writeAnchor replaces the anchor file atomically: temporary file, fsync, rename. The directory is not
// fsynced: a rename lost in a crash leaves an anchor that is behind, which is harmless (see above).
func writeAnchor(dbPath string, a Anchor) error {
	data, err := json.Marshal(a)
	if err != nil {
		return err
	}
	path := AnchorPath(dbPath)
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("writing the anchor: %w", err)
	}
	_, err = tmp.Write(append(data, '\n'))
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		_ = os.Remove(tmp.Name())
		return fmt.Errorf("writing the anchor %s: %w", path, err)
	}
	return nil
}

// anchorCommitted records the state of a just-committed transaction, unless a later one was anchored
// already by this Store.
func (s *Store) anchorCommitted(a Anchor) error {
	s.anchorMu.Lock()
	defer s.anchorMu.Unlock()
	if a.TxID <= s.anchoredTx {
		return nil
	}
	if err := writeAnchor(s.path, a); err != nil {
		return err
	}
	s.anchoredTx = a.TxID
	return nil
}

// checkAnchor compares the open database with its anchor. It returns ErrRolledBack naming what was lost when
// the database is behind the anchor or its audit chain does not contain the anchored head; nil when there is
// no anchor or the database is at or ahead of it. With write set, a missing anchor is created.
func (s *Store) checkAnchor(write bool) error {
	anchor, err := readAnchor(s.path)
	if err != nil {
		return err
	}
	var cur Anchor
	var anchoredHash string
	err = s.view(func(tx *bolt.Tx) error {
		var err error
		if cur, err = headOf(tx); err != nil {
			return err
		}
		if anchor != nil && anchor.AuditSeq > 0 && anchor.AuditSeq <= cur.AuditSeq {
			if v := tx.Bucket(bucketAudit).Get(seqKey(anchor.AuditSeq)); v != nil {
				var e AuditEntry
				if json.Unmarshal(v, &e) == nil {
					anchoredHash = e.Hash
				}
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	if anchor == nil {
		if write {
			return s.anchorCommitted(cur)
		}
		return nil
	}
	var lost []string
	if cur.TxID < anchor.TxID {
		lost = append(lost, fmt.Sprintf("transactions %d..%d", cur.TxID+1, anchor.TxID))
	}
	switch {
	case cur.AuditSeq < anchor.AuditSeq:
		lost = append(lost, fmt.Sprintf("audit entries %d..%d, the last of them %s", cur.AuditSeq+1, anchor.AuditSeq, anchor.Last))
	case anchor.AuditSeq > 0 && anchoredHash != anchor.AuditHash:
		lost = append(lost, fmt.Sprintf("audit entry %d (%s) was replaced by a different history", anchor.AuditSeq, anchor.Last))
	}
	if len(lost) > 0 {
		return fmt.Errorf("%w: %s records transaction %d and audit entry %d, the database is at transaction %d "+
			"with audit entry %d: lost %s (bbolt fell back to an older meta page, or an older copy of %s was put in place)",
			ErrRolledBack, filepath.Base(AnchorPath(s.path)), anchor.TxID, anchor.AuditSeq, cur.TxID, cur.AuditSeq,
			strings.Join(lost, "; "), filepath.Base(s.path))
	}
	s.anchoredTx = anchor.TxID
	return nil
}

// MetaPageDamage reports a damaged bbolt meta page of the open database: bbolt then silently uses the other
// one, which may be one transaction older. It returns "" when both meta pages are intact. It reads the file
// while the Store holds its lock, so no other process is writing a meta page meanwhile. A database with an
// anchor reports the loss at Open already; this catches the damage in a CA that has no anchor yet.
func (s *Store) MetaPageDamage() (string, error) { return metaPageDamage(s.path) }

func metaPageDamage(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	pageSize := uint32(os.Getpagesize())
	var metas [2]struct {
		ok   bool
		txid uint64
	}
	for i := range metas {
		buf := make([]byte, metaPageHeader+metaSize)
		if _, err := f.ReadAt(buf, int64(i)*int64(pageSize)); err != nil {
			return fmt.Sprintf("meta page %d is unreadable: %v", i, err), nil
		}
		m := buf[metaPageHeader:]
		sum := fnv.New64a()
		sum.Write(m[:metaChecksumOffset])
		ok := binary.NativeEndian.Uint32(m[0:]) == boltMagic &&
			binary.NativeEndian.Uint64(m[metaChecksumOffset:]) == sum.Sum64()
		if i == 0 && ok {
			pageSize = binary.NativeEndian.Uint32(m[8:]) // meta 1 is at the page size meta 0 declares
		}
		metas[i].ok, metas[i].txid = ok, binary.NativeEndian.Uint64(m[metaTxIDOffset:])
	}
	for i, m := range metas {
		if !m.ok {
			other := metas[1-i]
			return fmt.Sprintf("bbolt meta page %d fails its checksum, so bbolt opened the state of meta page %d "+
				"(transaction %d); if meta page %d held the newest commit, that commit is lost", i, 1-i, other.txid, i), nil
		}
	}
	return "", nil
}

// The layout of a bbolt meta page (go.etcd.io/bbolt internal/common: Page, Meta), native byte order: a
// 16-byte page header, then magic, version, page size, flags (4 bytes each), the root bucket (16), the
// freelist page id, the high-water page id, the transaction id (8 each) and an FNV-64a checksum of all that.
const (
	boltMagic          = 0xED0CDAED
	metaPageHeader     = 16
	metaTxIDOffset     = 48
	metaChecksumOffset = 56
	metaSize           = 64
)
