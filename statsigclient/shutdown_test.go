package statsigclient_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	statsig "github.com/statsig-io/go-sdk"

	"github.com/labkit/statsigmw/statsigclient"
	"github.com/labkit/statsigmw/statsigtest"
)

// With a healthy backend, every event logged before Shutdown is delivered,
// also when many batches are sent at once on the SDK's goroutines (more than
// MaxInFlightBatches, so some wait for a slot).
func TestShutdownDeliversEverything(t *testing.T) {
	t.Parallel()
	const n, buffer, loggers = 2500, 125, 5 // 20 batches: 4 in flight, 16 waiting at most
	srv := newServer(t)
	cfg := srv.ClientConfig()
	cfg.Options.LoggingMaxBufferSize = buffer
	c := newClient(t, cfg)

	var wg sync.WaitGroup
	for g := 0; g < loggers; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < n/loggers; i++ {
				c.SDK().LogEvent(statsig.Event{EventName: "healthy", User: testUser, Value: fmt.Sprintf("%d-%d", g, i)})
			}
		}()
	}
	wg.Wait()
	if err := shutdown(c, 10*time.Second); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	events := srv.Events()
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
	if got := requestCount(srv, statsigtest.EndpointLogEvent); got != n/buffer {
		t.Errorf("log_event requests = %d, want %d", got, n/buffer)
	}
}

// heldJSON is a user attribute whose encoding waits until release is
// closed: it holds the SDK's goroutine that encodes a batch before the
// batch reaches any transport.
type heldJSON struct {
	encoding chan<- struct{}
	release  <-chan struct{}
}

func (h heldJSON) MarshalJSON() ([]byte, error) {
	select {
	case h.encoding <- struct{}{}:
	default:
	}
	<-h.release
	return []byte(`"held"`), nil
}

// Shutdown waits for a batch that the SDK began before it was called but
// that has not reached the transport: it knows the batch exists, where a
// quiet period would have guessed.
func TestShutdownWaitsForBatchBeingEncoded(t *testing.T) {
	t.Parallel()
	const buffer = 10
	srv := newServer(t)
	cfg := srv.ClientConfig()
	cfg.Options.LoggingMaxBufferSize = buffer
	c := newClient(t, cfg)

	encoding, release := make(chan struct{}, 1), make(chan struct{})
	held := statsig.User{UserID: "held", Custom: map[string]any{"h": heldJSON{encoding: encoding, release: release}}}
	c.SDK().LogEvent(statsig.Event{EventName: "held", User: held})
	logEvents(c, "plain", buffer-1) // fills the buffer: the SDK starts the batch
	<-encoding
	logEvents(c, "final", 3) // the batch Shutdown sends itself

	done := make(chan error, 1)
	go func() { done <- shutdown(c, 10*time.Second) }()
	// Release the batch only once Shutdown is waiting for it.
	waitFor(t, "Shutdown to wait for the batch", func() bool {
		select {
		case err := <-done:
			t.Fatalf("Shutdown returned (%v) while a batch it began was still being encoded", err)
		default:
		}
		return goroutineWith("(*Client).waitBatches", "TestShutdownWaitsForBatchBeingEncoded")
	})
	close(release)
	if err := <-done; err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if got, want := len(srv.Events()), buffer+3; got != want {
		t.Errorf("backend received %d events, want %d", got, want)
	}
}

// goroutineWith reports whether the stack of a goroutine (with the line
// naming its creator) contains every one of frames.
func goroutineWith(frames ...string) bool {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
next:
	for _, g := range strings.Split(string(buf), "\n\n") {
		for _, f := range frames {
			if !strings.Contains(g, f) {
				continue next
			}
		}
		return true
	}
	return false
}

// faultyShutdown logs n events (all buffered) against a log_event endpoint
// with fault f, shuts the client down by timeout and checks that the error
// reports all n as undelivered, and that Stats never counts an event twice.
func faultyShutdown(t *testing.T, f statsigtest.Fault, cfg statsigclient.Config, timeout time.Duration) (*statsigtest.Server, *statsigclient.ShutdownError) {
	t.Helper()
	const n = 100
	srv := newServer(t)
	base := srv.ClientConfig()
	cfg.Secret, cfg.Options = base.Secret, base.Options
	c := newClient(t, cfg)
	srv.SetFault(statsigtest.EndpointLogEvent, f)
	logEvents(c, "faulty", n)

	sampler := sampleStats(c, n)
	start := time.Now()
	err := shutdown(c, timeout)
	t.Logf("Shutdown (timeout %v) took %v: %v; stats %+v; log_event requests %d",
		timeout, time.Since(start), err, c.Stats(), requestCount(srv, statsigtest.EndpointLogEvent))
	se := shutdownError(t, err)
	if se.Undelivered != n {
		t.Errorf("Undelivered = %d, want %d", se.Undelivered, n)
	}
	if got := len(srv.Events()); got != 0 {
		t.Errorf("backend recorded %d events, want 0", got)
	}
	// Shutdown counted a batch still unwinding from its cancellation as
	// undelivered; Stats counts it once it has.
	waitFor(t, "the last batch to unwind", func() bool { return c.Stats().EventsPending == 0 })
	sampler.check(t, n)
	if s := c.Stats(); s.EventsSent != 0 || s.EventsDropped+s.EventsFailed != n {
		t.Errorf("Stats() = %+v, want %d dropped or failed, none sent", s, n)
	}
	// A second Shutdown returns the same result at once.
	if err2 := shutdown(c, time.Second); err2 != err {
		t.Errorf("second Shutdown = %v, want the first's %v", err2, err)
	}
	return srv, se
}

func TestShutdownBackend503(t *testing.T) {
	t.Parallel()
	// The deadlines leave the SDK time to hand its final batch over on a
	// loaded machine (see TestShutdownAccountsExactly), and the first retry
	// comes after them.
	for _, timeout := range []time.Duration{500 * time.Millisecond, time.Second} {
		t.Run(fmt.Sprintf("deadline %v", timeout), func(t *testing.T) {
			t.Parallel()
			cfg := statsigclient.Config{RetryBackoff: time.Minute}
			srv, se := faultyShutdown(t, statsigtest.Fault{Status: 503}, cfg, timeout)
			if !errors.Is(se, context.DeadlineExceeded) {
				t.Errorf("error %v: want context.DeadlineExceeded", se)
			}
			if got := requestCount(srv, statsigtest.EndpointLogEvent); got != 1 {
				t.Errorf("log_event requests = %d, want 1 (the retry comes after the deadline)", got)
			}
		})
	}
	t.Run("retries exhausted", func(t *testing.T) {
		t.Parallel()
		cfg := statsigclient.Config{MaxRetries: 2, RetryBackoff: time.Millisecond}
		srv, se := faultyShutdown(t, statsigtest.Fault{Status: 503}, cfg, 10*time.Second)
		// It gave up because the retries were spent, not at the deadline.
		if errors.Is(se, context.DeadlineExceeded) || !strings.Contains(se.Error(), "503") {
			t.Errorf("error %v: want the 503 answer and no deadline", se)
		}
		if got := requestCount(srv, statsigtest.EndpointLogEvent); got != 3 {
			t.Errorf("log_event requests = %d, want 3 (1 + MaxRetries)", got)
		}
	})
	t.Run("no retries", func(t *testing.T) {
		t.Parallel()
		srv, _ := faultyShutdown(t, statsigtest.Fault{Status: 503}, statsigclient.Config{MaxRetries: -1}, 10*time.Second)
		if got := requestCount(srv, statsigtest.EndpointLogEvent); got != 1 {
			t.Errorf("log_event requests = %d, want 1", got)
		}
	})
}

func TestShutdownBackendHangs(t *testing.T) {
	t.Parallel()
	// Deadlines with room for the hand-over, as in TestShutdownBackend503.
	for _, timeout := range []time.Duration{500 * time.Millisecond, time.Second} {
		t.Run(fmt.Sprintf("deadline %v", timeout), func(t *testing.T) {
			t.Parallel()
			srv, se := faultyShutdown(t, statsigtest.Fault{Hang: true}, statsigclient.Config{}, timeout)
			if !errors.Is(se, context.DeadlineExceeded) {
				t.Errorf("error %v: want context.DeadlineExceeded", se)
			}
			if got := requestCount(srv, statsigtest.EndpointLogEvent); got != 1 {
				t.Errorf("log_event requests = %d, want 1 (a hang is not retried)", got)
			}
			// The SDK sends no sdk_exception report for the failed batch.
			if got := requestCount(srv, statsigtest.EndpointSDKException); got != 0 {
				t.Errorf("sdk_exception requests = %d, want 0", got)
			}
		})
	}
}

func TestShutdownBackendRefuses(t *testing.T) {
	t.Parallel()
	srv, se := faultyShutdown(t, statsigtest.Fault{Refuse: true}, statsigclient.Config{}, 10*time.Second)
	// It returned because delivery failed, long before its deadline.
	if errors.Is(se, context.DeadlineExceeded) {
		t.Errorf("error %v: want the connection error, not the deadline", se)
	}
	if got := requestCount(srv, statsigtest.EndpointLogEvent); got != 1 {
		t.Errorf("log_event requests = %d, want 1 (connection errors are not retried)", got)
	}
}

// shutdownRuns is how many times TestShutdownAccountsExactly repeats each
// case: STATSIGCLIENT_SHUTDOWN_RUNS (20 takes about 25 s), or 3.
func shutdownRuns(t *testing.T) int {
	if s := os.Getenv("STATSIGCLIENT_SHUTDOWN_RUNS"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			t.Fatalf("STATSIGCLIENT_SHUTDOWN_RUNS=%q: want a positive number", s)
		}
		return n
	}
	return 3
}

// Under a hanging and a 503 backend, for short and long deadlines, the
// undelivered count is exactly the events logged minus the events the
// backend received, in every run: background batches delivered before the
// fault, background batches under way when Shutdown is called, and the
// final batch Shutdown sends.
//
// Not parallel, and the runs with short deadlines one at a time: the final
// batch counts only if the SDK hands it to the transport before the
// deadline, which takes a millisecond on an idle machine but can take tens
// on a loaded one.
func TestShutdownAccountsExactly(t *testing.T) {
	const buffer, final = 20, 7
	runs := shutdownRuns(t)
	for _, fault := range []statsigtest.Fault{{Hang: true}, {Status: 503}} {
		for _, timeout := range []time.Duration{50 * time.Millisecond, 200 * time.Millisecond, 2 * time.Second} {
			t.Run(fmt.Sprintf("%+v/%v", fault, timeout), func(t *testing.T) {
				results := make([]string, runs)
				if timeout < time.Second {
					for run := range results {
						results[run] = accountingRun(t, fault, timeout, buffer, final)
					}
				} else {
					// Long deadlines: the runs wait for the backend, not
					// the CPU, and may overlap.
					var wg sync.WaitGroup
					for run := range results {
						wg.Add(1)
						go func() {
							defer wg.Done()
							results[run] = accountingRun(t, fault, timeout, buffer, final)
						}()
					}
					wg.Wait()
				}
				t.Logf("%d runs, undelivered=logged-received: %s", runs, strings.Join(results, " "))
			})
		}
	}
}

// accountingRun is one run of TestShutdownAccountsExactly. It reports
// failures with t.Errorf, as it runs on its own goroutine.
func accountingRun(t *testing.T, fault statsigtest.Fault, timeout time.Duration, buffer, final int) string {
	srv := statsigtest.NewServer(testConfig)
	defer srv.Close()
	cfg := srv.ClientConfig()
	cfg.Options.LoggingMaxBufferSize = buffer
	cfg.Logger = quiet
	c, err := statsigclient.New(cfg)
	if err != nil {
		t.Error(err)
		return "no client"
	}
	defer c.Shutdown(context.Background())

	logged := 0
	log := func(n int) {
		logEvents(c, "exact", n)
		logged += n
	}
	log(3 * buffer) // three batches, delivered
	if !poll(func() bool { return c.Stats().EventsSent == int64(3*buffer) }) {
		t.Errorf("the healthy batches were not delivered: %+v", c.Stats())
		return "stuck"
	}
	srv.SetFault(statsigtest.EndpointLogEvent, fault)
	log(2 * buffer) // two batches, under way when Shutdown is called
	if !poll(func() bool { return c.Stats().EventsPending == int64(2*buffer) }) {
		t.Errorf("the faulty batches did not reach the transport: %+v", c.Stats())
		return "stuck"
	}
	log(final) // sent by Shutdown

	err = shutdown(c, timeout)
	received := len(srv.Events())
	var se *statsigclient.ShutdownError
	if !errors.As(err, &se) || se.Err == nil || strings.Contains(err.Error(), "<nil>") {
		t.Errorf("Shutdown = %v, want a *ShutdownError with a reason", err)
		return "bad error"
	}
	if want := logged - received; se.Undelivered != want {
		t.Errorf("Undelivered = %d, want %d (%d logged - %d received); %v", se.Undelivered, want, logged, received, err)
	}
	return fmt.Sprintf("%d=%d-%d", se.Undelivered, logged, received)
}

// poll is waitFor for goroutines other than the test's: it reports whether
// cond held within 10 s.
func poll(cond func() bool) bool {
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(time.Millisecond)
	}
	return true
}

// A ShutdownError always says why. Batches that reach the transport while
// Shutdown finishes (here from LogImmediate calls that go on meanwhile) are
// counted with a reason, whether or not the deadline fires.
func TestShutdownErrorAlwaysHasReason(t *testing.T) {
	t.Parallel()
	runs := 50
	if testing.Short() {
		runs = 10
	}
	var errs, nils int
	for run := 0; run < runs; run++ {
		srv := newServer(t)
		c := newClient(t, srv.ClientConfig())
		logEvents(c, "reason", 5)
		stop := make(chan struct{})
		var wg sync.WaitGroup
		for g := 0; g < 3; g++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					select {
					case <-stop:
						return
					default:
					}
					_, _ = c.SDK().LogImmediate([]statsig.Event{{EventName: "immediate", User: testUser}})
				}
			}()
		}
		err := shutdown(c, 50*time.Millisecond)
		close(stop)
		wg.Wait()
		if err == nil {
			nils++
			continue
		}
		errs++
		shutdownError(t, err)
	}
	t.Logf("%d runs: %d errors (each with a reason), %d nil", runs, errs, nils)
}

// gateTransport holds log_event requests until open is closed.
type gateTransport struct {
	base    http.RoundTripper
	entered chan struct{}
	open    chan struct{}
}

func (g *gateTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if strings.HasSuffix(r.URL.Path, "/log_event") {
		select {
		case g.entered <- struct{}{}:
		default:
		}
		select {
		case <-g.open:
		case <-r.Context().Done():
			return nil, r.Context().Err()
		}
	}
	return g.base.RoundTrip(r)
}

// Once Shutdown has begun, a batch waits for a slot even where the queue
// bound would drop it: it is the last batch and a slot is about to free.
func TestShutdownQueuesFinalBatch(t *testing.T) {
	t.Parallel()
	srv := newServer(t)
	gate := &gateTransport{base: http.DefaultTransport, entered: make(chan struct{}, 1), open: make(chan struct{})}
	cfg := srv.ClientConfig()
	cfg.Options.Transport = gate
	cfg.MaxInFlightBatches, cfg.MaxQueuedBatches = 1, -1 // one slot, no waiting
	c := newClient(t, cfg)

	immediate := make(chan error, 1)
	go func() {
		_, err := c.SDK().LogImmediate([]statsig.Event{{EventName: "immediate", User: testUser}})
		immediate <- err
	}()
	<-gate.entered // the only slot is taken
	logEvents(c, "final", 5)
	done := make(chan error, 1)
	go func() { done <- shutdown(c, 10*time.Second) }()
	waitFor(t, "the final batch to wait for the slot", func() bool {
		select {
		case err := <-done:
			t.Fatalf("Shutdown returned (%v) while the final batch should wait for the slot; stats %+v", err, c.Stats())
		default:
		}
		return c.Stats().BatchesQueued == 1
	})
	close(gate.open)
	if err := <-done; err != nil {
		t.Errorf("Shutdown: %v", err)
	}
	if err := <-immediate; err != nil {
		t.Errorf("LogImmediate: %v", err)
	}
	if got := len(srv.Events()); got != 6 {
		t.Errorf("backend received %d events, want 6", got)
	}
}

// The SDK's Shutdown holds the lock that every evaluation takes while it
// sends the last batch, and the bare SDK holds it through its retries. Here
// an evaluation waits only until Shutdown gives up, which interrupts the
// wait before the transport's retry: a minute, which the test would not
// survive.
func TestShutdownReleasesEvaluations(t *testing.T) {
	t.Parallel()
	srv := newServer(t)
	cfg := srv.ClientConfig()
	cfg.RetryBackoff = time.Minute
	c := newClient(t, cfg)
	srv.SetFault(statsigtest.EndpointLogEvent, statsigtest.Fault{Status: 503})
	logEvents(c, "block", 10)

	done := make(chan error, 1)
	go func() { done <- shutdown(c, 200*time.Millisecond) }()
	// The last batch has been answered 503: the SDK's Shutdown holds its lock
	// while the transport waits to retry.
	waitFor(t, "the last batch to reach the backend", func() bool { return requestCount(srv, statsigtest.EndpointLogEvent) == 1 })
	evaluated := make(chan string, 1)
	go func() {
		exp := c.SDK().GetExperiment(testUser, "exp") // logs an exposure: takes the lock
		evaluated <- exp.GetString("color", "fallback")
	}()
	var got string
	waitFor(t, "the evaluation to return", func() bool {
		select {
		case got = <-evaluated:
			return true
		default:
			return false
		}
	})
	if n := requestCount(srv, statsigtest.EndpointLogEvent); n != 1 {
		t.Errorf("log_event requests when the evaluation returned = %d, want 1: it waited for the retry", n)
	}
	if got != "blue" {
		t.Errorf("color = %q, want %q", got, "blue")
	}
	if err := <-done; !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Shutdown = %v, want context.DeadlineExceeded", err)
	}
}

func TestShutdownCancelled(t *testing.T) {
	t.Parallel()
	srv := newServer(t)
	c := newClient(t, srv.ClientConfig())
	srv.SetFault(statsigtest.EndpointLogEvent, statsigtest.Fault{Hang: true})
	logEvents(c, "cancel", 10)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Shutdown(ctx) }()
	waitFor(t, "the batch to reach the backend", func() bool { return requestCount(srv, statsigtest.EndpointLogEvent) == 1 })
	cancel()
	err := <-done
	se := shutdownError(t, err)
	if se.Undelivered != 10 || !errors.Is(err, context.Canceled) {
		t.Errorf("Shutdown = %v, want 10 undelivered and context.Canceled", err)
	}
}

// blockingHandler is a log sink that blocks until release is closed, as a
// slow one would.
type blockingHandler struct{ release chan struct{} }

func (h blockingHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h blockingHandler) Handle(context.Context, slog.Record) error {
	<-h.release
	return nil
}
func (h blockingHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h blockingHandler) WithGroup(string) slog.Handler      { return h }

// Events move from pending to failed in one step: a batch whose failure is
// still being logged when Shutdown gives up is counted once, in Shutdown's
// error and in Stats.
func TestShutdownCountsOnceWhileLogging(t *testing.T) {
	t.Parallel()
	srv := newServer(t)
	h := blockingHandler{release: make(chan struct{})}
	cfg := srv.ClientConfig()
	cfg.Logger = slog.New(h)
	c := newClient(t, cfg)
	srv.SetFault(statsigtest.EndpointLogEvent, statsigtest.Fault{Hang: true})
	logEvents(c, "once", 10)
	err := shutdown(c, 100*time.Millisecond)
	s := c.Stats()
	close(h.release)
	if se := shutdownError(t, err); se.Undelivered != 10 {
		t.Errorf("Undelivered = %d, want 10", se.Undelivered)
	}
	if s.EventsFailed+s.EventsDropped+s.EventsPending+s.EventsSent != 10 {
		t.Errorf("Stats() while the failure is being logged = %+v, want the 10 events counted once", s)
	}
}
