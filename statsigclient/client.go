package statsigclient

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	statsig "github.com/statsig-io/go-sdk"
)

const (
	// defaultInitTimeout is the default of Config.InitTimeout.
	defaultInitTimeout = 3 * time.Second
	// maxGrace bounds how long before ctx's deadline Shutdown cuts delivery,
	// so that the requests it cancels have unwound and been counted by the
	// deadline.
	maxGrace = 100 * time.Millisecond
	// rescanEvery is how often Shutdown looks again for SDK batches that are
	// being encoded (see batches.go) when no arrival in its transport wakes
	// it first.
	rescanEvery = time.Millisecond
)

// Config configures [New]. Every field but Secret has a usable zero value,
// documented with the field. New copies what it needs; later changes to a
// Config (or to the Options it points to) have no effect on the client.
type Config struct {
	// Secret is the Statsig server secret key. It must start with "secret"
	// unless Options.LocalMode is set, in which case it is not used.
	Secret string

	// Options are the SDK's options; nil means the zero statsig.Options.
	// New works on a shallow copy and never modifies the caller's value. On
	// that copy:
	//   - Transport, when set, carries every request under the transport
	//     that New installs; nil means a private clone of
	//     http.DefaultTransport, whose idle connections Shutdown closes (or
	//     http.DefaultTransport itself when a program has replaced it with
	//     a wrapper that is not an *http.Transport);
	//   - InitTimeout is replaced by Config.InitTimeout when that is set;
	//   - OutputLoggerOptions is ignored, as the SDK ignores it: see
	//     [RouteSDKLogs].
	Options *statsig.Options

	// InitTimeout bounds how long New waits for the first config download.
	// Zero means Options.InitTimeout when that is set, 3 s otherwise. After
	// it the SDK goes on initialising in the background and the client
	// picks up configs at a later poll (Options.ConfigSyncInterval, 10 s by
	// default).
	InitTimeout time.Duration

	// MaxInFlightBatches bounds the event batches being sent at once. Zero
	// means 4.
	//
	// With MaxQueuedBatches it bounds what event delivery holds whatever the
	// backend does: 20 batches by default, each of up to
	// Options.LoggingMaxBufferSize events (1000 by default). A burst beyond
	// that, faster than the backend takes it, loses events (counted in
	// [Stats]); a backend answering a batch in 100 ms takes about 40 batches
	// a second with the defaults.
	MaxInFlightBatches int

	// MaxQueuedBatches bounds the event batches waiting for one of the
	// MaxInFlightBatches slots. A batch that finds no slot and no room to
	// wait is dropped at once; a batch that waits longer than the SDK's
	// fixed 3 s HTTP timeout is dropped too. Once [Client.Shutdown] has been
	// called, batches wait however many there are, until Shutdown gives up.
	// Zero means 16; a negative value means no batch waits.
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

	// Logger receives this package's messages about the client: a failed
	// initialisation, and batches that were not delivered (at most one
	// message every 10 s, with running totals). nil means slog.Default() at
	// the time of each message. The SDK's own output does not go there: see
	// [RouteSDKLogs].
	Logger *slog.Logger
}

// Client owns a statsig.Client and bounds what its lifecycle can cost: see
// the package documentation. All methods are safe for concurrent use.
type Client struct {
	sdk   *statsig.Client
	tr    *batchTransport
	local bool

	ready  atomic.Bool // the SDK is known to have configs
	closed atomic.Bool // Shutdown has been called

	shutdownOnce sync.Once
	shutdownDone chan struct{}
	shutdownErr  error
}

// Stats counts the events that reached the client's transport in event
// batches; each event is in exactly one of the Events counters. Events
// still buffered in the SDK are not counted anywhere: the SDK shows them to
// nobody.
type Stats struct {
	// EventsSent were delivered: the backend answered their batch with 2xx.
	EventsSent int64
	// EventsDropped were never sent: their batch found no room to be sent or
	// to wait, waited longer than the SDK's HTTP timeout, or arrived while or
	// after Shutdown gave up or finished.
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
// delivered or Shutdown gave up.
type ShutdownError struct {
	// Undelivered is how many events Shutdown could not deliver: events of
	// the batches pending when it was called or sent while it ran, that
	// were dropped or failed. When Err is a context error, batches the SDK
	// had not yet handed to the transport are not in it: it is then a lower
	// bound.
	Undelivered int
	// Err is why, never nil: the context's error when Shutdown gave up at
	// its deadline (context.DeadlineExceeded) or on cancellation
	// (context.Canceled), otherwise the last delivery error, such as an
	// answer with status 503.
	Err error
}

func (e *ShutdownError) Error() string {
	if e.Undelivered == 0 {
		return fmt.Sprintf("statsigclient: shutdown incomplete, events the SDK still held were not counted: %v", e.Err)
	}
	return fmt.Sprintf("statsigclient: shutdown: %d events not delivered: %v", e.Undelivered, e.Err)
}

// Unwrap returns e.Err, so that errors.Is(err, context.DeadlineExceeded)
// tells whether Shutdown gave up at its deadline.
func (e *ShutdownError) Unwrap() error { return e.Err }

// New creates a Statsig client from cfg and waits for its initialisation,
// at most cfg.InitTimeout.
//
// It returns an error, never a panic, for a Secret that does not start with
// "secret" (outside LocalMode) or a negative duration or bound; a panic of
// the SDK's constructor is recovered and returned as an error too.
//
// A client whose initialisation failed or timed out is returned without
// error, and a warning is logged: it fails open. Its evaluations return
// defaults until a config download succeeds, which the SDK retries at every
// config poll, so that a service runs with the control experience while
// Statsig is unreachable instead of refusing to start. A caller for whom
// that is wrong checks [Client.Initialized] and gives up.
//
// The caller must call [Client.Shutdown] to deliver buffered events.
func New(cfg Config) (*Client, error) {
	var opts statsig.Options
	if cfg.Options != nil {
		opts = *cfg.Options
	}
	if !opts.LocalMode && !strings.HasPrefix(cfg.Secret, "secret") {
		if cfg.Secret == "" {
			return nil, errors.New(`statsigclient: empty Secret: a server secret key (starting with "secret") is required unless Options.LocalMode is set`)
		}
		return nil, fmt.Errorf(`statsigclient: Secret %q does not start with "secret": it is not a server secret key`, redactKey(cfg.Secret))
	}
	switch {
	case cfg.InitTimeout < 0:
		return nil, fmt.Errorf("statsigclient: negative InitTimeout %v", cfg.InitTimeout)
	case cfg.MaxInFlightBatches < 0:
		return nil, fmt.Errorf("statsigclient: negative MaxInFlightBatches %d", cfg.MaxInFlightBatches)
	case cfg.RetryBackoff < 0:
		return nil, fmt.Errorf("statsigclient: negative RetryBackoff %v", cfg.RetryBackoff)
	}

	tr := newBatchTransport(cfg, opts.Transport)
	opts.Transport = tr
	switch {
	case cfg.InitTimeout > 0:
		opts.InitTimeout = cfg.InitTimeout
	case opts.InitTimeout <= 0:
		opts.InitTimeout = defaultInitTimeout
	}
	c := &Client{
		tr:           tr,
		local:        opts.LocalMode,
		shutdownDone: make(chan struct{}),
	}
	hideProbe(&opts.EvaluationCallbacks)

	sdk, details, err := newSDKClient(cfg.Secret, &opts)
	if err != nil {
		tr.closeIdle()
		return nil, err
	}
	c.sdk = sdk
	if details.Success && loadedSource(details.Source) {
		c.ready.Store(true)
	}
	if !c.Initialized() {
		tr.log().Warn("statsigclient: Statsig client not initialised; evaluations return defaults until a config download succeeds",
			"err", details.Error, "duration", details.Duration, "source", details.Source)
	}
	return c, nil
}

// newSDKClient calls the SDK's constructor, turning a panic into an error.
func newSDKClient(secret string, opts *statsig.Options) (c *statsig.Client, d statsig.InitializeDetails, err error) {
	defer func() {
		if r := recover(); r != nil {
			c, err = nil, fmt.Errorf("statsigclient: the Statsig SDK panicked creating the client: %v", r)
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

// SDK returns the Statsig client, for evaluations and events. It must not
// be used after Shutdown (the SDK leaves that undefined) and must not be
// shut down directly: [Client.Shutdown] does it by a deadline.
func (c *Client) SDK() *statsig.Client { return c.sdk }

// Initialized reports whether the SDK has configs to evaluate: from its
// initialisation, a later config download, or bootstrap values or a data
// adapter read after a timed-out initialisation. A 2xx answer that the SDK
// could not use (an HTML page from a captive portal) does not count. A
// client that is not initialised still works and returns defaults; see
// [New].
func (c *Client) Initialized() bool {
	if c.ready.Load() {
		return true
	}
	if c.hasConfigs() {
		c.ready.Store(true)
		return true
	}
	return false
}

// probeName is the gate that hasConfigs evaluates; hideProbe keeps it from
// the caller's evaluation callbacks.
const probeName = "statsigclient::initialized"

// hasConfigs asks the SDK whether its store holds configs, through the
// evaluation details of an unknown gate, which carry the store's source and
// sync time: the SDK has no other way to tell, and its
// RulesUpdatedCallback misses configs from bootstrap values or a data
// adapter read after a timed-out initialisation. It is asked only until the
// answer is yes, logs no exposure and costs about a microsecond.
func (c *Client) hasConfigs() bool {
	if c.closed.Load() {
		return false // the SDK leaves evaluations after Shutdown undefined
	}
	g := c.sdk.GetGateWithExposureLoggingDisabled(statsig.User{UserID: probeName}, probeName)
	d := g.EvaluationDetails
	return d != nil && (loadedSource(d.Source) || d.ConfigSyncTime > 0)
}

// loadedSource reports whether the SDK's store has configs from source. A
// download that the SDK parsed but that had no updates
// (NetworkNotModified) brings none.
func loadedSource(s statsig.EvaluationSource) bool {
	switch s {
	case statsig.SourceNetwork, statsig.SourceBootstrap, statsig.SourceDataAdapter:
		return true
	}
	return false
}

// hideProbe wraps the callbacks that an evaluation of a gate calls so that
// they skip hasConfigs' probe.
func hideProbe(cb *statsig.EvaluationCallbacks) {
	if f := cb.GateEvaluationCallback; f != nil {
		cb.GateEvaluationCallback = func(name string, result bool, exposure *statsig.ExposureEvent) {
			if name != probeName {
				f(name, result, exposure)
			}
		}
	}
	if f := cb.ExposureCallback; f != nil {
		cb.ExposureCallback = func(name string, exposure *statsig.ExposureEvent) {
			if name != probeName {
				f(name, exposure)
			}
		}
	}
}

// Stats returns the client's event delivery counters. Safe to call at any
// time, also during and after Shutdown.
func (c *Client) Stats() Stats { return c.tr.stats() }

// Shutdown stops the client and delivers the events it buffered: it runs the
// SDK's Shutdown, which sends the buffered events, and waits for every batch
// the SDK began earlier on other goroutines, which the SDK's Shutdown does
// not (see the package documentation for how it knows them).
//
// Shutdown returns by ctx's deadline whatever the backend does (a little
// before it: it cuts delivery up to 100 ms early so that cancelled requests
// have unwound and been counted), and promptly after ctx is cancelled. When
// it gives up, it cancels the requests under way. After it returns, every
// request of the client fails at once and later events are not sent. The
// SDK's own Shutdown may go on briefly in the background; it holds the lock
// that evaluations take only until then.
//
// It returns nil when every event handed to the transport was delivered and
// no batch is left, and otherwise a [*ShutdownError] with the number of
// events not delivered; errors.Is(err, context.DeadlineExceeded) tells
// whether the deadline cut it short.
//
// Shutdown is safe to call more than once and concurrently; later calls wait
// for the first one (or their own ctx) and return its result.
func (c *Client) Shutdown(ctx context.Context) error {
	first := false
	c.shutdownOnce.Do(func() { first = true })
	c.closed.Store(true)
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
	before := tr.beginClosing()

	sdkDone := make(chan struct{})
	go func() {
		defer close(sdkDone)
		defer func() { _ = recover() }() // the SDK's Shutdown recovers its own panics; this is belt and braces
		c.sdk.Shutdown()
	}()

	// Give up a little before the deadline, so that what is cancelled has
	// unwound by the deadline.
	var cutAt <-chan time.Time
	grace := maxGrace
	if dl, ok := ctx.Deadline(); ok {
		left := time.Until(dl)
		grace = min(maxGrace, left/10)
		t := time.NewTimer(left - grace)
		defer t.Stop()
		cutAt = t.C
	}

	var giveUp error
	select {
	case <-sdkDone:
		if !c.local {
			giveUp = c.waitBatches(ctx, cutAt)
		}
	case <-cutAt:
		giveUp = context.DeadlineExceeded
	case <-ctx.Done():
		giveUp = ctx.Err()
	}
	sdkFinished := giveUp == nil
	if giveUp != nil {
		tr.cut(giveUp)
	} else {
		tr.cut(errClosed)
	}
	// Requests cut return in microseconds; give them, and the SDK's
	// Shutdown, which may be waiting for one of them, the grace.
	unwind := max(grace, 10*time.Millisecond)
	if dl, ok := ctx.Deadline(); ok {
		unwind = min(unwind, max(time.Until(dl), 0))
	}
	sdkFinished = tr.waitUnwound(sdkDone, unwind) && sdkFinished
	tr.closeIdle()

	undelivered, lastErr := tr.outcome()
	undelivered -= before
	if undelivered == 0 && sdkFinished {
		return nil
	}
	err := giveUp
	if err == nil {
		err = lastErr
	}
	if err == nil {
		err = errClosed
	}
	return &ShutdownError{Undelivered: int(undelivered), Err: err}
}

// waitBatches waits, after the SDK's Shutdown has returned, until every
// batch the SDK began has been through the transport (see batches.go), or
// until Shutdown must give up.
func (c *Client) waitBatches(ctx context.Context, cutAt <-chan time.Time) error {
	var buf []byte
	for {
		var encoding int
		encoding, buf = sdkBatchesBeforeTransport(buf)
		if encoding < 0 {
			// Too many goroutines to look at: wait only for the batches
			// that have reached the transport.
			encoding = 0
		}
		inside, changed := c.tr.busy()
		if encoding == 0 && inside == 0 {
			return nil
		}
		var rescan *time.Timer
		var rescanC <-chan time.Time
		if encoding > 0 {
			// Nothing signals that a batch of another client has reached
			// its transport: look again shortly.
			rescan = time.NewTimer(rescanEvery)
			rescanC = rescan.C
		}
		var err error
		select {
		case <-changed:
		case <-rescanC:
		case <-cutAt:
			err = context.DeadlineExceeded
		case <-ctx.Done():
			err = ctx.Err()
		}
		if rescan != nil {
			rescan.Stop()
		}
		if err != nil {
			return err
		}
	}
}

// waitUnwound waits, at most d, until the SDK's Shutdown has returned and no
// batch is in the transport; it reports whether both happened.
func (t *batchTransport) waitUnwound(sdkDone <-chan struct{}, d time.Duration) bool {
	timer := time.NewTimer(d)
	defer timer.Stop()
	sdkFinished := false
	for {
		inside, changed := t.busy()
		if sdkFinished && inside == 0 {
			return true
		}
		select {
		case <-sdkDone:
			sdkFinished, sdkDone = true, nil
		case <-changed:
		case <-timer.C:
			return false
		}
	}
}
