package cadir

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/wsca/wsca/ca"
)

// TestIssueBatchRows: each kind of bad row is returned as a RowError with its input line, in the order the
// checks found them (cheap checks, then the database, then the output files), nothing of it is recorded or
// written, and the good rows (a renewal among them) are issued.
func TestIssueBatchRows(t *testing.T) {
	d := testDir(t)
	out := t.TempDir()
	if _, err := d.Issue(IssueRequest{Name: "bob", OutDir: t.TempDir()}); err != nil {
		t.Fatal(err)
	}
	renewDir := t.TempDir()
	if _, err := d.Issue(IssueRequest{Name: "erin", OutDir: renewDir}); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(out, "frank.crt"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	rows := []struct {
		req  IssueRequest
		line int
		err  error  // want errors.Is; nil: issued
		text string // want in the message
	}{
		{req: IssueRequest{Name: "bob"}, line: 10, err: ErrNameTaken},
		{req: IssueRequest{Name: "alice"}, line: 11},
		{req: IssueRequest{Name: "a/b"}, line: 12, err: ErrBadName},
		{req: IssueRequest{Name: "alice"}, line: 13, text: "appears again (first on line 11)"},
		{req: IssueRequest{Name: "carol", DNSNames: []string{"x.example"}}, line: 14, err: ErrServerNames},
		{req: IssueRequest{Name: "dave", OutDir: filepath.Join(out, "missing")}, line: 15, err: ErrNoOutputDir},
		{req: IssueRequest{Name: "erin", Renew: true, OutDir: renewDir}, line: 16},
		{req: IssueRequest{Name: "frank"}, line: 17, err: ErrOutputExists},
		{req: IssueRequest{Name: "gina", Pickup: true}, line: 18, text: "needs --p12"},
		{req: IssueRequest{Name: "hana", Kind: ca.KindServer, DNSNames: []string{"h.example"}}, line: 19},
	}
	var reqs []IssueRequest
	var lines []int
	for _, r := range rows {
		if r.req.OutDir == "" {
			r.req.OutDir = out
		}
		reqs = append(reqs, r.req)
		lines = append(lines, r.line)
	}
	recsBefore := countRecords(t, d)
	var progress [][2]int
	results, rowErrs, err := d.IssueBatch(reqs, func(done, total int) { progress = append(progress, [2]int{done, total}) }, lines...)
	if err != nil {
		t.Fatal(err)
	}
	// The order of discovery: the cheap checks (12, 13, 14, 18), the database (10), the files (15, 17).
	var gotLines []int
	for _, re := range rowErrs {
		gotLines = append(gotLines, re.Line)
	}
	if want := []int{12, 13, 14, 18, 10, 15, 17}; !slices.Equal(gotLines, want) {
		t.Fatalf("row errors on lines %v, want %v", gotLines, want)
	}
	byLine := map[int]RowError{}
	for _, re := range rowErrs {
		byLine[re.Line] = re
	}
	var issued []string
	for _, r := range rows {
		re, failed := byLine[r.line]
		if r.err == nil && r.text == "" {
			if failed {
				t.Errorf("line %d: %v", r.line, re.Err)
			}
			issued = append(issued, r.req.Name)
			continue
		}
		if !failed || re.Name != r.req.Name || (r.err != nil && !errors.Is(re.Err, r.err)) || !strings.Contains(re.Err.Error(), r.text) {
			t.Errorf("line %d: %+v, want %v %q", r.line, re, r.err, r.text)
		}
		if r.req.Name != "frank" && r.req.Name != "alice" {
			if _, err := os.Stat(filepath.Join(out, r.req.Name+".crt")); err == nil {
				t.Errorf("line %d: %s.crt written for a failed row", r.line, r.req.Name)
			}
		}
	}
	var got []string
	for _, res := range results {
		got = append(got, res.Record.Name)
		if _, err := os.Stat(res.CertPath); err != nil {
			t.Errorf("%s: %v", res.Record.Name, err)
		}
		if (res.Record.Name == "erin") != (res.Record.Renews != nil) {
			t.Errorf("%s: renews %v", res.Record.Name, res.Record.Renews)
		}
	}
	if strings.Join(got, ",") != strings.Join(issued, ",") {
		t.Fatalf("issued %v, want %v", got, issued)
	}
	if n := countRecords(t, d); n != recsBefore+len(issued) {
		t.Fatalf("%d records after the batch, want %d", n, recsBefore+len(issued))
	}
	if len(progress) != 1 || progress[0] != [2]int{len(reqs), len(reqs)} {
		t.Fatalf("progress %v", progress)
	}
}

// TestIssueBatchChunks: a batch longer than BatchSize is committed chunk by chunk, progress reports each,
// results come in request order, and with no line numbers a row is named by its index+1.
func TestIssueBatchChunks(t *testing.T) {
	if testing.Short() {
		t.Skip("issues BatchSize+2 certificates")
	}
	d := testDir(t)
	out := t.TempDir()
	n := BatchSize + 2
	reqs := make([]IssueRequest, n)
	for i := range reqs {
		reqs[i] = IssueRequest{Name: fmt.Sprintf("u%03d", i), OutDir: out}
	}
	reqs[n-1].Name = reqs[0].Name
	var progress []int
	results, rowErrs, err := d.IssueBatch(reqs, func(done, total int) { progress = append(progress, done) })
	if err != nil {
		t.Fatal(err)
	}
	if len(rowErrs) != 1 || rowErrs[0].Line != n || !strings.Contains(rowErrs[0].Err.Error(), "first on line 1") {
		t.Fatalf("row errors %v", rowErrs)
	}
	if len(results) != n-1 || results[0].Record.Name != reqs[0].Name || results[n-2].Record.Name != reqs[n-2].Name {
		t.Fatalf("%d results", len(results))
	}
	if !slices.Equal(progress, []int{BatchSize, n}) {
		t.Fatalf("progress %v", progress)
	}
}

// TestIssueOne: Issue is a batch of one; a taken name comes back as a *NameTakenError naming the holder.
func TestIssueOne(t *testing.T) {
	d := testDir(t)
	first, err := d.Issue(IssueRequest{Name: "bob", OutDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	_, err = d.Issue(IssueRequest{Name: "bob", OutDir: t.TempDir()})
	var taken *NameTakenError
	if !errors.As(err, &taken) || taken.Serial.Cmp(first.Record.Serial) != 0 || !errors.Is(err, ErrNameTaken) {
		t.Fatalf("second issue: %v", err)
	}
	if _, err := d.Issue(IssueRequest{Name: "", OutDir: t.TempDir()}); !errors.Is(err, ErrBadName) {
		t.Fatalf("empty name: %v", err)
	}
}
