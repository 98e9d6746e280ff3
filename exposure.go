package statsigmw

import (
	"sync"

	statsig "github.com/statsig-io/go-sdk"
)

// exposes reports whether reads of the request may log exposures: not for
// HEAD, nor for a visitor whose id was made after the header was written.
func (s *scope) exposes() bool {
	return !s.silent && !s.late
}

// due decides, after an evaluation, whether the exposure of its outcome is
// due, and counts the decision. Across requests, the Middleware's cache
// says whether the same unit saw the same outcome of the same config (and
// layer parameter) within the window; one call under one lock, so nothing
// is left to settle whatever happens next. A scope of NewContext logs
// every first read of its own.
func (s *scope) due(kind memoKind, name, param string, outcome ...string) bool {
	m := s.m
	switch {
	case m == nil:
		return true
	case m.dedup != nil:
		k := m.keys.Extend(s.unit, kindNames[kind], name, param)
		if !m.dedup.Observe(k, m.keys.Outcome(outcome...), m.clock()) {
			m.suppressed.Add(1)
			return false
		}
	}
	m.logged.Add(1)
	return true
}

// certainlyDue reports whether the exposure of config (kind, name), read
// for the first time in the request, will be due whatever the evaluation
// returns, so that the evaluation itself may log it: one evaluation instead
// of two (one without logging, then the SDK's manual call, which evaluates
// again). That is so when de-duplication is off, and for a unit whose id
// was made in this request (a new visitor, ?random, an id of the request's
// own), whose key no cache can hold yet: every id of the user is part of
// the key. It also needs a config that such a read recognised before and
// no read has found unknown since, because an evaluation that logs cannot
// take back the exposure of a config the client does not know: the first
// such read of each config takes the two-step path.
func (s *scope) certainlyDue(kind memoKind, name string) bool {
	m := s.m
	if m == nil || !s.exposes() || (m.dedup != nil && !s.fresh) {
		return false
	}
	_, ok := m.recognised.Load(warnKey{kind, name})
	return ok
}

// loggedBy records an exposure that the evaluation of e logged itself, as
// certainlyDue allowed: the request has dealt with it, and the cache
// remembers its outcome for the unit's next requests.
func (s *scope) loggedBy(e *memoEntry, param string, outcome ...string) {
	m := s.m
	e.exposed.Store(true)
	m.logged.Add(1)
	if m.dedup != nil && e.known {
		m.dedup.Observe(m.keys.Extend(s.unit, kindNames[e.kind], e.name, param), m.keys.Outcome(outcome...), m.clock())
	}
}

// logExperimentExposure logs the exposure of an experiment evaluated
// without logging it. The SDK's manual exposure call evaluates again
// without persisted values, which would delete a sticky assignment and log
// the live group: with sticky assignments the exposure is logged by an
// evaluation with them.
func (s *scope) logExperimentExposure(u *statsig.User, name string, e *memoEntry) {
	if e.opts.PersistedValues != nil {
		s.sdk.GetExperimentWithOptions(*u, name, &statsig.GetExperimentOptions{PersistedValues: e.opts.PersistedValues})
		return
	}
	s.sdk.ManuallyLogExperimentExposure(*u, name)
}

// known reports whether the client recognised the config of an evaluation
// with details d, and warns once about a name it does not know. A client
// without configs recognises nothing and teaches nothing.
func (s *scope) known(kind memoKind, name string, d *statsig.EvaluationDetails) bool {
	if d == nil || d.Source == statsig.SourceUninitialized {
		return false
	}
	m := s.m
	if d.Reason != statsig.ReasonUnrecognized {
		if m != nil && (s.fresh || m.dedup == nil) { // the scopes certainlyDue serves learn it
			if _, ok := m.recognised.Load(warnKey{kind, name}); !ok {
				m.recognised.Store(warnKey{kind, name}, struct{}{})
			}
		}
		return true
	}
	if m != nil {
		m.recognised.Delete(warnKey{kind, name})
		m.warnUnknown(kind, name)
		if m.dedup != nil {
			// The unit now sees the defaults: remember that as its outcome,
			// so that its exposure is due again when the config comes back.
			m.dedup.Observe(m.keys.Extend(s.unit, kindNames[kind], name, ""), m.keys.Outcome(), m.clock())
		}
	}
	return false
}

func (m *Middleware) warnUnknown(kind memoKind, name string) {
	m.warnings.once(m, warnKey{kind, name}, "statsigmw: unknown "+kind.String()+"; it returns defaults and logs no exposure", "name", name)
}

// warnings logs each warning once per Middleware, for at most
// maxWarnedNames different keys; past that it says so once and stays quiet,
// so that a flood of distinct bad names cannot flood the log.
type warnings struct {
	mu   sync.Mutex
	seen map[warnKey]bool
	full bool
}

// warnKey names a warning: an unknown config's kind and name, or another
// kind for other warnings.
type warnKey struct {
	kind memoKind
	name string
}

// kindLate is the warnKey kind of the late read warning.
const kindLate memoKind = 255

func (w *warnings) once(m *Middleware, key warnKey, msg string, args ...any) {
	w.mu.Lock()
	switch {
	case w.seen[key]:
		w.mu.Unlock()
		return
	case len(w.seen) >= maxWarnedNames:
		if w.full {
			w.mu.Unlock()
			return
		}
		w.full = true
		key, msg, args = warnKey{}, "statsigmw: more warnings than the middleware remembers; no more are logged", nil
	}
	if w.seen == nil {
		w.seen = make(map[warnKey]bool)
	}
	if key.name != "" {
		w.seen[key] = true
	}
	w.mu.Unlock()
	m.logger().Warn(msg, args...)
}
