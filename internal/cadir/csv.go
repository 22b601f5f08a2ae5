package cadir

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/wsca/wsca/ca"
)

// CSVColumns are the columns wsca issue --from understands. Only name is required; a cell may hold several
// values separated by ';' (email, uri, dns, ip).
var CSVColumns = []string{"name", "email", "uri", "ou", "days", "kind", "dns", "ip", "key_type"}

// maxCSVRows bounds one input file: a typo'd file should not make wsca allocate without limit.
const maxCSVRows = 1_000_000

// ParseCSV reads the rows of a wsca issue --from file: a header line naming columns, then one certificate
// per line. Every request starts as a copy of base (flags given on the command line) and the row's cells
// override it. A row that cannot be parsed is returned as a RowError with its line number; a missing or bad
// header, or an unreadable file, is an error for the whole file.
func ParseCSV(r io.Reader, base IssueRequest) (reqs []IssueRequest, lines []int, rowErrs []RowError, err error) {
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = -1 // checked per row, to report the line instead of failing the file
	cr.TrimLeadingSpace = true
	cr.Comment = '#'
	cr.ReuseRecord = true
	header, err := cr.Read()
	if errors.Is(err, io.EOF) {
		return nil, nil, nil, errors.New("the file is empty: it needs a header line such as name,email")
	}
	if err != nil {
		return nil, nil, nil, fmt.Errorf("reading the header: %w", err)
	}
	cols := make([]string, len(header))
	hasName := false
	for i, h := range header {
		h = strings.ToLower(strings.TrimSpace(strings.TrimPrefix(h, "\ufeff")))
		known := false
		for _, c := range CSVColumns {
			known = known || c == h
		}
		if !known {
			return nil, nil, nil, fmt.Errorf("line 1: unknown column %q (known: %s)", h, strings.Join(CSVColumns, ", "))
		}
		for _, prev := range cols[:i] {
			if prev == h {
				return nil, nil, nil, fmt.Errorf("line 1: column %q appears twice", h)
			}
		}
		cols[i] = h
		hasName = hasName || h == "name"
	}
	if !hasName {
		return nil, nil, nil, errors.New("line 1: the header has no name column")
	}
	for {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			return reqs, lines, rowErrs, nil
		}
		if err != nil {
			// FieldPos is only defined after a successful Read: take the line from the error.
			var pe *csv.ParseError
			if errors.As(err, &pe) {
				rowErrs = append(rowErrs, RowError{Line: pe.Line, Err: pe.Err})
				if len(rowErrs) > maxCSVRows {
					return nil, nil, nil, fmt.Errorf("line %d: too many malformed rows", pe.Line)
				}
				continue
			}
			return nil, nil, nil, fmt.Errorf("reading the file: %w", err)
		}
		line, _ := cr.FieldPos(0)
		if len(reqs)+len(rowErrs) >= maxCSVRows {
			return nil, nil, nil, fmt.Errorf("line %d: more than %d rows; split the file", line, maxCSVRows)
		}
		req := base
		req.Emails, req.URIs, req.DNSNames, req.IPs = nil, nil, nil, nil
		if rerr := fillRow(&req, cols, rec); rerr != nil {
			rowErrs = append(rowErrs, RowError{Line: line, Name: req.Name, Err: rerr})
			continue
		}
		reqs = append(reqs, req)
		lines = append(lines, line)
	}
}

func fillRow(req *IssueRequest, cols, rec []string) error {
	if len(rec) != len(cols) {
		return fmt.Errorf("has %d fields, the header has %d", len(rec), len(cols))
	}
	for i, c := range cols {
		v := strings.TrimSpace(rec[i])
		if v == "" {
			continue
		}
		switch c {
		case "name":
			req.Name = v
		case "email":
			req.Emails = splitCell(v)
		case "uri":
			req.URIs = splitCell(v)
		case "dns":
			req.DNSNames = splitCell(v)
		case "ip":
			req.IPs = splitCell(v)
		case "ou":
			req.OU = v
		case "days":
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 || n > 36500 {
				return fmt.Errorf("days %q is not a number of days between 1 and 36500", v)
			}
			req.Validity = time.Duration(n) * 24 * time.Hour
		case "kind":
			switch ca.Kind(strings.ToLower(v)) {
			case ca.KindClient, ca.KindServer:
				req.Kind = ca.Kind(strings.ToLower(v))
			default:
				return fmt.Errorf("kind %q is not client or server", v)
			}
		case "key_type":
			kt, err := ca.ParseKeyType(v)
			if err != nil {
				return err
			}
			req.KeyType = kt
		}
	}
	if req.Name == "" {
		return errors.New("the name is empty")
	}
	return ValidateName(req.Name)
}

func splitCell(v string) []string {
	var out []string
	for _, p := range strings.Split(v, ";") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}
