package docs

import (
	"fmt"
	"regexp"
	"strings"
)

// variable are the parts of an output that differ on every run: the page shows one run's values, the test
// accepts any value of the same shape. Each is replaced by a placeholder on both sides before comparing.
var variable = []struct {
	re   *regexp.Regexp
	with string
}{
	{regexp.MustCompile(`\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)`), "<TIME>"},
	{regexp.MustCompile(`\d{4}-\d\d-\d\d`), "<DATE>"},
	{regexp.MustCompile(`\b[0-9a-f]{16,40}\b`), "<HEX>"},                              // serials, key ids
	{regexp.MustCompile(`\b[0-9a-z]{4}(-[0-9a-z]{4}){6}\b`), "<PASSWORD>"},            // bundle passwords
	{regexp.MustCompile(`\b\d+(\.\d+)?(ns|µs|us|ms|s)\b`), "<DURATION>"},              // took=2.009777ms
	{regexp.MustCompile(`\b(127\.0\.0\.1|localhost|\[::1\]):\d{2,5}\b`), "$1:<PORT>"}, // free ports
}

// normalize replaces the variable parts of a line and drops trailing white space.
func normalize(s string) string {
	s = strings.TrimRight(s, " \t\r")
	for _, v := range variable {
		s = v.re.ReplaceAllString(s, v.with)
	}
	return s
}

// ellipsis is a line of an expected output that stands for any number of lines, as pages write "…".
func ellipsis(l string) bool {
	l = strings.TrimSpace(l)
	return l == "…" || l == "..."
}

// matchOutput compares what a command printed with what the page shows, line by line after normalize; an
// ellipsis line matches any run of lines, including none. Leading and trailing empty lines are ignored.
func matchOutput(want, got []string) error {
	want, got = trimEmpty(want), trimEmpty(got)
	if matchLines(want, got) {
		return nil
	}
	return fmt.Errorf("the page shows:\n\t%s\nthe command printed:\n\t%s",
		strings.Join(want, "\n\t"), strings.Join(got, "\n\t"))
}

func matchLines(want, got []string) bool {
	if len(want) == 0 {
		return len(got) == 0
	}
	if ellipsis(want[0]) {
		for i := 0; i <= len(got); i++ {
			if matchLines(want[1:], got[i:]) {
				return true
			}
		}
		return false
	}
	return len(got) > 0 && lineMatch(want[0], got[0]) && matchLines(want[1:], got[1:])
}

// lineMatch compares one line after normalize; a "…" inside the page's line stands for any text ("ETag: "3f0c…"").
func lineMatch(want, got string) bool {
	raw := got
	want, got = normalize(want), normalize(got)
	if !strings.Contains(want, "…") {
		return want == got
	}
	parts := strings.Split(want, "…")
	for i := range parts {
		parts[i] = regexp.QuoteMeta(parts[i])
	}
	re := regexp.MustCompile("^" + strings.Join(parts, ".*") + "$")
	// "3f0c…" is the start of a value that normalize turned into <HEX>: try the line as printed too.
	return re.MatchString(got) || re.MatchString(strings.TrimRight(raw, " \t\r"))
}

// matchPrefix reports whether got begins with the lines of want (a background command's first lines).
func matchPrefix(want, got []string) bool {
	want = trimEmpty(want)
	if len(got) < len(want) {
		return false
	}
	return matchLines(append(want, "…"), got)
}

func trimEmpty(l []string) []string {
	for len(l) > 0 && strings.TrimSpace(l[0]) == "" {
		l = l[1:]
	}
	for len(l) > 0 && strings.TrimSpace(l[len(l)-1]) == "" {
		l = l[:len(l)-1]
	}
	return l
}
