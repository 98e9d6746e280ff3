package main

import (
	"testing"

	"github.com/labkit/statsigmw/internal/leakcheck"
)

// TestMain fails the run when goroutines outlive the tests: every server,
// client and request they start, run's included, must be gone once they end
// (the SDK's known leaks aside; see package leakcheck).
func TestMain(m *testing.M) { leakcheck.Main(m) }
