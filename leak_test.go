package statsigmw_test

import (
	"testing"

	"github.com/labkit/statsigmw/internal/leakcheck"
)

// TestMain fails the run when goroutines outlive the tests: every server,
// client and request the tests start must be gone once they end (the SDK's
// own known leak aside; see package leakcheck).
func TestMain(m *testing.M) { leakcheck.Main(m) }
