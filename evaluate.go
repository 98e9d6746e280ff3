package statsigmw

import (
	"context"
	"sync"
	"sync/atomic"

	statsig "github.com/statsig-io/go-sdk"
)

type memoKind uint8

const (
	kindExperiment memoKind = iota
	kindGate
	kindLayer
)

var kindNames = [...]string{kindExperiment: "experiment", kindGate: "gate", kindLayer: "layer"}

func (k memoKind) String() string { return kindNames[k] }

// memoEntry is one evaluation of a request: once guards the evaluation,
// exposed whether the request has dealt with its exposure.
type memoEntry struct {
	kind    memoKind
	name    string
	once    sync.Once
	known   bool
	exposed atomic.Bool
	pass    bool                  // a gate's value
	config  statsig.DynamicConfig // an experiment's result; a gate's rule in RuleID
	// The SDK keeps a pointer to the options of an evaluation: in the
	// entry, they cost no allocation of their own.
	opts  statsig.GetExperimentOptions
	layer *layerEntry // layers only
}

// layerEntry is the part of a memo entry only layers need.
type layerEntry struct {
	layer  statsig.Layer
	opts   statsig.GetLayerOptions
	sdkLog *func(statsig.Layer, string) // the SDK's exposure logger of this evaluation
	ourLog func(statsig.Layer, string)  // what the returned Layer calls instead

	mu     sync.Mutex
	params map[string]bool // parameters whose exposure was dealt with
}

// entry returns the memo entry for (kind, name), creating it.
func (s *scope) entry(kind memoKind, name string) *memoEntry {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := range s.inline {
		if e := &s.inline[i]; e.name == name && e.kind == kind {
			return e
		}
	}
	for _, e := range s.more {
		if e.kind == kind && e.name == name {
			return e
		}
	}
	var e *memoEntry
	if free := &s.inline[0]; free.name == "" {
		e = free
	} else {
		e = &memoEntry{}
		s.more = append(s.more, e)
	}
	e.kind, e.name = kind, name
	return e
}

// stickyValues returns the user's persisted assignments, loaded at the first
// call of the request, or nil when sticky assignments are off.
func (s *scope) stickyValues(u *statsig.User) statsig.UserPersistedValues {
	if s.m == nil || s.m.cfg.StickyUnit == "" {
		return nil
	}
	s.stickyOnce.Do(func() {
		s.persisted = s.sdk.GetUserPersistedValues(*u, s.m.cfg.StickyUnit)
		if s.persisted == nil {
			s.persisted = statsig.UserPersistedValues{}
		}
	})
	return s.persisted
}

// experiment evaluates name once per request, then logs its exposure if
// expose and the exposure is due.
func (s *scope) experiment(ctx context.Context, name string, expose bool) (statsig.DynamicConfig, bool) {
	u := s.getUser(ctx)
	e := s.entry(kindExperiment, name)
	e.once.Do(func() {
		logs := expose && s.certainlyDue(kindExperiment, name)
		e.opts = statsig.GetExperimentOptions{DisableLogExposures: !logs, PersistedValues: s.stickyValues(u)}
		e.config = s.sdk.GetExperimentWithOptions(*u, name, &e.opts)
		e.known = s.known(kindExperiment, name, e.config.EvaluationDetails)
		if logs {
			s.loggedBy(e, "", e.config.RuleID, e.config.GroupName)
		}
	})
	if expose && e.known && s.exposes() && e.exposed.CompareAndSwap(false, true) &&
		s.due(kindExperiment, name, "", e.config.RuleID, e.config.GroupName) {
		s.logExperimentExposure(u, name, e)
	}
	return e.config, e.known
}

func (s *scope) checkGate(ctx context.Context, name string) (bool, bool) {
	u := s.getUser(ctx)
	e := s.entry(kindGate, name)
	e.once.Do(func() {
		logs := s.certainlyDue(kindGate, name)
		var g statsig.FeatureGate
		if logs {
			g = s.sdk.GetGate(*u, name)
		} else {
			g = s.sdk.GetGateWithExposureLoggingDisabled(*u, name)
		}
		e.pass, e.config.RuleID = g.Value, g.RuleID
		e.known = s.known(kindGate, name, gateDetails(&g))
		if logs {
			s.loggedBy(e, "", g.RuleID, boolString(g.Value))
		}
	})
	if e.known && s.exposes() && e.exposed.CompareAndSwap(false, true) &&
		s.due(kindGate, name, "", e.config.RuleID, boolString(e.pass)) {
		s.sdk.ManuallyLogGateExposure(*u, name)
	}
	return e.pass, e.known
}

// getLayer evaluates layer name once per request. The SDK's Layer logs an
// exposure per parameter read, from this very evaluation; the returned
// Layer's logger is wrapped to decide each parameter's exposure once.
func (s *scope) getLayer(ctx context.Context, name string) (statsig.Layer, bool) {
	u := s.getUser(ctx)
	e := s.entry(kindLayer, name)
	e.once.Do(func() {
		l := &layerEntry{}
		l.opts = statsig.GetLayerOptions{PersistedValues: s.stickyValues(u)}
		l.layer = s.sdk.GetLayerWithOptions(*u, name, &l.opts)
		// The SDK's Layer carries no evaluation details: a layer it does
		// not know (or cannot evaluate yet) has no rule and no values.
		e.known = l.layer.RuleID != "" || len(l.layer.Value) > 0
		if !e.known && s.m != nil && s.m.client.Initialized() {
			s.m.warnUnknown(kindLayer, name)
		}
		l.sdkLog = l.layer.LogExposure
		l.ourLog = func(v statsig.Layer, param string) { s.layerParam(e, v, param) }
		l.layer.LogExposure = &l.ourLog
		e.layer = l
	})
	return e.layer.layer, e.known
}

func (s *scope) layerParam(e *memoEntry, v statsig.Layer, param string) {
	l := e.layer
	if !e.known || l.sdkLog == nil || !s.exposes() {
		return
	}
	l.mu.Lock()
	first := !l.params[param]
	if first {
		if l.params == nil {
			l.params = make(map[string]bool)
		}
		l.params[param] = true
	}
	l.mu.Unlock()
	if first && s.due(kindLayer, e.name, param, l.layer.RuleID, l.layer.AllocatedExperimentName, l.layer.GroupName) {
		(*l.sdkLog)(v, param)
	}
}

// gateDetails returns g's evaluation details. The SDK gives none to a gate
// it knows that no rule matched (rule "default") or that is disabled
// ("disabled"): that gate is still known.
func gateDetails(g *statsig.FeatureGate) *statsig.EvaluationDetails {
	if g.EvaluationDetails == nil && (g.RuleID == "default" || g.RuleID == "disabled") {
		return knownGateDetails
	}
	return g.EvaluationDetails
}

// knownGateDetails stand for the details the SDK leaves out; read-only.
var knownGateDetails = &statsig.EvaluationDetails{Reason: statsig.ReasonNone}

func boolString(b bool) string {
	if b {
		return "true"
	}
	return "false"
}
