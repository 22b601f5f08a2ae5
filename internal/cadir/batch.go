package cadir

import (
	"crypto/x509"
	"fmt"

	"github.com/wsca/wsca/ca"
)

// batchItem is one request of an IssueBatch on its way through the checks, the signing, the commit and the
// files. It carries its own outcome: err once it has failed (nothing of it is then recorded or written),
// res once its files are written. A single Issue is a batch of one item.
type batchItem struct {
	pendingLeaf // req always; key, cert and rec once signed
	index       int
	line        int // input line for RowError
	err         error
	res         *IssueResult
}

// batch is the state of one IssueBatch run.
type batch struct {
	items []batchItem
	// failed holds the indexes of the failed items in the order they failed, which is the order of the
	// RowErrors the caller prints: cheap checks, preflight, outputs, then chunk by chunk.
	failed []int
}

// newBatch wraps reqs (the items point into reqs, so the run's notes on a request stay visible to the
// caller); lines gives each request's input line, index+1 where it is short.
func newBatch(reqs []IssueRequest, lines []int) *batch {
	b := &batch{items: make([]batchItem, len(reqs))}
	for i := range reqs {
		line := i + 1
		if i < len(lines) {
			line = lines[i]
		}
		b.items[i] = batchItem{pendingLeaf: pendingLeaf{req: &reqs[i]}, index: i, line: line}
	}
	return b
}

// fail records err as its outcome; the item takes no further part in the run.
func (b *batch) fail(it *batchItem, err error) {
	it.err = err
	b.failed = append(b.failed, it.index)
}

// live returns the items of [start, end) that have not failed, in order.
func (b *batch) live(start, end int) []*batchItem {
	var out []*batchItem
	for i := start; i < end; i++ {
		if b.items[i].err == nil {
			out = append(out, &b.items[i])
		}
	}
	return out
}

// rowErrors returns the failed items as RowErrors, in the order they failed.
func (b *batch) rowErrors() []RowError {
	var out []RowError
	for _, i := range b.failed {
		it := &b.items[i]
		out = append(out, RowError{Line: it.line, Name: it.req.Name, Err: it.err})
	}
	return out
}

// results returns the results of the items whose files were written, in request order.
func (b *batch) results() []IssueResult {
	var out []IssueResult
	for i := range b.items {
		if r := b.items[i].res; r != nil {
			out = append(out, *r)
		}
	}
	return out
}

// check makes the cheap checks, before the passphrase is asked for: the request is valid, its pickup
// options fit, and its name appears once in the batch.
func (b *batch) check() {
	seen := make(map[string]int, len(b.items))
	for _, it := range b.live(0, len(b.items)) {
		r := it.req
		if _, err := r.leafRequest(nil); err != nil {
			b.fail(it, err)
			continue
		}
		if err := r.checkPickup(); err != nil {
			b.fail(it, err)
			continue
		}
		if j, dup := seen[r.Name]; dup {
			b.fail(it, fmt.Errorf("name %q appears again (first on line %d)", r.Name, b.items[j].line))
			continue
		}
		seen[r.Name] = it.index
	}
}

// checkOutputs fails the items whose output directory or files are not usable (see checkOutputs).
func (b *batch) checkOutputs() {
	for _, it := range b.live(0, len(b.items)) {
		if err := checkOutputs(it.req); err != nil {
			b.fail(it, err)
		}
	}
}

// issuing is what every leaf of a batch is signed with.
type issuing struct {
	inter ca.Authority
	chain []*x509.Certificate
	urls  leafURLs
}
