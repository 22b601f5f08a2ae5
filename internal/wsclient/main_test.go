package wsclient

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package if a test leaves a goroutine behind: Session's reader and the relays must end.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
