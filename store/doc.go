// Package store is the bbolt issuance database of a wsca CA directory
// (wsca.db): the record of every certificate issued, the index by name, the
// revocations, the CRL numbers and a hash-chained audit log. It is the only
// package that touches wsca.db.
//
// # Concurrency and locking
//
// bbolt takes an flock on the file: one read-write opener at a time, any
// number of read-only openers while no writer holds it. Open waits at most
// Options.Timeout (5s when zero; bbolt's own default of 0 would wait
// forever) and then fails with ErrLocked. Every write runs in one bbolt
// Update transaction, every read in a View transaction, so a reader never
// sees half a change and Backup is consistent while others write.
//
// # Schema (version 1)
//
// All integers are big-endian. A certificate serial used as a key ("serial
// key") is the serial's magnitude left-padded with zeros to 20 bytes (RFC
// 5280 section 4.1.2.2 caps serials at 20 octets), so bbolt's byte order is
// numeric order.
//
//	meta     "schema_version" → uint32 (1)
//	         "audit_head"     → uint64 sequence + 32-byte SHA-256 of the last
//	                            audit entry (detects deletion of the tail)
//	certs    serial key → JSON record: {"serial": lowercase hex, "name",
//	         "kind", "subject", "not_before", "not_after", "fingerprint_sha256",
//	         "der": base64, "issued_at", "issued_by", "renews": hex or absent,
//	         "revocation": {"at", "reason": RFC 5280 code, "by"} or absent}
//	names    name + 0x00 + serial key → empty (prefix scan lists a name's
//	         certificates; names cannot contain 0x00)
//	revoked  serial key → revocation time (int64 Unix seconds, uint32 ns),
//	         reason (1 byte), NotAfter (int64 s, uint32 ns), then the kind
//	         string. A copy of every current revocation in 25+len(kind)
//	         bytes, so building a CRL never decodes the JSON records.
//	audit    uint64 sequence (from 1) → JSON AuditEntry
//	crl      scope ("intermediate" | "root") → JSON {"number": decimal,
//	         "this_update", "next_update", "last_change"}
//	settings key → value string (CA-wide settings chosen at init; created
//	         on first SetSetting)
//	pickup   SHA-256(token) → JSON Pickup: a bundle waiting for wsca publish
//	         to hand it out once (pickup.go; created on first AddPickups)
//
// Leaf kinds (client, server, …) are revoked on the intermediate's CRL
// ("intermediate" scope); kind "intermediate" on the root's CRL ("root"
// scope). A root cannot be revoked: no CRL covers a trust anchor.
//
// # Damaged files
//
// Open maps bbolt's "invalid database", checksum and version errors, a
// truncated or empty file, and any panic or memory fault while bbolt reads
// a damaged page (debug.SetPanicOnFault, per goroutine) to ErrCorrupt;
// every later read and write is guarded the same way. One class of damage
// is beyond this: a branch page that points back at an ancestor makes
// bbolt's cursor descend forever (etcd-io/bbolt#701, #877, #1257 track
// cycle detection upstream), so a crafted file can hang a command.
// wsca.db is 0600 in a 0700 directory: whoever can write it can do worse.
//
// # Anchor
//
// bbolt silently opens the older of its two meta pages when the newest is
// damaged, undoing the last commit. After every commit the Store writes the
// database's head to wsca.db.head (anchor.go); Open refuses a database that
// is behind it with ErrRolledBack, naming the lost transactions and audit
// entries.
//
// # Audit chain
//
// Each audit entry carries Prev, the Hash of the entry before it (empty for
// the first), and Hash = hex(SHA-256(Prev || canonical JSON of seq, time,
// action, serial, name, user, detail)). VerifyAudit recomputes the chain and
// checks it against meta/audit_head, so an edited, deleted or reordered
// entry is reported. The chain is not signed: it detects accidental damage
// and naive edits, not an attacker who rewrites the whole chain.
package store
