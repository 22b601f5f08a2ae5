package interop_test

import (
	"context"
	"os/exec"
	"regexp"
	"strconv"
	"testing"
	"time"
)

// TestDemoScript runs scripts/demo, the README's first command, and checks the story it tells: both relays — the
// one reading crl.pem and the one fed over HTTP by wsca publish — cut bob's open session within a second.
func TestDemoScript(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, "../scripts/demo").CombinedOutput()
	if err != nil {
		t.Fatalf("scripts/demo: %v\n%s", err, out)
	}
	if !regexp.MustCompile(`(?m)^demo: ok$`).Match(out) {
		t.Fatalf("scripts/demo did not end with demo: ok:\n%s", out)
	}
	for _, relay := range []string{"relay 1", "relay 2"} {
		m := regexp.MustCompile(relay + ` \([^)]*\) cut bob ([0-9.]+) s after wsca revoke returned`).FindSubmatch(out)
		if m == nil {
			t.Fatalf("scripts/demo does not say when %s cut bob:\n%s", relay, out)
		}
		if s, _ := strconv.ParseFloat(string(m[1]), 64); s > 1 {
			t.Errorf("scripts/demo: %s cut bob after %s s, want within 1 s", relay, m[1])
		}
	}
}
