// Package leakcheck finds goroutines that outlive a test binary's tests.
package leakcheck

import (
	"fmt"
	"net/http"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"
)

// expected are frames of goroutines that may outlive the tests.
var expected = []string{
	// The SDK's logger goroutine ranges over a ticker channel that Shutdown
	// stops but never closes, so it never exits: one per client. A known
	// leak of github.com/statsig-io/go-sdk v1.35.1 (logger.backgroundFlush).
	"github.com/statsig-io/go-sdk.(*logger).backgroundFlush",
	// The SDK's pollers sleep a whole interval (config 10 s, id lists 60 s,
	// exposure-sampling reset 60 s) before they see that their client was
	// shut down, and then exit.
	"github.com/statsig-io/go-sdk.(*store).pollForRulesetChanges",
	"github.com/statsig-io/go-sdk.(*store).pollForIDListChanges",
	"github.com/statsig-io/go-sdk.(*TTLSet).StartResetThread",
	// The test binary itself.
	"testing.(*M).",
	"testing.runTests",
	"testing.tRunner",
	"leakcheck.Leaked",
	"os/signal.signal_recv",
	"runtime.ensureSigM",
}

// Main runs the tests and then fails the binary if goroutines other than the
// expected ones are still running 5 seconds later. Call it from TestMain.
func Main(m *testing.M) {
	code := m.Run()
	if code == 0 {
		if leaked := Leaked(5 * time.Second); leaked != "" {
			fmt.Fprintf(os.Stderr, "goroutines leaked by the tests:\n\n%s\n", leaked)
			code = 1
		}
	}
	os.Exit(code)
}

// Leaked waits up to d for stray goroutines to end and returns the stacks of
// those that did not, or "".
func Leaked(d time.Duration) string {
	deadline := time.Now().Add(d)
	for {
		// Keep-alive connections of the SDK's own HTTP clients (its error
		// reporter uses the default transport) are idle, not leaked.
		if t, ok := http.DefaultTransport.(interface{ CloseIdleConnections() }); ok {
			t.CloseIdleConnections()
		}
		var leaked []string
		buf := make([]byte, 4<<20)
		buf = buf[:runtime.Stack(buf, true)]
	next:
		for _, g := range strings.Split(string(buf), "\n\n") {
			for _, ok := range expected {
				if strings.Contains(g, ok) {
					continue next
				}
			}
			leaked = append(leaked, g)
		}
		if len(leaked) == 0 {
			return ""
		}
		if time.Now().After(deadline) {
			return strings.Join(leaked, "\n\n")
		}
		time.Sleep(50 * time.Millisecond)
	}
}
