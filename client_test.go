package statsigmw_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	statsig "github.com/statsig-io/go-sdk"

	"github.com/labkit/statsigmw"
	"github.com/labkit/statsigmw/statsigtest"
)

// lcConfig serves one experiment whose single group everyone gets, so that
// an evaluation tells configs (color "blue") from defaults (the fallback).
var lcConfig = statsigtest.Config{
	Experiments: []statsigtest.Experiment{{
		Name:   "lc_exp",
		Groups: []statsigtest.Group{{Name: "A", Weight: 100, Params: map[string]any{"color": "blue"}}},
	}},
}

var lcUser = statsig.User{UserID: "visitor-1"}

// lcQuiet is a logger for the package's own warnings, which these tests
// provoke on purpose.
var lcQuiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// lcNewClient creates a client and shuts it down when the test ends.
func lcNewClient(t *testing.T, cfg statsigmw.ClientConfig) *statsigmw.Client {
	t.Helper()
	if cfg.Logger == nil {
		cfg.Logger = lcQuiet
	}
	c, err := statsigmw.NewClient(cfg)
	if err != nil {
		t.Fatalf("NewClient: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = c.Shutdown(ctx)
	})
	return c
}

// lcLogEvents logs n custom events named name, with values "0".."n-1".
func lcLogEvents(c *statsigmw.Client, name string, n int) {
	for i := 0; i < n; i++ {
		c.Statsig().LogEvent(statsig.Event{EventName: name, User: lcUser, Value: strconv.Itoa(i)})
	}
}

// lcColor evaluates lc_exp without logging an exposure.
func lcColor(c *statsigmw.Client) string {
	exp := c.Statsig().GetExperimentWithExposureLoggingDisabled(lcUser, "lc_exp")
	return exp.GetString("color", "fallback")
}

// lcShutdown shuts c down with the given timeout and returns how long
// Shutdown took and its error.
func lcShutdown(c *statsigmw.Client, timeout time.Duration) (time.Duration, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	start := time.Now()
	err := c.Shutdown(ctx)
	return time.Since(start), err
}

// lcWaitFor polls cond until it holds or 10 s have passed.
func lcWaitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestNewClientRejectsBadKeys(t *testing.T) {
	t.Parallel()
	for _, key := range []string{"not-a-secret", "", "client-abc123", " secret-leading-space"} {
		t.Run(fmt.Sprintf("%q", key), func(t *testing.T) {
			t.Parallel()
			var c *statsigmw.Client
			var err error
			func() {
				defer func() {
					if r := recover(); r != nil {
						t.Fatalf("NewClient(%q) panicked: %v", key, r)
					}
				}()
				c, err = statsigmw.NewClient(statsigmw.ClientConfig{Secret: key, Logger: lcQuiet})
			}()
			if err == nil {
				t.Fatalf("NewClient(%q) = %v, nil; want an error", key, c)
			}
			if c != nil {
				t.Errorf("NewClient(%q) returned a client with its error", key)
			}
			if !strings.HasPrefix(err.Error(), "statsigmw: ") {
				t.Errorf("error %q does not start with %q", err, "statsigmw: ")
			}
			if len(key) > 10 && strings.Contains(err.Error(), key) {
				t.Errorf("error %q repeats the whole key", err)
			}
		})
	}
}

func TestNewClientRejectsInvalidConfig(t *testing.T) {
	t.Parallel()
	local := &statsig.Options{LocalMode: true}
	for name, cfg := range map[string]statsigmw.ClientConfig{
		"InitTimeout":        {Options: local, InitTimeout: -time.Second},
		"MaxInFlightBatches": {Options: local, MaxInFlightBatches: -1},
		"RetryBackoff":       {Options: local, RetryBackoff: -time.Millisecond},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			c, err := statsigmw.NewClient(cfg)
			if err == nil {
				_ = c.Shutdown(context.Background())
				t.Fatalf("NewClient with a negative %s: got no error", name)
			}
			if !strings.HasPrefix(err.Error(), "statsigmw: ") || !strings.Contains(err.Error(), name) {
				t.Errorf("error %q: want the prefix %q and the field %s", err, "statsigmw: ", name)
			}
		})
	}
}

func TestNewClientLocalModeAnyKey(t *testing.T) {
	t.Parallel()
	for _, key := range []string{"", "not-a-secret", "secret-local"} {
		t.Run(fmt.Sprintf("%q", key), func(t *testing.T) {
			t.Parallel()
			c := lcNewClient(t, statsigmw.ClientConfig{
				Secret: key,
				Options: &statsig.Options{
					LocalMode:        true,
					BootstrapValues:  string(lcConfig.MustJSON()),
					UAParserOptions:  statsig.UAParserOptions{Disabled: true},
					IPCountryOptions: statsig.IPCountryOptions{Disabled: true},
				},
			})
			if !c.Initialized() {
				t.Errorf("Initialized() = false, want true (bootstrap values); details %+v", c.InitDetails())
			}
			if got := lcColor(c); got != "blue" {
				t.Errorf("color = %q, want %q", got, "blue")
			}
			if _, err := lcShutdown(c, 5*time.Second); err != nil {
				t.Errorf("Shutdown: %v", err)
			}
		})
	}
}

func TestNewClientDoesNotModifyOptions(t *testing.T) {
	t.Parallel()
	srv := statsigtest.Start(t, lcConfig)
	opts := srv.Options()
	want := *opts
	c := lcNewClient(t, statsigmw.ClientConfig{Secret: statsigtest.Key, Options: opts, InitTimeout: 2 * time.Second})
	if !c.Initialized() {
		t.Fatalf("not initialised: %+v", c.InitDetails())
	}
	if opts.Transport != want.Transport || opts.InitTimeout != want.InitTimeout {
		t.Errorf("NewClient modified the caller's Options: Transport %v, InitTimeout %v; want %v, %v",
			opts.Transport, opts.InitTimeout, want.Transport, want.InitTimeout)
	}
}

// With a healthy backend, every event logged before Shutdown is delivered,
// also when many batches are sent at once (more than MaxInFlightBatches, so
// some wait for a slot).
func TestClientShutdownDeliversEverything(t *testing.T) {
	t.Parallel()
	const n, buffer, loggers = 2500, 125, 5 // 20 batches: 4 in flight, 16 waiting at most
	srv := statsigtest.Start(t, lcConfig)
	opts := srv.Options()
	opts.LoggingMaxBufferSize = buffer
	c := lcNewClient(t, statsigmw.ClientConfig{Secret: statsigtest.Key, Options: opts})

	var wg sync.WaitGroup
	for g := 0; g < loggers; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < n/loggers; i++ {
				c.Statsig().LogEvent(statsig.Event{EventName: "lc_healthy", User: lcUser, Value: fmt.Sprintf("%d-%d", g, i)})
			}
		}()
	}
	wg.Wait()
	took, err := lcShutdown(c, 10*time.Second)
	t.Logf("Shutdown took %v; stats %+v; log_event requests %d", took, c.Stats(), srv.RequestCount(statsigtest.LogEvent))
	if err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	events := srv.CustomEvents()
	seen := make(map[string]bool, len(events))
	for _, e := range events {
		seen[e.Value] = true
	}
	if len(events) != n || len(seen) != n {
		t.Errorf("backend received %d events (%d distinct), want %d", len(events), len(seen), n)
	}
	if s := c.Stats(); s.EventsSent != n || s.EventsDropped != 0 || s.EventsFailed != 0 || s.EventsPending != 0 {
		t.Errorf("Stats() = %+v, want %d sent and nothing else", s, n)
	}
	if got := srv.RequestCount(statsigtest.LogEvent); got != n/buffer {
		t.Errorf("log_event requests = %d, want %d", got, n/buffer)
	}
}

// lcFaultyShutdown logs n events (all buffered) against a log_event
// endpoint with fault f, shuts the client down and checks the error reports
// all n as undelivered.
func lcFaultyShutdown(t *testing.T, f statsigtest.Fault, cfg statsigmw.ClientConfig, timeout time.Duration) (*statsigmw.Client, *statsigtest.Server, *statsigmw.ShutdownError, time.Duration) {
	t.Helper()
	const n = 100
	srv := statsigtest.Start(t, lcConfig)
	cfg.Secret, cfg.Options = statsigtest.Key, srv.Options()
	c := lcNewClient(t, cfg)
	srv.SetFault(statsigtest.LogEvent, f)
	lcLogEvents(c, "lc_faulty", n)

	took, err := lcShutdown(c, timeout)
	t.Logf("Shutdown (timeout %v) took %v: %v; stats %+v; log_event requests %d",
		timeout, took, err, c.Stats(), srv.RequestCount(statsigtest.LogEvent))
	// The unbounded SDK takes 3 s against a hanging backend and hours
	// against 503; 3 s beyond the deadline is a generous margin.
	if limit := timeout + 3*time.Second; took > limit {
		t.Errorf("Shutdown took %v, want at most %v", took, limit)
	}
	var se *statsigmw.ShutdownError
	if !errors.As(err, &se) {
		t.Fatalf("Shutdown error = %v (%T), want a *ShutdownError", err, err)
	}
	if se.Undelivered != n {
		t.Errorf("Undelivered = %d, want %d", se.Undelivered, n)
	}
	if !strings.HasPrefix(err.Error(), "statsigmw: ") {
		t.Errorf("error %q does not start with %q", err, "statsigmw: ")
	}
	if got := len(srv.CustomEvents()); got != 0 {
		t.Errorf("backend recorded %d events, want 0", got)
	}
	// Shutdown counted a batch still unwinding from its cancellation as
	// undelivered; Stats counts it once it has.
	lcWaitFor(t, "the last batch to unwind", func() bool { return c.Stats().EventsPending == 0 })
	if s := c.Stats(); s.EventsSent != 0 || s.EventsDropped+s.EventsFailed != n {
		t.Errorf("Stats() = %+v, want %d dropped or failed, none sent", s, n)
	}
	// A second Shutdown returns the same result at once.
	if _, err2 := lcShutdown(c, time.Second); err2 != err {
		t.Errorf("second Shutdown = %v, want the first's %v", err2, err)
	}
	return c, srv, se, took
}

func TestClientShutdownBackend503(t *testing.T) {
	t.Parallel()
	t.Run("deadline", func(t *testing.T) {
		t.Parallel()
		// The default retries (after 200 ms, then 1 s) outlast the deadline.
		_, srv, se, _ := lcFaultyShutdown(t, statsigtest.Fault{Status: 503}, statsigmw.ClientConfig{}, 500*time.Millisecond)
		if !errors.Is(se, context.DeadlineExceeded) {
			t.Errorf("error %v: want context.DeadlineExceeded", se)
		}
		if got := srv.RequestCount(statsigtest.LogEvent); got < 1 || got > 3 {
			t.Errorf("log_event requests = %d, want 1 to 3", got)
		}
	})
	t.Run("retries exhausted", func(t *testing.T) {
		t.Parallel()
		cfg := statsigmw.ClientConfig{MaxRetries: 2, RetryBackoff: time.Millisecond}
		_, srv, se, _ := lcFaultyShutdown(t, statsigtest.Fault{Status: 503}, cfg, 10*time.Second)
		// It gave up because the retries were spent, not at the deadline.
		if errors.Is(se, context.DeadlineExceeded) || !strings.Contains(se.Error(), "503") {
			t.Errorf("error %v: want the 503 answer and no deadline", se)
		}
		if got := srv.RequestCount(statsigtest.LogEvent); got != 3 {
			t.Errorf("log_event requests = %d, want 3 (1 + MaxRetries)", got)
		}
	})
	t.Run("no retries", func(t *testing.T) {
		t.Parallel()
		_, srv, _, _ := lcFaultyShutdown(t, statsigtest.Fault{Status: 503}, statsigmw.ClientConfig{MaxRetries: -1}, 10*time.Second)
		if got := srv.RequestCount(statsigtest.LogEvent); got != 1 {
			t.Errorf("log_event requests = %d, want 1", got)
		}
	})
}

// The SDK's Shutdown holds the lock that every evaluation takes while it
// sends the last batch; against a 503 backend the bare SDK holds it through
// its retries (1 s, 10 s, ...). Here an evaluation waits at most until
// Shutdown gives up, which interrupts the wait before a retry (2 s here).
func TestClientShutdownDoesNotBlockEvaluations(t *testing.T) {
	t.Parallel()
	srv := statsigtest.Start(t, lcConfig)
	c := lcNewClient(t, statsigmw.ClientConfig{Secret: statsigtest.Key, Options: srv.Options(), RetryBackoff: 2 * time.Second})
	srv.SetFault(statsigtest.LogEvent, statsigtest.Fault{Status: 503})
	lcLogEvents(c, "lc_block", 10)

	done := make(chan error, 1)
	go func() {
		_, err := lcShutdown(c, 500*time.Millisecond)
		done <- err
	}()
	// The last batch has been answered 503: the SDK's Shutdown holds its lock
	// while the transport waits to retry.
	lcWaitFor(t, "the last batch to reach the backend", func() bool { return srv.RequestCount(statsigtest.LogEvent) >= 1 })
	start := time.Now()
	exp := c.Statsig().GetExperiment(lcUser, "lc_exp") // logs an exposure: takes the lock
	blocked := time.Since(start)
	t.Logf("evaluation during Shutdown waited %v", blocked)
	if got := exp.GetString("color", "fallback"); got != "blue" {
		t.Errorf("color = %q, want %q", got, "blue")
	}
	if blocked > 1500*time.Millisecond {
		t.Errorf("evaluation during Shutdown waited %v, want at most 1.5 s (Shutdown's deadline is 500 ms)", blocked)
	}
	if err := <-done; !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Shutdown = %v, want context.DeadlineExceeded", err)
	}
}

func TestClientShutdownBackendHangs(t *testing.T) {
	t.Parallel()
	_, srv, se, _ := lcFaultyShutdown(t, statsigtest.Fault{Hang: true}, statsigmw.ClientConfig{}, 500*time.Millisecond)
	if !errors.Is(se, context.DeadlineExceeded) {
		t.Errorf("error %v: want context.DeadlineExceeded", se)
	}
	if got := srv.RequestCount(statsigtest.LogEvent); got != 1 {
		t.Errorf("log_event requests = %d, want 1 (a hang is not retried)", got)
	}
	// The SDK sends no sdk_exception report for the failed batch.
	if got := srv.RequestCount(statsigtest.SDKException); got != 0 {
		t.Errorf("sdk_exception requests = %d, want 0", got)
	}
}

func TestClientShutdownBackendRefuses(t *testing.T) {
	t.Parallel()
	_, srv, se, _ := lcFaultyShutdown(t, statsigtest.Fault{Refuse: true}, statsigmw.ClientConfig{}, 10*time.Second)
	// It returned because delivery failed, long before its deadline.
	if errors.Is(se, context.DeadlineExceeded) {
		t.Errorf("error %v: want the connection error, not the deadline", se)
	}
	if got := srv.RequestCount(statsigtest.LogEvent); got != 1 {
		t.Errorf("log_event requests = %d, want 1 (connection errors are not retried)", got)
	}
}

func TestClientShutdownCancelled(t *testing.T) {
	t.Parallel()
	srv := statsigtest.Start(t, lcConfig)
	c := lcNewClient(t, statsigmw.ClientConfig{Secret: statsigtest.Key, Options: srv.Options()})
	srv.SetFault(statsigtest.LogEvent, statsigtest.Fault{Hang: true})
	lcLogEvents(c, "lc_cancel", 10)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Shutdown(ctx) }()
	lcWaitFor(t, "the batch to reach the backend", func() bool { return srv.RequestCount(statsigtest.LogEvent) == 1 })
	cancel()
	select {
	case err := <-done:
		var se *statsigmw.ShutdownError
		if !errors.As(err, &se) || se.Undelivered != 10 || !errors.Is(err, context.Canceled) {
			t.Errorf("Shutdown = %v, want a *ShutdownError with 10 undelivered and context.Canceled", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Shutdown did not return within 5 s of its context being cancelled")
	}
}

// lcClientGoroutines counts the goroutines of the process except those of
// HTTP servers (the in-process backends), which a real backend would not
// add to the process: a hanging statsigtest handler that never reads its
// request body outlives the request its client cancelled.
func lcClientGoroutines() int {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	count := 0
	for _, g := range strings.Split(string(buf), "\n\n") {
		if strings.Contains(g, "net/http.(*conn).serve") ||
			strings.Contains(g, "net/http.(*connReader).backgroundRead") ||
			strings.Contains(g, "net/http.(*Server).Serve") {
			continue
		}
		count++
	}
	return count
}

// Against a hanging log_event endpoint, a flood of events holds a bounded
// number of goroutines, every event is accounted for, and evaluations go on.
// (The bare SDK, in the same flood, holds ~2,500 goroutines for 3 s, each
// then posting an sdk_exception report.) Not parallel: it counts the
// goroutines of the whole process.
func TestClientGoroutinesBoundedWhenBackendHangs(t *testing.T) {
	const loggers, perLogger, buffer = 8, 625, 10 // 5000 events, 500 batches
	const inFlight, queued = 4, 16                // the defaults
	srv := statsigtest.Start(t, lcConfig)
	opts := srv.Options()
	opts.LoggingMaxBufferSize = buffer
	c := lcNewClient(t, statsigmw.ClientConfig{Secret: statsigtest.Key, Options: opts})
	srv.SetFault(statsigtest.LogEvent, statsigtest.Fault{Hang: true})
	baseline := lcClientGoroutines()

	var peak atomic.Int64
	var peakStats statsigmw.ClientStats
	stop := make(chan struct{})
	var bg sync.WaitGroup
	bg.Add(2)
	go func() { // sampler
		defer bg.Done()
		for {
			select {
			case <-stop:
				return
			case <-time.After(5 * time.Millisecond):
			}
			if n := int64(lcClientGoroutines()); n > peak.Load() {
				peak.Store(n)
			}
			if s := c.Stats(); s.BatchesInFlight+s.BatchesQueued > peakStats.BatchesInFlight+peakStats.BatchesQueued {
				peakStats = s
			}
		}
	}()
	var evals, slowest atomic.Int64
	go func() { // evaluations meanwhile
		defer bg.Done()
		for {
			select {
			case <-stop:
				return
			case <-time.After(time.Millisecond):
			}
			start := time.Now()
			exp := c.Statsig().GetExperiment(lcUser, "lc_exp")
			if d := int64(time.Since(start)); d > slowest.Load() {
				slowest.Store(d)
			}
			evals.Add(1)
			if got := exp.GetString("color", "fallback"); got != "blue" {
				t.Errorf("evaluation during the flood: color %q, want %q", got, "blue")
				return
			}
		}
	}()

	// The loggers pause briefly after each batch's worth of events, as
	// request handlers would: a tight loop would make the SDK start batch
	// goroutines faster than two cores can encode them, before they reach
	// the transport, whatever the backend does.
	var wg sync.WaitGroup
	for g := 0; g < loggers; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < perLogger; i++ {
				c.Statsig().LogEvent(statsig.Event{EventName: "lc_flood", User: lcUser, Value: strconv.Itoa(i)})
				if i%buffer == buffer-1 {
					time.Sleep(time.Millisecond)
				}
			}
		}()
	}
	wg.Wait()
	duringStats := c.Stats()
	close(stop)
	bg.Wait()
	during := peak.Load()
	exposures := evals.Load() // each GetExperiment logged one exposure

	// While the backend still hangs, the goroutines come down at once to
	// those of the batches being sent or waiting: a batch being sent holds 4
	// (the SDK's sender, the HTTP client's timer, the connection's reader
	// and writer), a waiting one 2 (sender and timer), 48 with the defaults.
	// The bare SDK holds ~2,500 for 3 s (its HTTP timeout), so it does not
	// come down within 1 s.
	held := baseline + 4*inFlight + 2*queued + 20
	steady := time.Now().Add(time.Second)
	for lcClientGoroutines() > held && time.Now().Before(steady) {
		time.Sleep(5 * time.Millisecond)
	}
	steadyCount := lcClientGoroutines()
	steadyStats := c.Stats()

	took, err := lcShutdown(c, 500*time.Millisecond)
	total := int64(loggers*perLogger) + exposures
	// Batches the SDK began just before Shutdown reach the transport (and
	// are counted as dropped) a moment later.
	lcWaitFor(t, "every event to be accounted for", func() bool {
		s := c.Stats()
		return s.EventsSent+s.EventsDropped+s.EventsFailed == total && s.EventsPending == 0
	})
	stats := c.Stats()
	srv.ClearFaults()
	lcWaitFor(t, "goroutines to settle after Shutdown", func() bool { return lcClientGoroutines() <= baseline+10 })
	after := lcClientGoroutines()

	t.Logf("client goroutines: baseline %d, peak during the flood %d (+%d), flood over and backend hanging %d (+%d), after Shutdown %d",
		baseline, during, during-int64(baseline), steadyCount, steadyCount-baseline, after)
	t.Logf("stats: end of the flood %+v; busiest %+v; backend hanging %+v", duringStats, peakStats, steadyStats)
	t.Logf("final stats %+v (%d events = %d custom + %d exposures)", stats, total, loggers*perLogger, exposures)
	t.Logf("log_event requests %d, sdk_exception requests %d; %d evaluations, slowest %v; Shutdown took %v: %v",
		srv.RequestCount(statsigtest.LogEvent), srv.RequestCount(statsigtest.SDKException), exposures, time.Duration(slowest.Load()), took, err)

	if steadyCount > held {
		t.Errorf("with the flood over and the backend hanging: %d goroutines, want at most %d (baseline %d + %d)", steadyCount, held, baseline, held-baseline)
	}
	// During the flood the SDK's own goroutines, encoding batches before they
	// reach the transport, come on top: the SDK starts one per batch, and how
	// many are alive at once depends on the CPU and the garbage collector
	// (up to ~230 seen with -race on two cores), not on the backend. The
	// bare SDK peaks at ~2,500.
	if limit := int64(baseline + 500); during > limit {
		t.Errorf("peak goroutines during the flood %d, want at most %d (baseline %d + 500)", during, limit, baseline)
	}
	if peakStats.BatchesInFlight > inFlight || peakStats.BatchesQueued > queued {
		t.Errorf("busiest moment: %d batches in flight, %d queued; want at most %d and %d", peakStats.BatchesInFlight, peakStats.BatchesQueued, inFlight, queued)
	}
	if stats.EventsSent != 0 {
		t.Errorf("EventsSent = %d, want 0 against a hanging backend", stats.EventsSent)
	}
	if stats.EventsDropped == 0 {
		t.Errorf("EventsDropped = 0, want the batches beyond the in-flight and queue bounds dropped")
	}
	if exposures == 0 {
		t.Errorf("no evaluation completed during the flood")
	}
	// Blocked by event delivery, an evaluation would wait for the hanging
	// backend until the end of the test; the bound is loose because -race on
	// two shared cores makes single evaluations take seconds.
	if slowest := time.Duration(slowest.Load()); slowest >= 10*time.Second {
		t.Errorf("slowest evaluation took %v, want well under 10 s: not blocked by event delivery", slowest)
	}
	if got := srv.RequestCount(statsigtest.SDKException); got != 0 {
		t.Errorf("sdk_exception requests = %d, want 0", got)
	}
	var se *statsigmw.ShutdownError
	if !errors.As(err, &se) || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Shutdown = %v, want a *ShutdownError at the deadline", err)
	}
}

func TestClientInitFaults(t *testing.T) {
	t.Parallel()
	for name, fault := range map[string]statsigtest.Fault{
		"hang":   {Hang: true},
		"503":    {Status: 503},
		"refuse": {Refuse: true},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			const initTimeout = 300 * time.Millisecond
			srv := statsigtest.Start(t, lcConfig)
			srv.SetFault(statsigtest.ConfigSpecs, fault)
			opts := srv.Options()
			opts.ConfigSyncInterval = 50 * time.Millisecond

			start := time.Now()
			c := lcNewClient(t, statsigmw.ClientConfig{Secret: statsigtest.Key, Options: opts, InitTimeout: initTimeout})
			took := time.Since(start)
			t.Logf("NewClient took %v (InitTimeout %v); details %+v", took, initTimeout, c.InitDetails())
			if limit := initTimeout + 3*time.Second; took > limit {
				t.Errorf("NewClient took %v, want at most %v", took, limit)
			}
			if c.Initialized() || c.InitDetails().Success {
				t.Errorf("Initialized() = %v, InitDetails().Success = %v; want false, false", c.Initialized(), c.InitDetails().Success)
			}
			// Fails open: defaults, not a panic.
			if got := lcColor(c); got != "fallback" {
				t.Errorf("color before recovery = %q, want the fallback", got)
			}
			if c.Statsig().CheckGate(lcUser, "no_such_gate") {
				t.Errorf("CheckGate before recovery = true, want false")
			}

			srv.SetFault(statsigtest.ConfigSpecs, statsigtest.Fault{})
			recovered := time.Now()
			lcWaitFor(t, "the client to recover", func() bool { return lcColor(c) == "blue" })
			t.Logf("recovered %v after the fault cleared", time.Since(recovered))
			if !c.Initialized() {
				t.Errorf("Initialized() = false after recovery, want true")
			}
		})
	}
}

// lcRecorder is a slog.Handler that keeps records.
type lcRecorder struct {
	mu      sync.Mutex
	records []slog.Record
}

func (h *lcRecorder) Enabled(context.Context, slog.Level) bool { return true }
func (h *lcRecorder) Handle(_ context.Context, r slog.Record) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.records = append(h.records, r.Clone())
	return nil
}
func (h *lcRecorder) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *lcRecorder) WithGroup(string) slog.Handler      { return h }

func (h *lcRecorder) find(level slog.Level, substr string) (slog.Record, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, r := range h.records {
		if r.Level == level && strings.Contains(r.Message, substr) {
			return r, true
		}
	}
	return slog.Record{}, false
}

// Not parallel: it sets the SDK's process-global output logger.
func TestRouteSDKLogs(t *testing.T) {
	rec := &lcRecorder{}
	statsigmw.RouteSDKLogs(slog.New(rec))
	t.Cleanup(func() { statsigmw.RouteSDKLogs(nil) })

	srv := statsigtest.Start(t, lcConfig)
	srv.SetFault(statsigtest.ConfigSpecs, statsigtest.Fault{Status: 500})
	opts := srv.Options()
	opts.StatsigLoggerOptions = statsig.StatsigLoggerOptions{} // diagnostics on: the SDK logs its steps
	c := lcNewClient(t, statsigmw.ClientConfig{Secret: statsigtest.Key, Options: opts})

	// An evaluation for an empty user is an SDK error.
	c.Statsig().GetExperiment(statsig.User{}, "lc_exp")
	r, ok := rec.find(slog.LevelError, "non-empty StatsigUser.UserID")
	if !ok {
		t.Fatalf("no Error record for the empty user; records: %v", rec.records)
	}
	if strings.Contains(r.Message, "Stack Trace") || strings.Contains(r.Message, "goroutine ") || strings.HasPrefix(r.Message, "Error:") {
		t.Errorf("record message %q: want the error alone, without the SDK's prefix and stack trace", r.Message)
	}
	var component string
	r.Attrs(func(a slog.Attr) bool {
		if a.Key == "component" {
			component = a.Value.String()
		}
		return true
	})
	if component != "statsig-sdk" {
		t.Errorf("record attribute component = %q, want %q", component, "statsig-sdk")
	}
	// The failed initialisation is an SDK error too, and the handler is
	// enabled for Debug, so the SDK's initialisation steps come through.
	if _, ok := rec.find(slog.LevelError, "Failed to initialize from the network"); !ok {
		t.Errorf("no Error record for the failed initialisation")
	}
	if _, ok := rec.find(slog.LevelDebug, "Initialize: "); !ok {
		t.Errorf("no Debug record of an initialisation step")
	}
}

// The package's own warnings go to ClientConfig.Logger.
func TestClientLoggerWarnings(t *testing.T) {
	t.Parallel()
	rec := &lcRecorder{}
	srv := statsigtest.Start(t, lcConfig)
	srv.SetFault(statsigtest.ConfigSpecs, statsigtest.Fault{Status: 503})
	srv.SetFault(statsigtest.LogEvent, statsigtest.Fault{Refuse: true})
	c := lcNewClient(t, statsigmw.ClientConfig{Secret: statsigtest.Key, Options: srv.Options(), Logger: slog.New(rec)})
	if _, ok := rec.find(slog.LevelWarn, "not initialised"); !ok {
		t.Errorf("no warning about the failed initialisation")
	}
	lcLogEvents(c, "lc_warn", 3)
	if _, err := lcShutdown(c, 5*time.Second); err == nil {
		t.Fatalf("Shutdown = nil against a refusing backend")
	}
	if _, ok := rec.find(slog.LevelWarn, "event batch not delivered"); !ok {
		t.Errorf("no warning about the undelivered batch")
	}
}

// BenchmarkTransport measures what the transport adds to sending one batch
// of 100 events to a local backend (statsig.Client.LogImmediate goes
// through it like the SDK's own batches).
func BenchmarkTransport(b *testing.B) {
	srv := statsigtest.NewServer(lcConfig)
	defer srv.Close()
	events := make([]statsig.Event, 100)
	for i := range events {
		events[i] = statsig.Event{EventName: "lc_bench", User: lcUser, Value: strconv.Itoa(i)}
	}
	run := func(b *testing.B, sdk *statsig.Client) {
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			if _, err := sdk.LogImmediate(events); err != nil {
				b.Fatal(err)
			}
		}
		b.StopTimer()
		srv.Reset()
	}
	b.Run("sdk", func(b *testing.B) {
		sdk, _ := srv.NewClient(nil)
		defer sdk.Shutdown()
		run(b, sdk)
	})
	b.Run("statsigmw", func(b *testing.B) {
		c, err := statsigmw.NewClient(statsigmw.ClientConfig{Secret: statsigtest.Key, Options: srv.Options()})
		if err != nil {
			b.Fatal(err)
		}
		defer c.Shutdown(context.Background())
		run(b, c.Statsig())
	})
}
