package relay

import "strings"

// ambiguousPath returns why a (decoded) request path could be read differently by the backend than by the relay's
// route match, or "" when it cannot. Two known readings are refused (issue 11 §5), unless the route sets
// allow_ambiguous_paths:
//   - a dot segment followed by parameters ("..;", "..;jsessionid=x", ".;"): Tomcat, Jetty and Spring drop the
//     parameters and then resolve the "..", so "/public/..;/secure" reaches /secure there;
//   - a percent sign followed by two hex digits in the decoded path (the client sent %25xx): a backend or framework
//     that decodes once more reads "%252e%252e" as "..".
func ambiguousPath(p string) string {
	for seg := range strings.SplitSeq(p, "/") {
		if before, _, ok := strings.Cut(seg, ";"); ok && (before == "." || before == "..") {
			return "dot segment with ';' parameters in path"
		}
	}
	for i := strings.IndexByte(p, '%'); i >= 0 && i+2 < len(p); {
		if isHex(p[i+1]) && isHex(p[i+2]) {
			return "double-encoded character (%25 followed by hex digits) in path"
		}
		j := strings.IndexByte(p[i+1:], '%')
		if j < 0 {
			break
		}
		i += 1 + j
	}
	return ""
}

func isHex(c byte) bool { return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F' }
