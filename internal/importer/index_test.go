package importer

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/wsca/wsca/store"
)

func TestParseIndex(t *testing.T) {
	utc := func(s string) time.Time {
		tm, err := time.Parse(time.RFC3339, s)
		if err != nil {
			t.Fatal(err)
		}
		return tm
	}
	tests := []struct {
		name    string
		line    string
		status  byte
		expiry  time.Time
		revoked time.Time
		reason  store.Reason
		serial  string
	}{
		{"valid", "V\t271126161643Z\t\t1000\tunknown\t/CN=alice", 'V', utc("2027-11-26T16:16:43Z"), time.Time{}, 0, "1000"},
		{"revoked with reason", "R\t271126161643Z\t261126161643Z,keyCompromise\t1001\tunknown\t/CN=bob", 'R', utc("2027-11-26T16:16:43Z"), utc("2026-11-26T16:16:43Z"), store.KeyCompromise, "1001"},
		{"revoked without reason", "R\t271126161643Z\t261126161643Z\t1002\tunknown\t/CN=c", 'R', utc("2027-11-26T16:16:43Z"), utc("2026-11-26T16:16:43Z"), store.Unspecified, "1002"},
		{"openssl CACompromise spelling", "R\t271126161643Z\t261126161643Z,CACompromise\t0A\tunknown\t/CN=c", 'R', utc("2027-11-26T16:16:43Z"), utc("2026-11-26T16:16:43Z"), store.CACompromise, "a"},
		{"hold instruction", "R\t271126161658Z\t261126161658Z,holdInstruction,holdInstructionReject\t1003\tunknown\t/CN=dave", 'R', utc("2027-11-26T16:16:58Z"), utc("2026-11-26T16:16:58Z"), store.CertificateHold, "1003"},
		{"keyTime", "R\t271126161643Z\t261126161658Z,keyTime,20261120101010Z\t1000\tunknown\t/CN=alice", 'R', utc("2027-11-26T16:16:43Z"), utc("2026-11-26T16:16:58Z"), store.KeyCompromise, "1000"},
		{"generalized time after 2049", "V\t20510101000000Z\t\tB1095DA7C21625BC51A23FBDC2485B97\tunknown\t/CN=x", 'V', utc("2051-01-01T00:00:00Z"), time.Time{}, 0, "b1095da7c21625bc51a23fbdc2485b97"},
		{"UTCTime 50 is 1950", "E\t500101000000Z\t\t01\tunknown\t/CN=old", 'E', utc("1950-01-01T00:00:00Z"), time.Time{}, 0, "1"},
		{"CRLF", "V\t271126161643Z\t\t1000\tunknown\t/CN=alice\r", 'V', utc("2027-11-26T16:16:43Z"), time.Time{}, 0, "1000"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseIndex(strings.NewReader("\n"+tt.line+"\n"), "index.txt")
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != 1 {
				t.Fatalf("got %d entries", len(got))
			}
			e := got[0]
			if e.Line != 2 || e.Status != tt.status || !e.Expiry.Equal(tt.expiry) || e.Serial.Text(16) != tt.serial ||
				!e.RevokedAt.Equal(tt.revoked) || e.Reason != tt.reason || e.Revoked != (tt.status == 'R') {
				t.Errorf("got %+v", e)
			}
		})
	}
}

func TestParseIndexErrors(t *testing.T) {
	tests := []struct {
		name, input, want string
	}{
		{"five fields", "V\t271126161643Z\t\t1000\t/CN=a\n", "line 1: invalid index.txt: want 6 tab-separated fields"},
		{"bad status", "X\t271126161643Z\t\t1000\tunknown\t/CN=a\n", `line 1: invalid index.txt: status "X"`},
		{"bad expiry", "V\t2711261616Z\t\t1000\tunknown\t/CN=a\n", "line 1: invalid index.txt: expiry"},
		{"R without date", "R\t271126161643Z\t\t1000\tunknown\t/CN=a\n", "status R without a revocation date"},
		{"V with date", "V\t271126161643Z\t261126161643Z\t1000\tunknown\t/CN=a\n", "status V with a revocation field"},
		{"unknown reason", "R\t271126161643Z\t261126161643Z,stolen\t1000\tunknown\t/CN=a\n", "unknown revocation reason"},
		{"removeFromCRL", "R\t271126161643Z\t261126161643Z,removeFromCRL\t1000\tunknown\t/CN=a\n", "delta CRLs only"},
		{"hold without OID", "R\t271126161643Z\t261126161643Z,holdInstruction\t1000\tunknown\t/CN=a\n", "needs an argument"},
		{"serial not hex", "V\t271126161643Z\t\t10G0\tunknown\t/CN=a\n", `serial "10G0"`},
		{"serial zero", "V\t271126161643Z\t\t00\tunknown\t/CN=a\n", "must be positive"},
		{"serial too long", "V\t271126161643Z\t\t" + strings.Repeat("7F", 21) + "\tunknown\t/CN=a\n", "at most 20 octets"},
		{"duplicate serial", "V\t271126161643Z\t\t1000\tunknown\t/CN=a\nV\t271126161643Z\t\t1000\tunknown\t/CN=b\n", "line 2: invalid index.txt: serial 1000 appears again (first on line 1)"},
		{"empty subject", "V\t271126161643Z\t\t1000\tunknown\t\n", "empty subject"},
		{"line too long", "V\t" + strings.Repeat("x", maxIndexLine+1) + "\n", "longer than"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseIndex(strings.NewReader(tt.input), "index.txt")
			if err == nil {
				t.Fatalf("no error; got %v", got)
			}
			if !errors.Is(err, ErrIndex) {
				t.Errorf("error %v does not wrap ErrIndex", err)
			}
			var le *LineError
			if !errors.As(err, &le) {
				t.Errorf("error %v is not a *LineError", err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not contain %q", err, tt.want)
			}
		})
	}
}

func TestParseIndexReportsEveryBadLine(t *testing.T) {
	in := "V\t271126161643Z\t\t1000\tunknown\t/CN=a\nX\t1\t\t1\tu\t/CN=b\nV\t271126161643Z\t\t1001\tunknown\t/CN=c\nV\tbad\t\t2\tu\t/CN=d\n"
	_, err := ParseIndex(strings.NewReader(in), "index.txt")
	if err == nil || !strings.Contains(err.Error(), "line 2:") || !strings.Contains(err.Error(), "line 4:") {
		t.Fatalf("want errors for lines 2 and 4, got %v", err)
	}
}

func FuzzParseIndex(f *testing.F) {
	for _, s := range []string{
		"V\t271126161643Z\t\t1000\tunknown\t/CN=alice\n",
		"R\t271126161643Z\t261126161643Z,keyCompromise\t1001\tunknown\t/CN=bob\n",
		"R\t271126161658Z\t261126161658Z,holdInstruction,holdInstructionReject\t1003\tunknown\t/CN=dave\n",
		"E\t20510101000000Z\t\tB1095DA7C21625BC51A23FBDC2485B97\tunknown\t/C=DE/O=x/CN=y\n",
		"\n\r\n\t\t\t\t\t\n",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		entries, err := ParseIndex(strings.NewReader(in), "index.txt")
		if err != nil {
			if entries != nil {
				t.Fatal("entries returned with an error")
			}
			if !errors.Is(err, ErrIndex) {
				t.Fatalf("error %v does not wrap ErrIndex", err)
			}
			return
		}
		seen := map[string]bool{}
		for _, e := range entries {
			if e.Serial.Sign() <= 0 || e.Serial.BitLen() > 160 {
				t.Fatalf("bad serial %v", e.Serial)
			}
			if seen[e.Serial.Text(16)] {
				t.Fatalf("duplicate serial %v accepted", e.Serial)
			}
			seen[e.Serial.Text(16)] = true
			if e.Revoked != (e.Status == StatusRevoked) || (e.Revoked && e.RevokedAt.IsZero()) {
				t.Fatalf("inconsistent revocation: %+v", e)
			}
			if e.Revoked && !e.Reason.Selectable() {
				t.Fatalf("reason %v accepted", e.Reason)
			}
		}
	})
}
