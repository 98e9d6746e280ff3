package statsigmw

import (
	"hash/maphash"
	"sync/atomic"

	statsig "github.com/statsig-io/go-sdk"

	"github.com/labkit/statsigmw/internal/rules"
)

const (
	defaultAssignmentCache = 4096
	maxAssignmentCache     = 1 << 24
)

// assignTable keeps recent evaluations of experiments and gates so that a
// later request of the same user reuses them instead of asking the SDK
// again, for as long as the SDK would answer the same (see package rules).
// It is a direct-mapped table of read-only entries: a collision replaces
// an entry, and an entry is reused only for a user equal in every field the
// SDK can read. Safe for concurrent use.
type assignTable struct {
	seed   maphash.Seed
	slots  []atomic.Pointer[assignment]
	reused atomic.Int64
}

// assignment is one stored evaluation and the user it was made for.
type assignment struct {
	ep   *rules.Epoch
	kind memoKind
	name string

	// The user, as far as the SDK can see it. ids stands for UserID and
	// CustomIDs {"stableID": id}; attr for PrivateAttributes and
	// IpAddress; fields for Custom.
	id, userID, userAgent, locale string
	fields                        *idFields
	attr                          *ipAttr

	config statsig.DynamicConfig // experiments
	gate   statsig.FeatureGate   // gates
}

func newAssignTable(size int) *assignTable {
	n := 1
	for n < size {
		n <<= 1
	}
	return &assignTable{seed: maphash.MakeSeed(), slots: make([]atomic.Pointer[assignment], n)}
}

// slot returns the slot of name for s's user. Every field a visitor's
// requests may vary in (login, user agent, locale, IP) picks the slot, so
// that one visitor's variants do not evict each other.
func (t *assignTable) slot(s *scope, name string) *atomic.Pointer[assignment] {
	u := &s.user
	h := maphash.String(t.seed, s.id) ^ maphash.String(t.seed, name)*0x9e3779b97f4a7c15
	if u.UserID != s.id {
		h ^= maphash.String(t.seed, u.UserID) * 0xbf58476d1ce4e5b9
	}
	h ^= maphash.String(t.seed, u.UserAgent)*0x94d049bb133111eb + maphash.String(t.seed, u.Locale)
	if s.attr != nil {
		h += maphash.String(t.seed, s.attr.text) * 0x9e3779b97f4a7c15
	}
	return &t.slots[h&uint64(len(t.slots)-1)]
}

// reusable reports whether the evaluations of s's user may be stored and
// reused: the user is all the middleware's own (an ExtendUser hook may
// add anything).
func (s *scope) reusable() bool {
	return s.m != nil && s.m.assign != nil && s.m.cfg.ExtendUser == nil
}

// recall returns a stored evaluation of (kind, name) made for a user equal
// to s's, under the current rule set, or nil. The user must be built.
func (s *scope) recall(kind memoKind, name string) *assignment {
	if !s.reusable() {
		return nil
	}
	ep := s.m.rules.Current()
	if ep == nil || !ep.Pure(kind == kindGate, name) {
		return nil
	}
	u := &s.user
	a := s.m.assign.slot(s, name).Load()
	if a == nil || a.ep != ep || a.kind != kind || a.name != name || a.id != s.id || a.userID != u.UserID ||
		a.userAgent != u.UserAgent || a.locale != u.Locale || a.fields != s.fields || a.attr != s.attr {
		return nil
	}
	s.m.assign.reused.Add(1)
	return a
}

// begin is called before an evaluation that remember may store.
func (s *scope) begin() rules.Ticket {
	if !s.reusable() {
		return rules.Ticket{}
	}
	return s.m.rules.Begin()
}

// remember stores an evaluation begun with tk, when the rule set it was
// made with is known to be the current one and the config is pure in it.
// Only plain evaluations are stored: not a local override, an unrecognised
// name or an error.
func (s *scope) remember(tk rules.Ticket, kind memoKind, name string, d *statsig.EvaluationDetails, config *statsig.DynamicConfig, gate *statsig.FeatureGate) {
	if d == nil || !s.reusable() {
		return
	}
	ep := s.m.rules.End(tk, d.ConfigSyncTime)
	if ep == nil || d.Reason != statsig.ReasonNone || !recognized(d) || !ep.Pure(kind == kindGate, name) {
		return
	}
	u := &s.user
	a := &assignment{ep: ep, kind: kind, name: name, id: s.id, userID: u.UserID, userAgent: u.UserAgent,
		locale: u.Locale, fields: s.fields, attr: s.attr}
	if config != nil {
		a.config = *config
	}
	if gate != nil {
		a.gate = *gate
	}
	s.m.assign.slot(s, name).Store(a)
}

// recallIf is recall when ok: an evaluation whose exposure the SDK is to
// log in the same call is not recalled.
func (s *scope) recallIf(ok bool, kind memoKind, name string) *assignment {
	if !ok {
		return nil
	}
	return s.recall(kind, name)
}

// copyDetails gives a request its own copy of a reused evaluation's
// details, as the SDK gives every evaluation, so that no two requests
// share one. They are the details of the evaluation reused.
func copyDetails(d *statsig.EvaluationDetails) *statsig.EvaluationDetails {
	if d == nil {
		return nil
	}
	c := *d
	return &c
}
