package statsigmw

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	statsig "github.com/statsig-io/go-sdk"
)

// This file holds the SDK lifecycle: building a client safely ([NewClient]),
// bounding what event delivery may cost while it runs (the transport below),
// shutting it down by a deadline ([Client.Shutdown]) and routing the SDK's
// output to log/slog ([RouteSDKLogs]).
//
// What the Statsig Go SDK (v1.35.1) does that this file guards against:
//   - NewClient* panics on a key that does not start with "secret";
//   - initialisation blocks ~12 s against a hanging backend without InitTimeout;
//   - every full event buffer is sent on a new goroutine, with no cap;
//   - a log_event batch answered with 408 or 5xx is retried 5 times after
//     uninterruptible sleeps of 1 s, 10 s, 100 s, ..., and Shutdown does that
//     while holding the lock that every evaluation and LogEvent takes;
//   - every failed batch makes the SDK print a stack trace and POST an
//     sdk_exception report with its own http.Client (3 s timeout, outside
//     Options.Transport), on the goroutine that sent the batch.

// Defaults of [ClientConfig].
const (
	clientDefaultInitTimeout  = 3 * time.Second
	clientDefaultInFlight     = 4
	clientDefaultQueued       = 16
	clientDefaultRetries      = 2
	clientDefaultRetryBackoff = 200 * time.Millisecond
	// clientRetryBackoffFactor multiplies the wait before each further retry.
	clientRetryBackoffFactor = 5
	// clientWarnEvery is the least time between two warnings about
	// undelivered batches.
	clientWarnEvery = 10 * time.Second
	// clientFlushSettle is how long Shutdown waits, once the SDK's own
	// Shutdown has returned and no batch is under way, for a batch that the
	// SDK began on another goroutine just before but which has not reached
	// the transport yet (it is being encoded and compressed: 1000 events
	// take tens of milliseconds, more on a loaded machine). The SDK offers no
	// way to know of such a batch, so this is a bound, not a guarantee; it
	// costs every healthy Shutdown this long.
	clientFlushSettle = 300 * time.Millisecond
	// clientMaxGrace bounds how long before ctx's deadline Shutdown cuts
	// delivery, so that the requests it cancels have unwound and been
	// counted by the deadline.
	clientMaxGrace = 100 * time.Millisecond
	// clientMaxBody bounds what the transport reads of a log_event answer.
	clientMaxBody = 1 << 20
)

// UndeliveredHeader is set on the answer the SDK receives for an event batch
// that was not delivered (see [Client]); its value says why. It matters only
// to callers of statsig.Client.LogImmediate, which otherwise sees such a
// batch as accepted.
const UndeliveredHeader = "Statsigmw-Undelivered"

// ClientConfig configures [NewClient]. Every field but Secret has a usable
// zero value, documented with the field. NewClient copies what it needs;
// later changes to a ClientConfig (or to the Options it points to) have no
// effect on the client.
type ClientConfig struct {
	// Secret is the Statsig server secret key. It must start with "secret"
	// unless Options.LocalMode is set, in which case it is not used.
	Secret string

	// Options are the SDK's options; nil means the zero statsig.Options.
	// NewClient works on a shallow copy and never modifies the caller's
	// value. On that copy:
	//   - Transport, when set, carries every request under the transport
	//     that NewClient installs; nil means a private clone of
	//     http.DefaultTransport, whose idle connections Shutdown closes;
	//   - InitTimeout is replaced by ClientConfig.InitTimeout when that is
	//     set;
	//   - OutputLoggerOptions is ignored, as the SDK ignores it: see
	//     [RouteSDKLogs].
	Options *statsig.Options

	// InitTimeout bounds how long NewClient waits for the first config
	// download. Zero means Options.InitTimeout when that is set, 3 s
	// otherwise. After it the SDK goes on initialising in the background and
	// the client picks up configs at a later poll (Options.ConfigSyncInterval,
	// 10 s by default).
	InitTimeout time.Duration

	// MaxInFlightBatches bounds the event batches being sent at once. Zero
	// means 4.
	//
	// Together with MaxQueuedBatches it bounds what event delivery holds
	// whatever the backend does: 20 batches by default, each of up to
	// Options.LoggingMaxBufferSize events (1000 by default) and a few
	// goroutines. The price is that a burst beyond that, faster than the
	// backend takes it, loses events (counted in [ClientStats]); a healthy
	// backend answering a batch in 100 ms takes about 40 batches a second
	// with the defaults.
	MaxInFlightBatches int

	// MaxQueuedBatches bounds the event batches waiting for one of the
	// MaxInFlightBatches slots. A batch that finds no slot and no room to
	// wait is dropped at once and its events counted in
	// [ClientStats].EventsDropped; a batch that waits longer than the SDK's
	// fixed 3 s HTTP timeout is dropped too. Once [Client.Shutdown] has
	// been called, batches wait however many there are, until Shutdown
	// gives up. Zero means 16; a negative value means no batch waits.
	MaxQueuedBatches int

	// MaxRetries is how many times a batch answered with 408 or a 5xx
	// status is sent again. Connection errors and timeouts are not retried:
	// the backend may have received the batch, and the SDK does not retry
	// them either. Zero means 2; a negative value means no retry.
	MaxRetries int

	// RetryBackoff is the wait before the first retry; each further wait is
	// five times the one before. Shutdown interrupts it. All attempts of a
	// batch, and the time it waited for a slot, share the SDK's fixed 3 s
	// HTTP timeout. Zero means 200 ms.
	RetryBackoff time.Duration

	// Logger receives the messages of this package about the client: a
	// failed initialisation, and batches that were not delivered (at most one
	// message every 10 s, with running totals). nil means slog.Default() at
	// the time of each message. The SDK's own output does not go there: see
	// [RouteSDKLogs].
	Logger *slog.Logger
}

// Client owns a statsig.Client and bounds what its lifecycle can cost:
// [NewClient] returns an error instead of panicking and waits at most
// InitTimeout, event delivery uses a bounded number of batches and goroutines
// whatever the backend does, and [Client.Shutdown] returns by its context's
// deadline.
//
// NewClient installs its own http.RoundTripper under the SDK. For event
// batches (the log_event endpoint) it:
//   - lets at most MaxInFlightBatches be sent at once and MaxQueuedBatches
//     wait, and drops any batch beyond that at once;
//   - retries 408 and 5xx answers itself, a bounded number of times, with
//     waits that Shutdown interrupts, so the SDK's own retries (sleeps of
//     1 s, 10 s, 100 s, ... that nothing interrupts) never start;
//   - answers the SDK with success (and [UndeliveredHeader]) for a batch it
//     could not deliver, and counts its events in [Client.Stats]. Given an
//     error, the SDK would print a stack trace and synchronously POST an
//     sdk_exception report per batch, outside any transport this package
//     controls, and against an unreachable backend each of those goroutines
//     would linger 3 s: the bound on goroutines would not hold. The SDK
//     does nothing else with the error, as it never retries a batch that
//     failed with an error.
//
// Other requests (config download, id lists) pass through unchanged, except
// that Shutdown cancels them when it gives up. The SDK's sdk_exception
// reports (sent on errors during evaluation or initialisation) bypass
// Options.Transport and so all of the above; they go to Options.API, or to
// Statsig's API when that is empty, with a 3 s timeout.
//
// All methods are safe for concurrent use.
type Client struct {
	sdk     *statsig.Client
	details statsig.InitializeDetails
	tr      *batchTransport
	local   bool

	shutdownOnce sync.Once
	shutdownDone chan struct{}
	shutdownErr  error
}

// ClientStats counts the events that reached the client's transport in event
// batches. Events still buffered in the SDK are not counted anywhere: the SDK
// shows them to nobody.
type ClientStats struct {
	// EventsSent were delivered: the backend answered their batch with 2xx.
	EventsSent int64
	// EventsDropped were never sent: their batch found no room to be sent or
	// to wait, waited longer than the SDK's HTTP timeout, or arrived while or
	// after Shutdown gave up.
	EventsDropped int64
	// EventsFailed were sent but not accepted: a connection error, a
	// timeout, a non-2xx answer after the retries, or Shutdown giving up
	// while their batch was being sent or between retries.
	EventsFailed int64
	// EventsPending are in batches being sent or waiting to be.
	EventsPending int64
	// BatchesInFlight are being sent (at most MaxInFlightBatches).
	BatchesInFlight int
	// BatchesQueued are waiting for a slot to be sent.
	BatchesQueued int
}

// ShutdownError is the error of [Client.Shutdown] when some events were not
// delivered.
type ShutdownError struct {
	// Undelivered is how many events Shutdown could not deliver: events in
	// batches that were buffered or in flight when it was called, or that
	// the SDK sent while it ran, and that were dropped or failed. Batches
	// the SDK had not yet handed to the transport when Shutdown gave up are
	// not in it, so it is a lower bound when Err is a context error.
	Undelivered int
	// Err is why: the context's error when Shutdown gave up at its deadline
	// (context.DeadlineExceeded) or on cancellation (context.Canceled),
	// otherwise the last delivery error, such as an answer with status 503.
	Err error
}

func (e *ShutdownError) Error() string {
	if e.Undelivered == 0 {
		// The SDK's flush did not finish: what it still held is unknown.
		return fmt.Sprintf("statsigmw: shutdown incomplete, events the SDK still held were not counted: %v", e.Err)
	}
	return fmt.Sprintf("statsigmw: shutdown: %d events not delivered: %v", e.Undelivered, e.Err)
}

// Unwrap returns e.Err, so that errors.Is(err, context.DeadlineExceeded)
// tells whether Shutdown gave up at its deadline.
func (e *ShutdownError) Unwrap() error { return e.Err }

// NewClient creates a Statsig client from cfg and waits for its
// initialisation, at most cfg.InitTimeout.
//
// It returns an error, never a panic, for a Secret that does not start with
// "secret" (outside LocalMode) or an invalid field; a panic of the SDK's
// constructor is recovered and returned as an error too.
//
// A client whose initialisation failed or timed out is returned without
// error, and a warning is logged: it fails open. Its evaluations return
// defaults (the value a caller passes to Get*, an empty experiment, a closed
// gate) until a config download succeeds, which the SDK retries at every
// config poll, so the service runs with the control experience while Statsig
// is unreachable instead of refusing to start. A caller for whom that is
// wrong checks [Client.Initialized] and gives up.
//
// The caller must call [Client.Shutdown] to flush buffered events.
func NewClient(cfg ClientConfig) (*Client, error) {
	var opts statsig.Options
	if cfg.Options != nil {
		opts = *cfg.Options
	}
	if !opts.LocalMode && !strings.HasPrefix(cfg.Secret, "secret") {
		if cfg.Secret == "" {
			return nil, errors.New(`statsigmw: empty Secret: a server secret key (starting with "secret") is required unless Options.LocalMode is set`)
		}
		return nil, fmt.Errorf(`statsigmw: Secret %q does not start with "secret": it is not a server secret key`, redactKey(cfg.Secret))
	}
	switch {
	case cfg.InitTimeout < 0:
		return nil, fmt.Errorf("statsigmw: negative InitTimeout %q", cfg.InitTimeout)
	case cfg.MaxInFlightBatches < 0:
		return nil, fmt.Errorf("statsigmw: negative MaxInFlightBatches %d", cfg.MaxInFlightBatches)
	case cfg.RetryBackoff < 0:
		return nil, fmt.Errorf("statsigmw: negative RetryBackoff %q", cfg.RetryBackoff)
	}

	tr := newBatchTransport(cfg, opts.Transport)
	opts.Transport = tr
	switch {
	case cfg.InitTimeout > 0:
		opts.InitTimeout = cfg.InitTimeout
	case opts.InitTimeout <= 0:
		opts.InitTimeout = clientDefaultInitTimeout
	}

	sdk, details, err := newSDKClient(cfg.Secret, &opts)
	if err != nil {
		tr.closeIdle()
		return nil, err
	}
	c := &Client{
		sdk:          sdk,
		details:      details,
		tr:           tr,
		local:        opts.LocalMode,
		shutdownDone: make(chan struct{}),
	}
	if !details.Success {
		tr.log().Warn("statsigmw: Statsig client not initialised; evaluations return defaults until a config download succeeds",
			"err", details.Error, "duration", details.Duration, "source", details.Source)
	}
	return c, nil
}

// newSDKClient calls the SDK's constructor, turning a panic into an error.
func newSDKClient(secret string, opts *statsig.Options) (c *statsig.Client, d statsig.InitializeDetails, err error) {
	defer func() {
		if r := recover(); r != nil {
			c, err = nil, fmt.Errorf("statsigmw: the Statsig SDK panicked creating the client: %v", r)
		}
	}()
	c, d = statsig.NewClientWithDetails(secret, opts)
	return c, d, nil
}

// redactKey keeps enough of a key to recognise it (its kind, such as
// "client-") without putting a whole credential in an error message.
func redactKey(s string) string {
	const keep = 7
	if len(s) <= keep {
		return s
	}
	return s[:keep] + "..."
}

// Statsig returns the SDK client, for [New] and for direct use. It must not
// be used after Shutdown (the SDK leaves that undefined) and must not be shut
// down directly: [Client.Shutdown] does it by a deadline. Safe for
// concurrent use, as the SDK client is.
func (c *Client) Statsig() *statsig.Client { return c.sdk }

// InitDetails returns the SDK's account of the initialisation, as it stood
// when NewClient returned.
func (c *Client) InitDetails() statsig.InitializeDetails { return c.details }

// Initialized reports whether the client has configs to evaluate: its
// initialisation succeeded, or the backend has since answered a config
// download with success (the SDK recovers at its config polls after a failed
// or timed-out initialisation). A client that is not initialised still works
// and returns defaults; see [NewClient].
func (c *Client) Initialized() bool {
	return c.details.Success || c.tr.configOK.Load()
}

// Stats returns the client's event delivery counters. Safe to call at any
// time, also during and after Shutdown.
func (c *Client) Stats() ClientStats { return c.tr.stats() }

// Shutdown stops the client and delivers the events it buffered: it runs the
// SDK's Shutdown, which sends the buffered events, and also waits for batches
// the SDK was already sending on other goroutines, which the SDK's Shutdown
// does not.
//
// Shutdown returns by ctx's deadline whatever the backend does (a little
// before it: it cuts delivery up to 100 ms early so that cancelled requests
// have unwound and been counted), and promptly after ctx is cancelled. When
// it gives up, it cancels the requests under way and every later request of
// the client fails at once. The SDK's own Shutdown may go on briefly in the
// background; it holds the lock that evaluations take only until then.
//
// It returns nil when every event handed to it was delivered, and otherwise
// a [*ShutdownError] with the number of events not delivered;
// errors.Is(err, context.DeadlineExceeded) tells whether the deadline cut it
// short. Events logged after Shutdown are not sent.
//
// Shutdown is safe to call more than once and concurrently; later calls wait
// for the first one (or their own ctx) and return its result.
func (c *Client) Shutdown(ctx context.Context) error {
	first := false
	c.shutdownOnce.Do(func() { first = true })
	if !first {
		select {
		case <-c.shutdownDone:
			return c.shutdownErr
		case <-ctx.Done():
			return &ShutdownError{Undelivered: int(c.tr.stats().EventsPending), Err: ctx.Err()}
		}
	}
	c.shutdownErr = c.shutdown(ctx)
	close(c.shutdownDone)
	return c.shutdownErr
}

func (c *Client) shutdown(ctx context.Context) error {
	tr := c.tr
	before := tr.undelivered()
	tr.closing.Store(true)

	sdkDone := make(chan struct{})
	go func() {
		defer close(sdkDone)
		defer func() { _ = recover() }() // the SDK's Shutdown recovers its own panics; this is belt and braces
		c.sdk.Shutdown()
	}()

	// Give up a little before the deadline, so that what is cancelled has
	// unwound by the deadline.
	var cutAt <-chan time.Time
	grace := clientMaxGrace
	if dl, ok := ctx.Deadline(); ok {
		left := time.Until(dl)
		grace = min(clientMaxGrace, left/10)
		t := time.NewTimer(left - grace)
		defer t.Stop()
		cutAt = t.C
	}

	var giveUp error
	select {
	case <-sdkDone:
		if !c.local {
			giveUp = tr.waitIdle(ctx, cutAt)
		}
	case <-cutAt:
		giveUp = context.DeadlineExceeded
	case <-ctx.Done():
		giveUp = ctx.Err()
	}
	sdkFinished := giveUp == nil
	if giveUp != nil {
		tr.cutOff(giveUp)
		// Cancelled requests return in microseconds; give them, and the
		// SDK's Shutdown, which is waiting for one of them, the grace.
		unwind := max(grace, 10*time.Millisecond)
		if dl, ok := ctx.Deadline(); ok {
			unwind = min(unwind, max(time.Until(dl), 0))
		}
		sdkFinished = tr.waitUnwound(sdkDone, unwind)
	}
	tr.closeIdle()

	undelivered := tr.undelivered() - before + tr.pendingEvents()
	if undelivered == 0 && sdkFinished {
		return nil
	}
	err := giveUp
	if err == nil {
		err = tr.lastError()
	}
	return &ShutdownError{Undelivered: int(undelivered), Err: err}
}

// batchTransport is the http.RoundTripper that NewClient installs under the
// SDK: it bounds, retries and counts event batches, and cuts every request
// when Shutdown gives up. See [Client].
type batchTransport struct {
	base    http.RoundTripper
	own     *http.Transport // base, when NewClient created it
	slots   chan struct{}   // one element per batch being sent
	queue   int64           // how many batches may wait for a slot; negative: none
	retries int
	backoff time.Duration
	logger  *slog.Logger // nil: slog.Default()

	closing atomic.Bool     // Shutdown has begun: batches wait for a slot, however many
	cutCtx  context.Context // done when Shutdown has given up
	cut     context.CancelCauseFunc

	sent, dropped, failed atomic.Int64
	sending, queued       atomic.Int64
	configOK              atomic.Bool

	mu          sync.Mutex
	batches     int           // batches inside RoundTrip
	events      int64         // their events
	changed     chan struct{} // closed and replaced whenever batches changes
	lastArrival time.Time
	lastErr     error
	lastWarn    time.Time
}

func newBatchTransport(cfg ClientConfig, base http.RoundTripper) *batchTransport {
	t := &batchTransport{
		base:    base,
		queue:   int64(cfg.MaxQueuedBatches),
		retries: cfg.MaxRetries,
		backoff: cfg.RetryBackoff,
		logger:  cfg.Logger,
		changed: make(chan struct{}),
	}
	if t.base == nil {
		t.own = http.DefaultTransport.(*http.Transport).Clone()
		t.base = t.own
	}
	inFlight := cfg.MaxInFlightBatches
	if inFlight == 0 {
		inFlight = clientDefaultInFlight
	}
	t.slots = make(chan struct{}, inFlight)
	if t.queue == 0 {
		t.queue = clientDefaultQueued
	}
	if t.retries == 0 {
		t.retries = clientDefaultRetries
	}
	if t.backoff == 0 {
		t.backoff = clientDefaultRetryBackoff
	}
	t.cutCtx, t.cut = context.WithCancelCause(context.Background())
	return t
}

func (t *batchTransport) log() *slog.Logger {
	if t.logger != nil {
		return t.logger
	}
	return slog.Default()
}

// errClientClosed fails the requests of a client whose Shutdown gave up.
var errClientClosed = errors.New("statsigmw: the client was shut down")

// isLogEvent tells an event batch by its path, as the SDK builds it
// (API base + "/log_event").
func isLogEvent(r *http.Request) bool { return strings.HasSuffix(r.URL.Path, "/log_event") }

func isConfigDownload(r *http.Request) bool {
	return strings.Contains(r.URL.Path, "/download_config_specs")
}

// RoundTrip implements http.RoundTripper.
func (t *batchTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if isLogEvent(r) {
		return t.roundTripBatch(r)
	}
	if t.cutCtx.Err() != nil {
		closeBody(r)
		return nil, errClientClosed
	}
	ctx, cancel := context.WithCancelCause(r.Context())
	stop := context.AfterFunc(t.cutCtx, func() { cancel(context.Cause(t.cutCtx)) })
	release := func() { stop(); cancel(nil) }
	r = r.WithContext(ctx)
	dropLegacyCancel(r)
	resp, err := t.base.RoundTrip(r)
	if err != nil {
		release()
		return nil, err
	}
	if isConfigDownload(r) && resp.StatusCode/100 == 2 {
		t.configOK.Store(true)
	}
	// The body is read after RoundTrip returns: keep the request's context
	// alive until it is closed.
	resp.Body = &releaseOnClose{ReadCloser: resp.Body, release: release}
	return resp, nil
}

// roundTripBatch sends one event batch: it never returns an error, and
// answers success for a batch it could not deliver (see [Client] for why).
func (t *batchTransport) roundTripBatch(r *http.Request) (*http.Response, error) {
	n, _ := strconv.ParseInt(r.Header.Get("statsig-event-count"), 10, 64)
	t.enter(n)
	defer t.exit(n)

	if t.cutCtx.Err() != nil {
		closeBody(r)
		return t.undeliveredResponse(r, n, true, errClientClosed), nil
	}
	if err := t.acquire(r.Context()); err != nil {
		closeBody(r)
		return t.undeliveredResponse(r, n, true, err), nil
	}
	t.sending.Add(1)
	resp, err := t.send(r)
	t.sending.Add(-1)
	<-t.slots
	if err != nil {
		return t.undeliveredResponse(r, n, false, err), nil
	}
	t.sent.Add(n)
	return resp, nil
}

// acquire takes a sending slot, waiting for one if there is room to wait.
func (t *batchTransport) acquire(ctx context.Context) error {
	select {
	case t.slots <- struct{}{}:
		return nil
	default:
	}
	if !t.enqueue() {
		return fmt.Errorf("statsigmw: event batch dropped: %d batches are being sent and %d are waiting (MaxInFlightBatches, MaxQueuedBatches)",
			cap(t.slots), max(t.queue, 0))
	}
	defer t.queued.Add(-1)
	select {
	case t.slots <- struct{}{}:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("statsigmw: event batch dropped: no slot to send it before the SDK's HTTP timeout: %w", context.Cause(ctx))
	case <-t.cutCtx.Done():
		return fmt.Errorf("statsigmw: event batch dropped: %w", context.Cause(t.cutCtx))
	}
}

// enqueue counts a batch as waiting for a slot if there is room for it to
// wait, or Shutdown has begun.
func (t *batchTransport) enqueue() bool {
	for {
		q := t.queued.Load()
		if q >= t.queue && !t.closing.Load() {
			return false
		}
		if t.queued.CompareAndSwap(q, q+1) {
			return true
		}
	}
}

// send sends a batch, retrying 408 and 5xx answers, and returns the
// backend's answer with its body read, or why there is none.
func (t *batchTransport) send(r *http.Request) (*http.Response, error) {
	ctx, cancel := context.WithCancelCause(r.Context())
	stop := context.AfterFunc(t.cutCtx, func() { cancel(context.Cause(t.cutCtx)) })
	defer func() { stop(); cancel(nil) }()

	backoff := t.backoff
	for attempt := 0; ; attempt++ {
		req := r.Clone(ctx)
		dropLegacyCancel(req)
		if attempt > 0 {
			body, err := r.GetBody()
			if err != nil {
				return nil, fmt.Errorf("statsigmw: log_event: cannot resend the batch: %v", err)
			}
			req.Body = body
		}
		resp, err := t.base.RoundTrip(req)
		if err != nil {
			if cause := context.Cause(ctx); cause != nil && ctx.Err() != nil {
				err = cause
			}
			return nil, fmt.Errorf("statsigmw: log_event: %w", err)
		}
		body, err := io.ReadAll(io.LimitReader(resp.Body, clientMaxBody))
		resp.Body.Close()
		if resp.StatusCode/100 == 2 {
			if err != nil {
				// The backend accepted the batch; what it said next does not matter.
				body = []byte("{}")
			}
			resp.Body = io.NopCloser(bytes.NewReader(body))
			resp.ContentLength = int64(len(body))
			return resp, nil
		}
		if !retryableStatus(resp.StatusCode) || attempt >= t.retries {
			return nil, fmt.Errorf("statsigmw: log_event: backend answered %q (attempt %d of %d)", resp.Status, attempt+1, max(t.retries, 0)+1)
		}
		timer := time.NewTimer(backoff)
		select {
		case <-timer.C:
		case <-ctx.Done():
			timer.Stop()
			return nil, fmt.Errorf("statsigmw: log_event: backend answered %q, gave up retrying: %w", resp.Status, context.Cause(ctx))
		}
		backoff *= clientRetryBackoffFactor
	}
}

// dropLegacyCancel removes the deprecated Cancel channel from a copy of a
// request. For a RoundTripper it does not know, such as this one,
// http.Client enforces its Timeout both with a deadline on the request's
// context and by closing Request.Cancel, for which http.Transport starts a
// goroutine per request. The context is enough.
func dropLegacyCancel(r *http.Request) {
	//lint:ignore SA1019 the deprecated field is cleared, not used
	r.Cancel = nil
}

// retryableStatus is the SDK's list of statuses it retries.
func retryableStatus(code int) bool {
	switch code {
	case 408, 500, 502, 503, 504, 522, 524, 599:
		return true
	}
	return false
}

// undeliveredResponse counts a batch that was not delivered and returns the
// success answer the SDK gets for it.
func (t *batchTransport) undeliveredResponse(r *http.Request, n int64, dropped bool, err error) *http.Response {
	if dropped {
		t.dropped.Add(n)
	} else {
		t.failed.Add(n)
	}
	now := time.Now()
	t.mu.Lock()
	t.lastErr = err
	warn := now.Sub(t.lastWarn) >= clientWarnEvery
	if warn {
		t.lastWarn = now
	}
	t.mu.Unlock()
	if warn {
		t.log().Warn("statsigmw: event batch not delivered",
			"events", n, "err", err,
			"events_dropped", t.dropped.Load(), "events_failed", t.failed.Load(), "events_sent", t.sent.Load())
	}
	return &http.Response{
		Status:        "200 OK",
		StatusCode:    http.StatusOK,
		Proto:         "HTTP/1.1",
		ProtoMajor:    1,
		ProtoMinor:    1,
		Header:        http.Header{"Content-Type": {"application/json"}, UndeliveredHeader: {err.Error()}},
		Body:          io.NopCloser(strings.NewReader("{}")),
		ContentLength: 2,
		Request:       r,
	}
}

func (t *batchTransport) enter(n int64) {
	t.mu.Lock()
	t.batches++
	t.events += n
	t.lastArrival = time.Now()
	close(t.changed)
	t.changed = make(chan struct{})
	t.mu.Unlock()
}

func (t *batchTransport) exit(n int64) {
	t.mu.Lock()
	t.batches--
	t.events -= n
	close(t.changed)
	t.changed = make(chan struct{})
	t.mu.Unlock()
}

// waitIdle waits until no batch is in the transport and none has arrived for
// clientFlushSettle, or until Shutdown must give up.
func (t *batchTransport) waitIdle(ctx context.Context, cutAt <-chan time.Time) error {
	idleSince := time.Now() // the SDK's Shutdown has just returned
	for {
		t.mu.Lock()
		busy, arrived, changed := t.batches > 0, t.lastArrival, t.changed
		t.mu.Unlock()
		var settled <-chan time.Time
		var timer *time.Timer
		if !busy {
			left := clientFlushSettle - time.Since(maxTime(idleSince, arrived))
			if left <= 0 {
				return nil
			}
			timer = time.NewTimer(left)
			settled = timer.C
		}
		var err error
		select {
		case <-changed:
		case <-settled:
		case <-cutAt:
			err = context.DeadlineExceeded
		case <-ctx.Done():
			err = ctx.Err()
		}
		if timer != nil {
			timer.Stop()
		}
		if err != nil {
			if !busy {
				return nil // settling is a courtesy: nothing is under way
			}
			return err
		}
	}
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// cutOff makes every request under way and to come fail at once.
func (t *batchTransport) cutOff(cause error) { t.cut(cause) }

// waitUnwound waits, at most d, until the SDK's Shutdown has returned and no
// batch is in the transport; it reports whether the SDK's Shutdown returned.
func (t *batchTransport) waitUnwound(sdkDone <-chan struct{}, d time.Duration) bool {
	timer := time.NewTimer(d)
	defer timer.Stop()
	sdkFinished := false
	for {
		t.mu.Lock()
		busy, changed := t.batches > 0, t.changed
		t.mu.Unlock()
		if sdkFinished && !busy {
			return true
		}
		if sdkFinished {
			sdkDone = nil
		}
		select {
		case <-sdkDone:
			sdkFinished = true
		case <-changed:
		case <-timer.C:
			return sdkFinished
		}
	}
}

func (t *batchTransport) closeIdle() {
	if t.own != nil {
		t.own.CloseIdleConnections()
	}
}

func (t *batchTransport) undelivered() int64 { return t.dropped.Load() + t.failed.Load() }

func (t *batchTransport) pendingEvents() int64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.events
}

func (t *batchTransport) lastError() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.lastErr
}

func (t *batchTransport) stats() ClientStats {
	return ClientStats{
		EventsSent:      t.sent.Load(),
		EventsDropped:   t.dropped.Load(),
		EventsFailed:    t.failed.Load(),
		EventsPending:   t.pendingEvents(),
		BatchesInFlight: int(t.sending.Load()),
		BatchesQueued:   int(t.queued.Load()),
	}
}

func closeBody(r *http.Request) {
	if r.Body != nil {
		r.Body.Close()
	}
}

// releaseOnClose runs release once, when the body is closed.
type releaseOnClose struct {
	io.ReadCloser
	once    sync.Once
	release func()
}

func (b *releaseOnClose) Close() error {
	err := b.ReadCloser.Close()
	b.once.Do(b.release)
	return err
}

// RouteSDKLogs sends the Statsig SDK's output to l: errors at slog.LevelError
// without the stack trace the SDK appends, its initialisation and sync steps
// at slog.LevelDebug (they are produced only if l is enabled for Debug when
// RouteSDKLogs is called), and anything else at slog.LevelInfo. Messages are
// as the SDK wrote them, server secrets masked, with the attribute
// component=statsig-sdk. RouteSDKLogs(nil) restores the SDK's default:
// errors to stderr, other messages to stdout.
//
// The setting is process-global and affects every Statsig client in the
// process, because the SDK honours only its global output logger
// (statsig.InitializeGlobalOutputLogger) and ignores
// Options.OutputLoggerOptions. That is why it is a function of its own rather
// than a field of [ClientConfig]: call it once, at start-up. Safe for
// concurrent use.
func RouteSDKLogs(l *slog.Logger) {
	if l == nil {
		statsig.InitializeGlobalOutputLogger(statsig.OutputLoggerOptions{})
		return
	}
	statsig.InitializeGlobalOutputLogger(statsig.OutputLoggerOptions{
		LogCallback: func(message string, err error) { logSDKMessage(l, message, err) },
		EnableDebug: l.Enabled(context.Background(), slog.LevelDebug),
	})
}

func logSDKMessage(l *slog.Logger, message string, err error) {
	msg := strings.TrimSpace(message)
	level := slog.LevelInfo
	switch {
	case err != nil:
		level = slog.LevelError
		// The SDK formats errors as "Error: <err>\nStack Trace:\n<stack>".
		if i := strings.Index(msg, "\nStack Trace:"); i >= 0 {
			msg = strings.TrimSpace(msg[:i])
		}
		msg = strings.TrimPrefix(msg, "Error: ")
	case strings.HasPrefix(msg, string(statsig.StatsigProcessInitialize)+": "),
		strings.HasPrefix(msg, string(statsig.StatsigProcessSync)+": "):
		level = slog.LevelDebug
	}
	l.LogAttrs(context.Background(), level, msg, slog.String("component", "statsig-sdk"))
}
