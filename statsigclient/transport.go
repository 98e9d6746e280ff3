package statsigclient

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
	"time"
)

// Transport defaults and bounds; the Config field each default belongs to
// is named.
const (
	defaultInFlight     = 4                      // MaxInFlightBatches
	defaultQueued       = 16                     // MaxQueuedBatches
	defaultRetries      = 2                      // MaxRetries
	defaultRetryBackoff = 200 * time.Millisecond // RetryBackoff
	// retryBackoffFactor multiplies the wait before each further retry.
	retryBackoffFactor = 5
	// warnEvery is the least time between two warnings about undelivered
	// batches.
	warnEvery = 10 * time.Second
	// maxAnswer bounds what the transport reads of a log_event answer.
	maxAnswer = 1 << 20
)

// errClosed fails the requests of a client that has been shut down.
var errClosed = errors.New("statsigclient: the client was shut down")

// undeliveredHeader is set on the success answer the SDK gets for a batch
// that was not delivered; its value says why. Only callers of
// statsig.Client.LogImmediate see it.
const undeliveredHeader = "Statsigclient-Undelivered"

// batchTransport is the http.RoundTripper that New installs under the SDK.
// It fails every request once cut (by Shutdown), and it bounds, retries and
// counts event batches (log_event requests), because the SDK, left alone:
//   - sends every full event buffer, and every LoggingInterval, on a new
//     goroutine, with no cap on how many run: here at most cap(slots) are
//     sent and queue wait, and any batch beyond that is dropped at once;
//   - retries a batch answered with 408 or 5xx five times after sleeps of
//     1 s, 10 s, 100 s, ... that nothing interrupts, and its Shutdown does
//     so holding the lock that every evaluation and LogEvent takes: hours
//     against a backend answering 503. Here the retries are bounded and
//     Shutdown interrupts their waits; the SDK never sees a status to
//     retry (see deliver).
//
// Other requests (config download, id lists) pass through unchanged until
// the cut. The SDK's sdk_exception reports bypass Options.Transport, and so
// this transport: they go to Options.API, or to Statsig's API.
//
// The SDK sets the header statsig-event-count on every batch: that is how
// the transport counts events without decoding the batch.
type batchTransport struct {
	base    http.RoundTripper
	own     *http.Transport // base, when New created it; Shutdown closes its idle connections
	slots   chan struct{}   // one element per batch being sent
	queue   int             // how many batches may wait for a slot; negative: none
	retries int
	backoff time.Duration
	logger  *slog.Logger // nil: slog.Default()

	cutCtx context.Context // done once Shutdown has given up or finished
	cut    context.CancelCauseFunc

	// mu guards the counters, so that events move from pending to sent,
	// dropped or failed in one step and Stats never shows them twice.
	mu                    sync.Mutex
	closing               bool // Shutdown has begun: batches wait for a slot, however many
	sent, dropped, failed int64
	pending               int64         // events of the batches inside deliver
	batches               int           // batches inside deliver
	sending, queued       int           // of those, being sent and waiting for a slot
	changed               chan struct{} // closed and replaced whenever batches changes
	lastErr               error
	lastWarn              time.Time
}

func newBatchTransport(cfg Config, base http.RoundTripper, own *http.Transport) *batchTransport {
	t := &batchTransport{
		base:    base,
		own:     own,
		queue:   cfg.MaxQueuedBatches,
		retries: cfg.MaxRetries,
		backoff: cfg.RetryBackoff,
		logger:  cfg.Logger,
		changed: make(chan struct{}),
	}
	inFlight := cfg.MaxInFlightBatches
	if inFlight == 0 {
		inFlight = defaultInFlight
	}
	t.slots = make(chan struct{}, inFlight)
	if t.queue == 0 {
		t.queue = defaultQueued
	}
	if t.retries == 0 {
		t.retries = defaultRetries
	}
	if t.backoff == 0 {
		t.backoff = defaultRetryBackoff
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

// isLogEvent tells an event batch by its path, as the SDK builds it: API
// base + "/log_event" (New makes sure the base has no query to swallow it).
func isLogEvent(r *http.Request) bool { return strings.HasSuffix(r.URL.Path, "/log_event") }

// RoundTrip implements http.RoundTripper.
func (t *batchTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if isLogEvent(r) {
		n := eventCount(r)
		t.enter(n)
		return t.deliver(r, n), nil
	}
	if t.cutCtx.Err() != nil {
		closeBody(r)
		return nil, context.Cause(t.cutCtx)
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
	// The body is read after RoundTrip returns: keep the request's context
	// alive until it is closed.
	resp.Body = &releaseOnClose{ReadCloser: resp.Body, release: release}
	return resp, nil
}

// eventCount is the number of events in a batch, from the header the SDK
// sets on every log_event request.
func eventCount(r *http.Request) int64 {
	n, err := strconv.ParseInt(r.Header.Get("statsig-event-count"), 10, 64)
	if err != nil || n < 0 {
		return 0
	}
	return n
}

// deliver sends one event batch that enter has counted, and always answers
// the SDK with success. Given an error, the SDK would print a stack trace
// and post an sdk_exception report per batch, synchronously, with its own
// HTTP client (3 s timeout, outside this transport), so that against an
// unreachable backend each batch's goroutine would linger 3 s. It does
// nothing else with the error: it never retries a batch that failed with
// an error. The counters say what happened to the batch.
func (t *batchTransport) deliver(r *http.Request, n int64) *http.Response {
	defer t.exit()
	if err := context.Cause(t.cutCtx); err != nil {
		closeBody(r)
		return t.undelivered(r, n, &t.dropped, err)
	}
	if err := t.acquire(r.Context()); err != nil {
		closeBody(r)
		return t.undelivered(r, n, &t.dropped, err)
	}
	t.mu.Lock()
	t.sending++
	t.mu.Unlock()
	resp, err := t.send(r)
	<-t.slots
	t.mu.Lock()
	t.sending--
	t.mu.Unlock()
	if err != nil {
		return t.undelivered(r, n, &t.failed, err)
	}
	t.settle(n, &t.sent, nil)
	return resp
}

// acquire takes a sending slot, waiting for one if there is room to wait.
func (t *batchTransport) acquire(ctx context.Context) error {
	select {
	case t.slots <- struct{}{}:
		return nil
	default:
	}
	if !t.enqueue() {
		return fmt.Errorf("statsigclient: event batch dropped: %d batches are being sent and %d are waiting (MaxInFlightBatches, MaxQueuedBatches)",
			cap(t.slots), max(t.queue, 0))
	}
	defer func() {
		t.mu.Lock()
		t.queued--
		t.mu.Unlock()
	}()
	select {
	case t.slots <- struct{}{}:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("statsigclient: event batch dropped: no slot to send it before the SDK's HTTP timeout: %w", context.Cause(ctx))
	case <-t.cutCtx.Done():
		return fmt.Errorf("statsigclient: event batch dropped: %w", context.Cause(t.cutCtx))
	}
}

// enqueue counts a batch as waiting for a slot if there is room for it to
// wait. Once Shutdown has begun there always is: the batches then are the
// last ones, Shutdown bounds how long they may wait, and dropping them would
// lose events that a free slot will carry a moment later.
func (t *batchTransport) enqueue() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.queued >= t.queue && !t.closing {
		return false
	}
	t.queued++
	return true
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
			if r.GetBody == nil {
				return nil, errors.New("statsigclient: log_event: cannot resend the batch: no GetBody")
			}
			body, err := r.GetBody()
			if err != nil {
				return nil, fmt.Errorf("statsigclient: log_event: cannot resend the batch: %v", err)
			}
			req.Body = body
		}
		resp, err := t.base.RoundTrip(req)
		if err != nil {
			if cause := context.Cause(ctx); cause != nil && ctx.Err() != nil {
				err = cause
			}
			return nil, fmt.Errorf("statsigclient: log_event: %w", err)
		}
		body, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswer))
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
			return nil, fmt.Errorf("statsigclient: log_event: backend answered %q (attempt %d of %d)", resp.Status, attempt+1, max(t.retries, 0)+1)
		}
		timer := time.NewTimer(backoff)
		select {
		case <-timer.C:
		case <-ctx.Done():
			timer.Stop()
			return nil, fmt.Errorf("statsigclient: log_event: backend answered %q, gave up retrying: %w", resp.Status, context.Cause(ctx))
		}
		backoff *= retryBackoffFactor
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

// undelivered counts a batch that was not delivered in to (t.dropped or
// t.failed), warns at most every warnEvery, and returns the success answer
// the SDK gets for it.
func (t *batchTransport) undelivered(r *http.Request, n int64, to *int64, err error) *http.Response {
	if warn, s := t.settle(n, to, err); warn {
		t.log().Warn("statsigclient: event batch not delivered",
			"events", n, "err", err,
			"events_dropped", s.EventsDropped, "events_failed", s.EventsFailed, "events_sent", s.EventsSent)
	}
	return &http.Response{
		Status:        "200 OK",
		StatusCode:    http.StatusOK,
		Proto:         "HTTP/1.1",
		ProtoMajor:    1,
		ProtoMinor:    1,
		Header:        http.Header{"Content-Type": {"application/json"}, undeliveredHeader: {err.Error()}},
		Body:          io.NopCloser(strings.NewReader("{}")),
		ContentLength: 2,
		Request:       r,
	}
}

// settle moves a batch's n events from pending to the counter to (one of
// t.sent, t.dropped, t.failed) in one step. For a batch that was not
// delivered (err != nil) it records err and reports whether to warn, with
// the counters as they then stood.
func (t *batchTransport) settle(n int64, to *int64, err error) (warn bool, s Stats) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.pending -= n
	*to += n
	if err == nil {
		return false, Stats{}
	}
	t.lastErr = err
	if now := time.Now(); now.Sub(t.lastWarn) >= warnEvery {
		t.lastWarn = now
		warn = true
	}
	return warn, t.statsLocked()
}

// enter counts a batch that has reached the transport.
func (t *batchTransport) enter(n int64) {
	t.mu.Lock()
	t.batches++
	t.pending += n
	t.signalLocked()
	t.mu.Unlock()
}

// exit counts a batch leaving the transport, once its events are settled.
func (t *batchTransport) exit() {
	t.mu.Lock()
	t.batches--
	t.signalLocked()
	t.mu.Unlock()
}

func (t *batchTransport) signalLocked() {
	close(t.changed)
	t.changed = make(chan struct{})
}

// busy returns how many batches are inside the transport, and a channel
// closed when that changes.
func (t *batchTransport) busy() (int, <-chan struct{}) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.batches, t.changed
}

// beginClosing lets every later batch wait for a slot (see enqueue) and
// returns the events not delivered so far.
func (t *batchTransport) beginClosing() int64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.closing = true
	return t.dropped + t.failed
}

// outcome returns the events not delivered or still pending, and the last
// delivery error.
func (t *batchTransport) outcome() (int64, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.dropped + t.failed + t.pending, t.lastErr
}

func (t *batchTransport) stats() Stats {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.statsLocked()
}

func (t *batchTransport) statsLocked() Stats {
	return Stats{
		EventsSent:      t.sent,
		EventsDropped:   t.dropped,
		EventsFailed:    t.failed,
		EventsPending:   t.pending,
		BatchesInFlight: t.sending,
		BatchesQueued:   t.queued,
	}
}

func (t *batchTransport) closeIdle() {
	if t.own != nil {
		t.own.CloseIdleConnections()
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
