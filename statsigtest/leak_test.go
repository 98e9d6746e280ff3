package statsigtest_test

import (
	"testing"

	"github.com/labkit/statsigmw/internal/leakcheck"
)

// TestMain fails the run when goroutines outlive the tests, such as a
// request a Hang fault holds after its Server closed.
func TestMain(m *testing.M) { leakcheck.Main(m) }
