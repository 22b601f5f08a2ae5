package refusal

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestSummarizeBody(t *testing.T) {
	tests := []struct{ in, want string }{
		{"<html>\r\n<head><title>400 No required SSL certificate was sent</title></head>\r\n<body>…", "400 No required SSL certificate was sent"},
		{"403 Forbidden: cn not allowed\n", "403 Forbidden: cn not allowed"},
		{"", ""},
		{"a\x00b\x1bc", "abc"},
		{strings.Repeat("x", 300), strings.Repeat("x", 200) + "…"},
	}
	for _, tt := range tests {
		if got := SummarizeBody([]byte(tt.in)); got != tt.want {
			t.Errorf("SummarizeBody(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// FuzzSummarizeBody: error pages come from the server; the summary is short, valid text without control
// characters, whatever the page.
func FuzzSummarizeBody(f *testing.F) {
	f.Add([]byte("<html><head><title>400 The SSL certificate error</title></head></html>"))
	f.Add([]byte("403 Forbidden: cn not allowed\n"))
	f.Add([]byte("<TITLE>x</title"))
	f.Add([]byte("\x00\x01\r\n\x7f"))
	f.Fuzz(func(t *testing.T, body []byte) {
		s := SummarizeBody(body)
		if n := utf8.RuneCountInString(s); n > 201 || !utf8.ValidString(s) {
			t.Fatalf("summary of %d runes, valid UTF-8 %v: %q", n, utf8.ValidString(s), s)
		}
		for _, r := range s {
			if r < ' ' || r == 0x7f {
				t.Fatalf("control character in %q", s)
			}
		}
	})
}
