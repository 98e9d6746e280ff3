package statsigclient_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	statsig "github.com/statsig-io/go-sdk"

	"github.com/labkit/statsigmw/internal/leakcheck"
	"github.com/labkit/statsigmw/statsigclient"
	"github.com/labkit/statsigmw/statsigtest"
)

// TestMain sends the SDK's output, errors with stack traces that the tests
// provoke on purpose, to quiet, and fails the run when goroutines outlive the
// tests.
func TestMain(m *testing.M) {
	statsigclient.RouteSDKLogs(quiet)
	leakcheck.Main(m)
}

// testConfig serves one experiment whose single group everyone gets, so that
// an evaluation tells configs (color "blue") from defaults (the fallback).
var testConfig = statsigtest.Config{
	Experiments: []statsigtest.ExperimentSpec{{
		Name:   "exp",
		Groups: []statsigtest.Group{{Name: "A", Weight: 100, Params: map[string]any{"color": "blue"}}},
	}},
}

var testUser = statsig.User{UserID: "visitor-1"}

// quiet receives the package's warnings, which these tests provoke on
// purpose.
var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

func newServer(t testing.TB) *statsigtest.Server {
	t.Helper()
	srv := statsigtest.NewServer(testConfig)
	t.Cleanup(srv.Close)
	return srv
}

func mustJSON(t testing.TB, cfg statsigtest.Config) string {
	t.Helper()
	b, err := cfg.JSON()
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// newClient creates a client and shuts it down when the test ends.
func newClient(t testing.TB, cfg statsigclient.Config) *statsigclient.Client {
	t.Helper()
	if cfg.Logger == nil {
		cfg.Logger = quiet
	}
	c, err := statsigclient.New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = c.Shutdown(ctx)
	})
	return c
}

// logEvents logs n custom events named name, with values "0".."n-1".
func logEvents(c *statsigclient.Client, name string, n int) {
	for i := 0; i < n; i++ {
		c.SDK().LogEvent(statsig.Event{EventName: name, User: testUser, Value: strconv.Itoa(i)})
	}
}

// color evaluates exp without logging an exposure.
func color(c *statsigclient.Client) string {
	exp := c.SDK().GetExperimentWithExposureLoggingDisabled(testUser, "exp")
	return exp.GetString("color", "fallback")
}

// shutdown shuts c down with the given timeout.
func shutdown(c *statsigclient.Client, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	return c.Shutdown(ctx)
}

// waitFor polls cond until it holds or 10 s have passed: a guard against a
// hung test, not a measure.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

func requestCount(srv *statsigtest.Server, e statsigtest.Endpoint) int {
	n := 0
	for _, r := range srv.Requests() {
		if r.Endpoint == e {
			n++
		}
	}
	return n
}

// statsSampler samples c.Stats() until stopped and records every snapshot
// in which the events add up to more than total: an event counted twice.
type statsSampler struct {
	stop chan struct{}
	done chan struct{}
	mu   sync.Mutex
	bad  []statsigclient.Stats
	n    int
}

func sampleStats(c *statsigclient.Client, total int64) *statsSampler {
	s := &statsSampler{stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(s.done)
		for {
			st := c.Stats()
			s.mu.Lock()
			s.n++
			if st.EventsSent+st.EventsDropped+st.EventsFailed+st.EventsPending > total {
				s.bad = append(s.bad, st)
			}
			s.mu.Unlock()
			select {
			case <-s.stop:
				return
			case <-time.After(20 * time.Microsecond): // a sampling rate, not a wait for anything
			}
		}
	}()
	return s
}

// check stops the sampler and fails t if an event was ever counted twice.
func (s *statsSampler) check(t testing.TB, total int64) {
	t.Helper()
	close(s.stop)
	<-s.done
	if len(s.bad) > 0 {
		t.Errorf("%d of %d Stats snapshots count more than the %d events logged, first %+v", len(s.bad), s.n, total, s.bad[0])
	}
}

// shutdownError returns err as a *ShutdownError, failing t if it is not
// one, or if it has a nil Err or prints one.
func shutdownError(t testing.TB, err error) *statsigclient.ShutdownError {
	t.Helper()
	var se *statsigclient.ShutdownError
	if !errors.As(err, &se) {
		t.Fatalf("Shutdown error = %v (%T), want a *ShutdownError", err, err)
	}
	if se.Err == nil || strings.Contains(se.Error(), "<nil>") {
		t.Fatalf("ShutdownError %q has Err %v, want a reason", se.Error(), se.Err)
	}
	if !strings.HasPrefix(se.Error(), "statsigclient: ") {
		t.Errorf("error %q does not start with %q", se, "statsigclient: ")
	}
	return se
}
