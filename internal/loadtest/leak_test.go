package main

import (
	"testing"

	"github.com/labkit/statsigmw/internal/leakcheck"
)

// TestMain fails the run when goroutines outlive the tests: every backend,
// process watcher and worker the tool starts must be gone.
func TestMain(m *testing.M) { leakcheck.Main(m) }
