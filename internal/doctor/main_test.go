package doctor

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package if a test leaves a goroutine behind: the probes, the relays and the nginx
// watchers must all end.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
