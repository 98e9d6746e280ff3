package statsigclient

import (
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	statsig "github.com/statsig-io/go-sdk"
)

const (
	// defaultInitTimeout is the default of Config.InitTimeout.
	defaultInitTimeout = 3 * time.Second
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
	//     a wrapper that is not an *http.Transport). A nil pointer in it, or
	//     a nil http.DefaultTransport when it is nil, is an error of New;
	//   - InitTimeout is replaced by Config.InitTimeout when that is set;
	//   - OutputLoggerOptions is ignored, as the SDK ignores it: see
	//     [RouteSDKLogs].
	Options *statsig.Options

	// InitTimeout bounds how long New waits for the first config download.
	// Zero means Options.InitTimeout when that is set, 3 s otherwise. After
	// it the SDK goes on initialising in the background and the client
	// picks up configs at a later poll (Options.ConfigSyncInterval, 10 s by
	// default). Without a timeout the SDK waits about 12 s for a hanging
	// backend.
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

// New creates a Statsig client from cfg and waits for its initialisation,
// at most cfg.InitTimeout.
//
// It returns an error, never a panic, for a configuration the SDK would
// crash on or silently lose events with: a Secret that does not start with
// "secret" (outside LocalMode); an Options.API or Options.APIOverrides field
// that is not an absolute http or https URL with a host (and no query or
// fragment, as the SDK appends each endpoint's path to it); a nil
// Options.Transport in a non-nil interface, or no usable
// http.DefaultTransport when Options.Transport is nil; a negative duration
// or bound. A panic of the SDK's constructor is recovered and returned as an
// error too.
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
	if err := checkConfig(cfg, &opts); err != nil {
		return nil, err
	}
	base, own, err := baseTransport(opts.Transport)
	if err != nil {
		return nil, err
	}
	tr := newBatchTransport(cfg, base, own)
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
	if !c.Initialized() {
		tr.log().Warn("statsigclient: Statsig client not initialised; evaluations return defaults until a config download succeeds",
			"err", details.Error, "duration", details.Duration, "source", details.Source)
	}
	return c, nil
}

// newSDKClient calls the SDK's constructor, turning a panic into an error:
// checkConfig catches the panics known (a key that does not start with
// "secret"), this any other.
func newSDKClient(secret string, opts *statsig.Options) (c *statsig.Client, d statsig.InitializeDetails, err error) {
	defer func() {
		if r := recover(); r != nil {
			c, err = nil, fmt.Errorf("statsigclient: the Statsig SDK panicked creating the client: %v", r)
		}
	}()
	c, d = statsig.NewClientWithDetails(secret, opts)
	return c, d, nil
}

// SDK returns the Statsig client, for evaluations and events. It must not
// be used after Shutdown (the SDK leaves that undefined) and must not be
// shut down directly: [Client.Shutdown] does it by a deadline.
func (c *Client) SDK() *statsig.Client { return c.sdk }

// Initialized reports whether the SDK holds a rule set with a sync time:
// from its initialisation, a later config download, or bootstrap values or
// a data adapter read after a timed-out initialisation. A 2xx answer that
// the SDK could not use (an HTML page from a captive portal) does not count,
// nor does one it accepted with nothing in it (`{"has_updates":true}` with
// no time). A client that is not initialised still works and returns
// defaults; see [New].
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

// hasConfigs asks the SDK for the sync time of its rule set, through the
// evaluation details of an unknown gate: the SDK has no other way to tell,
// and its RulesUpdatedCallback misses configs from bootstrap values or a
// data adapter read after a timed-out initialisation. The SDK sets the sync
// time only from a rule set with updates and a time, and never sets it back
// to zero, so once it is set the answer stays yes. The probe logs no
// exposure and costs about a microsecond.
func (c *Client) hasConfigs() bool {
	if c.closed.Load() {
		return false // the SDK leaves evaluations after Shutdown undefined
	}
	g := c.sdk.GetGateWithExposureLoggingDisabled(statsig.User{UserID: probeName}, probeName)
	d := g.EvaluationDetails
	return d != nil && d.ConfigSyncTime > 0
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
