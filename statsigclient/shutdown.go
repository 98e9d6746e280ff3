package statsigclient

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// maxGrace bounds how long before ctx's deadline Shutdown cuts delivery, so
// that the requests it cancels have unwound and been counted by the
// deadline.
const maxGrace = 100 * time.Millisecond

// Stats counts the events that reached the client's transport in event
// batches; each such event is in exactly one of the Events counters.
// Events the SDK still buffers, or a batch it is still encoding, are in
// none: the SDK shows them to nobody until it hands the batch to the
// transport.
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
// delivered, or some could not be counted.
type ShutdownError struct {
	// Undelivered is how many events Shutdown could not deliver: events of
	// the batches pending in the client's transport when it was called or
	// handed to it while it ran, that were dropped or failed.
	Undelivered int
	// UnknownBatches is how many event batches Shutdown could not account
	// for: 1 when the SDK's own Shutdown, which sends the events the SDK
	// buffered as one final batch, had not returned, so that this batch
	// may not have reached the client's transport (the SDK was still
	// encoding it, or waiting for its own lock), and 0 otherwise. The SDK
	// does not say how many events such a batch holds: if it had not
	// reached the transport, its events are in neither Undelivered nor
	// [Stats], until it does and is dropped (Stats.EventsDropped).
	UnknownBatches int
	// Err is why, never nil: the context's error when Shutdown gave up at
	// its deadline (context.DeadlineExceeded) or on cancellation
	// (context.Canceled), otherwise the last delivery error, such as an
	// answer with status 503.
	Err error
}

func (e *ShutdownError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "statsigclient: shutdown: %d events not delivered", e.Undelivered)
	if e.UnknownBatches > 0 {
		fmt.Fprintf(&b, ", %d batch of unknown size still held by the SDK", e.UnknownBatches)
	}
	if e.Err != nil {
		b.WriteString(": ")
		b.WriteString(e.Err.Error())
	}
	return b.String()
}

// Unwrap returns e.Err, so that errors.Is(err, context.DeadlineExceeded)
// tells whether Shutdown gave up at its deadline.
func (e *ShutdownError) Unwrap() error { return e.Err }

// Shutdown stops the client and delivers the events it buffered: it runs the
// SDK's Shutdown, which sends the SDK's buffered events as one final batch,
// and waits for every batch in the client's transport.
//
// Shutdown returns by ctx's deadline whatever the backend does (a little
// before it: it cuts delivery up to 100 ms early so that cancelled requests
// have unwound and been counted), and promptly after ctx is cancelled. When
// it gives up, it cancels the requests under way. After it returns, every
// request of the client fails at once and later events are not sent. The
// SDK's own Shutdown may go on briefly in the background; it holds the lock
// that evaluations take only until then. Its cost does not depend on the
// rest of the process: it looks at nothing but its own client.
//
// It returns nil when every event handed to the transport was delivered and
// the SDK has handed over its final batch, and otherwise a
// [*ShutdownError]; errors.Is(err, context.DeadlineExceeded) tells whether
// the deadline cut it short. See the package documentation for what
// Shutdown can and cannot count.
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

	// The SDK's Shutdown sends its buffer as one batch on this goroutine,
	// synchronously: once it returns, that batch has been through the
	// transport. (It takes the logger's lock to do so; the SDK's other
	// batches were begun on goroutines of their own, while holding that
	// lock, before.)
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
		giveUp = tr.waitEmpty(ctx, cutAt)
	case <-cutAt:
		giveUp = context.DeadlineExceeded
	case <-ctx.Done():
		giveUp = ctx.Err()
	}
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
	sdkReturned, empty := tr.waitUnwound(sdkDone, unwind)
	tr.closeIdle()

	undelivered, lastErr := tr.outcome()
	undelivered -= before
	unknown := 0
	if !sdkReturned {
		// The SDK's final batch, if its buffer held any events, may not
		// have reached the transport: nothing tells it apart from other
		// batches there, as the SDK sends it like any other, on the
		// goroutine that called its Shutdown. Only the SDK's Shutdown
		// returning says it has been through.
		unknown = 1
	}
	if undelivered == 0 && unknown == 0 && sdkReturned && empty {
		return nil
	}
	err := giveUp
	if err == nil {
		err = lastErr
	}
	if err == nil {
		err = errClosed
	}
	return &ShutdownError{Undelivered: int(undelivered), UnknownBatches: unknown, Err: err}
}

// waitEmpty waits until no batch is in the transport, or until Shutdown
// must give up.
func (t *batchTransport) waitEmpty(ctx context.Context, cutAt <-chan time.Time) error {
	for {
		inside, changed := t.busy()
		if inside == 0 {
			return nil
		}
		select {
		case <-changed:
		case <-cutAt:
			return context.DeadlineExceeded
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// waitUnwound waits, at most d, until the SDK's Shutdown has returned and no
// batch is in the transport; it reports whether each happened.
func (t *batchTransport) waitUnwound(sdkDone <-chan struct{}, d time.Duration) (sdkReturned, empty bool) {
	timer := time.NewTimer(d)
	defer timer.Stop()
	for {
		inside, changed := t.busy()
		empty = inside == 0
		if sdkReturned && empty {
			return true, true
		}
		select {
		case <-sdkDone:
			sdkReturned, sdkDone = true, nil
		case <-changed:
		case <-timer.C:
			return sdkReturned, empty
		}
	}
}
