package store

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Action is what an audit entry records. The values are stored in wsca.db and covered by the audit hash: they
// never change spelling. store owns them because it writes the log; the callers of AppendAudit pick one.
type Action string

// Audit actions. The first three are written by this package itself; the others by AppendAudit's callers.
const (
	ActionIssue    Action = "issue"
	ActionRevoke   Action = "revoke"
	ActionUnrevoke Action = "unrevoke"
	// ActionTarget is the audit action of adding or removing a crl.pem copy target (AddCRLTarget).
	ActionTarget   Action = "crl-target"
	ActionInit     Action = "init"     // wsca init
	ActionImport   Action = "import"   // wsca import
	ActionCRL      Action = "crl"      // a CRL generated (wsca crl, or after a revocation)
	ActionSettings Action = "settings" // a CA setting changed (the OCSP URL)
	ActionBackup   Action = "backup"   // wsca backup
	ActionRestore  Action = "restore"  // wsca restore
)

// AuditEntry is one line of the append-only audit log.
type AuditEntry struct {
	Seq    uint64    `json:"seq"`
	Time   time.Time `json:"time"`
	Action Action    `json:"action"`
	Serial string    `json:"serial,omitempty"` // lowercase hex
	Name   string    `json:"name,omitempty"`
	User   string    `json:"user,omitempty"`
	Detail string    `json:"detail,omitempty"`
	Prev   string    `json:"prev"` // Hash of the previous entry; "" for the first
	Hash   string    `json:"hash"` // hex SHA-256 over Prev and the fields above
}

// auditHashInput is the canonical JSON the hash covers: fixed field order,
// time in UTC with nanoseconds, every field present.
type auditHashInput struct {
	Seq    uint64 `json:"seq"`
	Time   string `json:"time"`
	Action Action `json:"action"`
	Serial string `json:"serial"`
	Name   string `json:"name"`
	User   string `json:"user"`
	Detail string `json:"detail"`
}

func auditHash(e AuditEntry) (string, error) {
	b, err := json.Marshal(auditHashInput{
		Seq: e.Seq, Time: e.Time.UTC().Format(time.RFC3339Nano), Action: e.Action,
		Serial: e.Serial, Name: e.Name, User: e.User, Detail: e.Detail,
	})
	if err != nil {
		return "", err
	}
	h := sha256.New()
	h.Write([]byte(e.Prev))
	h.Write(b)
	return hex.EncodeToString(h.Sum(nil)), nil
}

func seqKey(seq uint64) []byte { return binary.BigEndian.AppendUint64(nil, seq) }

// appendAudit chains e after the current head and writes it in tx. Seq,
// Prev and Hash are overwritten; a zero Time becomes now.
func appendAudit(tx *bolt.Tx, e AuditEntry, now time.Time) error {
	meta := tx.Bucket(bucketMeta)
	var lastSeq uint64
	var prev string
	if head := meta.Get(keyAuditHead); head != nil {
		if len(head) != 8+sha256.Size {
			return fmt.Errorf("%w: audit head has %d bytes", ErrCorrupt, len(head))
		}
		lastSeq = binary.BigEndian.Uint64(head)
		prev = hex.EncodeToString(head[8:])
	}
	if e.Time.IsZero() {
		e.Time = now
	}
	e.Time = e.Time.UTC()
	e.Seq, e.Prev = lastSeq+1, prev
	h, err := auditHash(e)
	if err != nil {
		return err
	}
	e.Hash = h
	v, err := json.Marshal(e)
	if err != nil {
		return err
	}
	b := tx.Bucket(bucketAudit)
	// Keys only ever grow: fill pages completely instead of bbolt's default
	// half, which would leave every audit page half empty after a split.
	b.FillPercent = 1.0
	if err := b.Put(seqKey(e.Seq), v); err != nil {
		return err
	}
	sum, _ := hex.DecodeString(h)
	return meta.Put(keyAuditHead, append(seqKey(e.Seq), sum...))
}

// AppendAudit appends e to the audit log for actions outside this package
// (init, crl, backup, import). Seq, Prev and Hash are assigned here; a zero
// Time means now. Action must not be empty.
func (s *Store) AppendAudit(e AuditEntry) error {
	if e.Action == "" {
		return fmt.Errorf("store: appending audit entry: empty action")
	}
	err := s.update(func(tx *bolt.Tx) error { return appendAudit(tx, e, s.now()) })
	if err != nil {
		return fmt.Errorf("store: appending audit entry %q: %w", e.Action, err)
	}
	return nil
}

// Audit calls fn for every audit entry in sequence order inside one read
// transaction. An error from fn stops the iteration and is returned.
func (s *Store) Audit(fn func(AuditEntry) error) error {
	return s.view(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketAudit).ForEach(func(k, v []byte) error {
			var e AuditEntry
			if err := json.Unmarshal(v, &e); err != nil {
				return fmt.Errorf("store: audit entry %x: %w: %w", k, ErrCorrupt, err)
			}
			return call(func() error { return fn(e) })
		})
	})
}

// VerifyAudit recomputes the audit hash chain. It returns an error wrapping
// ErrAuditTampered, naming the first bad sequence number, if an entry was
// edited (hash mismatch or undecodable), deleted (gap in the sequence, a
// Prev that does not match, or a chain that stops short of the recorded
// head) or reordered (key and Seq disagree).
func (s *Store) VerifyAudit() error {
	return s.view(func(tx *bolt.Tx) error {
		var want uint64 = 1
		var prev string
		c := tx.Bucket(bucketAudit).Cursor()
		for k, v := c.First(); k != nil; k, v = c.Next() {
			bad := func(format string, a ...any) error {
				return fmt.Errorf("store: audit entry %d: %w: %s", want, ErrAuditTampered, fmt.Sprintf(format, a...))
			}
			if len(k) != 8 {
				return bad("malformed key %x", k)
			}
			if got := binary.BigEndian.Uint64(k); got != want {
				return bad("missing (next key is %d)", got)
			}
			var e AuditEntry
			if err := json.Unmarshal(v, &e); err != nil {
				return bad("undecodable: %v", err)
			}
			if e.Seq != want {
				return bad("stored under %d but says %d", want, e.Seq)
			}
			if e.Prev != prev {
				return bad("previous-hash link broken")
			}
			h, err := auditHash(e)
			if err != nil {
				return bad("%v", err)
			}
			if h != e.Hash {
				return bad("hash mismatch (entry edited)")
			}
			prev = e.Hash
			want++
		}
		head := tx.Bucket(bucketMeta).Get(keyAuditHead)
		if head == nil {
			if want != 1 {
				return fmt.Errorf("store: audit entry %d: %w: head record missing", want-1, ErrAuditTampered)
			}
			return nil
		}
		if len(head) != 8+sha256.Size {
			return fmt.Errorf("store: audit head: %w: malformed", ErrAuditTampered)
		}
		headSeq := binary.BigEndian.Uint64(head)
		if headSeq != want-1 {
			return fmt.Errorf("store: audit entry %d: %w: missing (log ends at %d)", want, ErrAuditTampered, want-1)
		}
		if hex.EncodeToString(head[8:]) != prev {
			return fmt.Errorf("store: audit entry %d: %w: does not match the recorded head", headSeq, ErrAuditTampered)
		}
		return nil
	})
}
