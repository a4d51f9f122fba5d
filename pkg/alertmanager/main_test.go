package alertmanager

import (
	"testing"

	"go.uber.org/goleak"
)

// Every tenant's Alertmanager stops all of its goroutines (the library's
// included) when the role stops.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
