package cadir

import (
	"strings"
	"testing"
	"time"

	"github.com/wsca/wsca/ca"
)

func TestParseCSV(t *testing.T) {
	in := "name,email,days,kind,dns,ip\n" +
		"ann,ann@example.com;a2@example.com,30,,,\n" +
		"# a comment line\n" +
		"bob,,x,,,\n" +
		"web,,10,server,web.example.com,127.0.0.1\n" +
		"too,many,fields,,,,\n" +
		"eve,,,robot,,\n"
	reqs, lines, rowErrs, err := ParseCSV(strings.NewReader(in), IssueRequest{OutDir: "out", Validity: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if len(reqs) != 2 || reqs[0].Name != "ann" || reqs[1].Name != "web" {
		t.Fatalf("requests = %+v", reqs)
	}
	if lines[0] != 2 || lines[1] != 5 {
		t.Errorf("lines = %v, want [2 5]", lines)
	}
	if got := reqs[0].Emails; len(got) != 2 || got[1] != "a2@example.com" {
		t.Errorf("emails = %v", got)
	}
	if reqs[0].Validity != 30*24*time.Hour || reqs[0].OutDir != "out" {
		t.Errorf("ann: validity %v outdir %q; want the row's days and the base's outdir", reqs[0].Validity, reqs[0].OutDir)
	}
	if reqs[1].Kind != ca.KindServer || reqs[1].DNSNames[0] != "web.example.com" || reqs[1].IPs[0] != "127.0.0.1" {
		t.Errorf("web = %+v", reqs[1])
	}
	wantLines := []int{4, 6, 7}
	if len(rowErrs) != len(wantLines) {
		t.Fatalf("row errors = %v, want lines %v", rowErrs, wantLines)
	}
	for i, re := range rowErrs {
		if re.Line != wantLines[i] {
			t.Errorf("row error %d on line %d, want %d: %v", i, re.Line, wantLines[i], re.Err)
		}
	}
}

func TestParseCSVFileErrors(t *testing.T) {
	for _, tc := range []struct{ name, in, want string }{
		{"empty", "", "empty"},
		{"no name column", "email\nx@example.com\n", "no name column"},
		{"unknown column", "name,phone\nann,1\n", `unknown column "phone"`},
		{"duplicate column", "name,name\nann,ann\n", "twice"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, _, err := ParseCSV(strings.NewReader(tc.in), IssueRequest{})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want it to mention %q", err, tc.want)
			}
		})
	}
}

func TestValidateName(t *testing.T) {
	for _, tc := range []struct {
		name string
		ok   bool
	}{
		{"alice", true}, {"Alice Smith", true}, {"ali.ce-2", true}, {"", false}, {"..", false},
		{"a/b", false}, {`a\b`, false}, {"-rf", false}, {"tab\there", false}, {strings.Repeat("x", 65), false},
		// Issue 9 §2: names that look like another.
		{"José", true}, {"李小龙", true}, {"alice ", false}, {" alice", false}, {"ali\u200bce", false},
		{"alice\u200d", false}, {"\u202eecila", false}, {"ali\u00a0ce", false}, {"ali\u00adce", false},
		{"jose\u0301", false}, {"alice\ufe0f", false}, {"\u3164alice", false}, {"ali\x1b[0mce", false},
		{"alice\u2028", false}, {"ali\ufeffce", false}, {"\xff", false},
	} {
		if err := ValidateName(tc.name); (err == nil) != tc.ok {
			t.Errorf("ValidateName(%q) = %v, want ok=%v", tc.name, err, tc.ok)
		}
	}
}

func TestSerialOf(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want string
		ok   bool
	}{
		{"0a1b", "a1b", true}, {"0A:1B", "a1b", true}, {"0x10", "10", true}, {"zz", "", false}, {"0", "", false},
		{"", "", false}, {strings.Repeat("f", 41), "", false},
	} {
		n, ok := SerialOf(tc.in)
		if ok != tc.ok || (ok && n.Text(16) != tc.want) {
			t.Errorf("SerialOf(%q) = %v, %v; want %s, %v", tc.in, n, ok, tc.want, tc.ok)
		}
	}
}

func TestDue(t *testing.T) {
	this := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	next := this.Add(10 * 24 * time.Hour)
	if due(this.Add(4*24*time.Hour), this, next, 0.5) {
		t.Error("due before half the validity")
	}
	if !due(this.Add(5*24*time.Hour), this, next, 0.5) {
		t.Error("not due at half the validity")
	}
	if !due(this, time.Time{}, time.Time{}, 0.5) {
		t.Error("a CRL never generated must be due")
	}
}

// FuzzParseCSV feeds arbitrary files to the batch parser: it must never panic, and every request it
// returns must carry a valid name.
func FuzzParseCSV(f *testing.F) {
	f.Add("name,email\nann,ann@example.com\n")
	f.Add("name,days,kind\nbob,5,server\n\"q\"\"uoted\",1,client\n")
	f.Add("\ufeffname\n\"unterminated\n")
	f.Add("name,ip,dns\nweb,::1;127.0.0.1,a.example;b.example\n")
	f.Fuzz(func(t *testing.T, in string) {
		reqs, lines, _, err := ParseCSV(strings.NewReader(in), IssueRequest{})
		if err != nil {
			return
		}
		if len(reqs) != len(lines) {
			t.Fatalf("%d requests but %d lines", len(reqs), len(lines))
		}
		for _, r := range reqs {
			if verr := ValidateName(r.Name); verr != nil {
				t.Fatalf("returned an invalid name %q: %v", r.Name, verr)
			}
		}
	})
}
