package main

import (
	"log/slog"
	"os"
	"testing"

	"github.com/labkit/statsigmw/internal/leakcheck"
	"github.com/labkit/statsigmw/statsigclient"
)

// TestMain fails the run when goroutines outlive the tests: every server,
// client and request they start, run's included, must be gone once they end
// (the SDK's known leaks aside; see package leakcheck). The SDK's own
// messages go to stderr through slog, without the stack trace the SDK would
// print with each error (tests fault the backend on purpose).
func TestMain(m *testing.M) {
	statsigclient.RouteSDKLogs(slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})))
	leakcheck.Main(m)
}
