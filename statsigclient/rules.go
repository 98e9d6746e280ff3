package statsigclient

import (
	statsig "github.com/statsig-io/go-sdk"

	"github.com/labkit/statsigmw/internal/rules"
)

func init() {
	rules.Of = func(c any) *rules.Tracker {
		if c, ok := c.(*Client); ok && c != nil {
			return c.rules
		}
		return nil
	}
}

// trackRules makes the tracker of the rule sets the SDK will load with opts,
// and sets opts up to show it every one: bootstrap values, each read of a
// data adapter's config specs, and each download, through
// RulesUpdatedCallback (before the caller's own, which still runs). With
// the callback, the SDK marshals each downloaded set to JSON, under its
// store's lock. A client
// with evaluation callbacks gets a disabled tracker: a reused evaluation
// would not call them.
func trackRules(opts *statsig.Options) *rules.Tracker {
	t := &rules.Tracker{}
	cb := opts.EvaluationCallbacks
	if cb.GateEvaluationCallback != nil || cb.ConfigEvaluationCallback != nil || cb.ExperimentEvaluationCallback != nil ||
		cb.LayerEvaluationCallback != nil || cb.ExposureCallback != nil {
		t.Disable()
		return t
	}
	next := opts.RulesUpdatedCallback
	opts.RulesUpdatedCallback = func(specs string, time int64) {
		// The SDK has swapped its rules and holds its store's lock: stop
		// reuse now, and parse the set without holding up evaluations.
		t.Retire()
		t.ObserveAsync(specs)
		if next != nil {
			next(specs, time)
		}
	}
	switch {
	case opts.DataAdapter != nil: // the SDK ignores bootstrap values then
		opts.DataAdapter = &trackedAdapter{IDataAdapter: opts.DataAdapter, t: t}
	case opts.BootstrapValues != "":
		t.Observe(opts.BootstrapValues)
	}
	return t
}

// trackedAdapter shows the tracker every rule set the SDK reads from a data
// adapter, before the SDK loads it.
type trackedAdapter struct {
	statsig.IDataAdapter
	t *rules.Tracker
}

func (a *trackedAdapter) Get(key string) string {
	v := a.IDataAdapter.Get(key)
	if key == statsig.CONFIG_SPECS_KEY && v != "" {
		a.t.Observe(v)
	}
	return v
}

// deviceLookupsSettled reports whether the SDK's user agent parser and IP
// country lookup answer the same for the rest of the client's life: they
// are disabled, or every lookup waits for them (EnsureLoaded), or the SDK
// loaded them before its initialisation returned, which it does unless
// LazyLoad is set or the initialisation timed out.
func deviceLookupsSettled(opts *statsig.Options, d statsig.InitializeDetails) (ua, country bool) {
	// The SDK reports a timeout only as an error with this text; a
	// duration at the timeout is taken as one too.
	timedOut := d.Error != nil && d.Error.Error() == "timed out" || d.Duration >= opts.InitTimeout
	u, c := opts.UAParserOptions, opts.IPCountryOptions
	ua = u.Disabled || u.EnsureLoaded || !u.LazyLoad && !timedOut
	country = c.Disabled || c.EnsureLoaded || !c.LazyLoad && !timedOut
	return ua, country
}
