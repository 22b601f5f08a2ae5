package refusal

import "strings"

// SummarizeBody reduces an error page to one line fit for a terminal: the HTML <title> (nginx, Apache) or the
// first line, without control characters, at most 200 runes.
func SummarizeBody(body []byte) string {
	// Invalid UTF-8 is replaced first, so that the ASCII-only lowering below keeps byte offsets valid.
	s := strings.ToValidUTF8(string(body), "\uFFFD")
	if i := strings.Index(asciiLower(s), "<title>"); i >= 0 {
		rest := s[i+len("<title>"):]
		if j := strings.Index(asciiLower(rest), "</title>"); j >= 0 {
			s = rest[:j]
		}
	}
	s = strings.TrimSpace(s)
	if i := strings.IndexAny(s, "\r\n"); i >= 0 {
		s = strings.TrimSpace(s[:i])
	}
	s = strings.Map(func(r rune) rune {
		if r < ' ' || r == 0x7f {
			return -1
		}
		return r
	}, s)
	if r := []rune(s); len(r) > 200 {
		s = string(r[:200]) + "…"
	}
	return s
}

// asciiLower lowers A–Z only, keeping every byte offset of s (strings.ToLower may change lengths).
func asciiLower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}
