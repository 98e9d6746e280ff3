package e2e

import (
	"testing"

	"github.com/labkit/statsigmw/internal/leakcheck"
)

// TestMain fails the run when goroutines outlive the tests: the browser,
// its tabs and the example's process must all be gone once they end.
func TestMain(m *testing.M) { leakcheck.Main(m) }
