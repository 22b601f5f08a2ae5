package main

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// minValidity is the shortest lifetime --valid accepts: shorter certificates expire before a holder can use them.
const minValidity = time.Minute

// parseValidity reads --valid: a Go duration (90m, 24h, 1h30m) or a number of days with "d" (30d).
func parseValidity(s string) (time.Duration, error) {
	var d time.Duration
	if n, ok := strings.CutSuffix(s, "d"); ok {
		days, err := strconv.Atoi(n)
		if err != nil || days < 1 {
			return 0, fmt.Errorf("--valid %q: want a duration like 24h, 90m or 30d", s)
		}
		d = time.Duration(days) * 24 * time.Hour
	} else {
		var err error
		if d, err = time.ParseDuration(s); err != nil {
			return 0, fmt.Errorf("--valid %q: want a duration like 24h, 90m or 30d", s)
		}
	}
	if d < minValidity {
		return 0, fmt.Errorf("--valid %s is shorter than %s", s, minValidity)
	}
	return d, nil
}

// runIssueToken creates a one-time enrollment token for NAME (wsca issue NAME --token): the identity flags
// decide what the device's certificate will carry.
func runIssueToken(g *globals, o *issueOptions, args []string) error {
	switch {
	case o.from != "" || len(args) != 1:
		return usageError{fmt.Errorf("--token needs exactly one NAME (and no --from)")}
	case o.p12 || o.renew || o.server:
		return usageError{fmt.Errorf("--token cannot be combined with --p12, --renew or --server: the device makes its own key")}
	case o.tokenTTL <= 0:
		return usageError{fmt.Errorf("--token-ttl must be positive")}
	}
	req, err := o.request(g)
	if err != nil {
		return err
	}
	req.Name = args[0]
	token, expires, err := g.caDir().CreateToken(req, o.tokenTTL)
	if err != nil {
		return err
	}
	fmt.Fprintf(g.env.stdout, "enrollment token for %s (one use, until %s; shown once, wsca keeps only its hash):\n%s\n",
		req.Name, expires.Format(time.RFC3339), token)
	fmt.Fprintf(g.env.stderr, "wsca: the device posts its CSR to https://ENROLL-HOST/.well-known/est/simpleenroll "+
		"with the header 'Authorization: Bearer TOKEN' (see docs/enroll.md)\n")
	return nil
}
