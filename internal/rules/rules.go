// Package rules follows the rule sets a Statsig SDK client loads, so that an
// evaluation can be reused across requests for exactly as long as the SDK
// would return the same result for the same user.
//
// An evaluation of SDK v1.35.1 is a pure function of the user, the rule set
// and the client's fixed options, except for conditions on the current time,
// on ID lists (which the SDK syncs apart from the rules) and local overrides.
// A [Tracker] parses each rule set the client is about to load or has loaded,
// and an [Epoch] tells which gates and configs are pure in it: their rules,
// and those of every gate or config they depend on, have no such condition.
//
// The SDK does not say when it swaps its rule set; it says, in the details of
// every evaluation, the time of the rule set it evaluated with. An epoch is
// therefore armed only once an evaluation that began after the epoch was
// observed reports its time: from then on every evaluation that begins uses
// the epoch's rules, and its result may be stored under the epoch.
package rules

import (
	"encoding/json"
	"hash/maphash"
	"strings"
	"sync"
	"sync/atomic"
)

// Of returns the tracker of a *statsigclient.Client, which sets it: the
// client's tracker is not part of its API.
var Of func(client any) *Tracker

// Tracker follows the rule sets of one SDK client. Its zero value tracks
// nothing until the first [Tracker.Observe]. It is safe for concurrent use.
type Tracker struct {
	mu      sync.Mutex
	cur     atomic.Pointer[Epoch]
	sum     uint64 // hash of the last rule set observed
	seed    maphash.Seed
	max     int64 // the newest time of a rule set observed, when seen
	seen    bool
	off     atomic.Bool
	pending sync.WaitGroup // ObserveAsync calls running

	// Whether the SDK's user agent parser and IP country lookup give the
	// same answer for the life of the client: they load in the background,
	// and until then ua_based and ip_based conditions read nothing.
	uaStable, countryStable atomic.Bool
}

// Epoch is one rule set, from when it is observed until the next one is.
type Epoch struct {
	t       *Tracker
	time    int64 // the rule set's time: the SDK's EvaluationDetails.ConfigSyncTime
	gates   map[string]uint8
	configs map[string]uint8
	// never marks an epoch that must not be armed: its rule set could not be
	// told apart from the one before by its time, or could not be parsed.
	never   bool
	armed   atomic.Bool
	retired atomic.Bool // the SDK has loaded a newer rule set
}

// Ticket is what [Tracker.Begin] knew before an evaluation.
type Ticket struct {
	ep    *Epoch
	armed bool
}

// Disable turns the tracker off for good: no epoch is ever current again.
// For clients whose evaluations have side effects beyond their result, such
// as evaluation callbacks.
func (t *Tracker) Disable() {
	t.off.Store(true)
	t.cur.Store(nil)
}

// Current returns the armed epoch whose results may be reused, or nil.
func (t *Tracker) Current() *Epoch {
	if t == nil {
		return nil
	}
	if e := t.cur.Load(); e != nil && e.armed.Load() && !e.retired.Load() {
		return e
	}
	return nil
}

// Retire ends the current epoch: the SDK has loaded a rule set that has not
// been observed yet.
func (t *Tracker) Retire() {
	if e := t.cur.Load(); e != nil {
		e.retired.Store(true)
	}
}

// Begin is called before an evaluation whose result may be stored.
func (t *Tracker) Begin() Ticket {
	if t == nil {
		return Ticket{}
	}
	e := t.cur.Load()
	return Ticket{ep: e, armed: e != nil && e.armed.Load() && !e.retired.Load()}
}

// End is called after the evaluation begun with tk, with the ConfigSyncTime
// of its details. It returns the epoch to store the result under, or nil
// when it must not be stored. An evaluation that began before its epoch was
// armed, and reports the epoch's time, arms it.
func (t *Tracker) End(tk Ticket, syncTime int64) *Epoch {
	e := tk.ep
	switch {
	case e == nil || e.never || e.retired.Load():
		return nil
	case syncTime != e.time:
		// The SDK evaluated with a rule set this epoch is not: an older one
		// it has not replaced yet, or one the tracker did not see.
		if tk.armed {
			e.armed.Store(false)
		}
		return nil
	case !tk.armed:
		if t.cur.Load() == e {
			e.armed.Store(true)
		}
		return nil
	}
	return e
}

// Pure reports whether the gate (gate true) or the dynamic config or
// experiment name is a pure function of the user in e.
func (e *Epoch) Pure(gate bool, name string) bool {
	m := e.configs
	if gate {
		m = e.gates
	}
	f, ok := m[name]
	return ok && f&impure == 0 &&
		(f&usesUA == 0 || e.t.uaStable.Load()) && (f&usesCountry == 0 || e.t.countryStable.Load())
}

// SetDevices tells whether the SDK's user agent parser (ua) and IP country
// lookup (country) are loaded, or disabled, for good. Until then, configs
// with conditions that read them are not pure.
func (t *Tracker) SetDevices(ua, country bool) {
	t.uaStable.Store(ua)
	t.countryStable.Store(country)
}

// Time returns the time of e's rule set.
func (e *Epoch) Time() int64 { return e.time }

// ObserveAsync is Observe on a goroutine of its own, for a caller that must
// not wait (the SDK holds its store's lock during RulesUpdatedCallback):
// call Retire first. Wait waits for it.
func (t *Tracker) ObserveAsync(specs string) {
	t.pending.Add(1)
	go func() {
		defer t.pending.Done()
		t.Observe(specs)
	}()
}

// Wait waits for the ObserveAsync calls that have begun.
func (t *Tracker) Wait() { t.pending.Wait() }

// Observe takes a rule set in the download_config_specs format that the
// client is about to load or has just loaded. A set without updates, or
// older than the current one, changes nothing, as it does not for the SDK.
// Observing is called from the SDK's own goroutines and may be slow for a
// large set: it parses the JSON.
func (t *Tracker) Observe(specs string) {
	if t.off.Load() {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.sum == 0 {
		t.seed = maphash.MakeSeed()
	}
	sum := maphash.String(t.seed, specs) | 1
	if sum == t.sum {
		return // the same set again: a data adapter read at every poll
	}
	var set ruleSet
	if err := json.Unmarshal([]byte(specs), &set); err != nil {
		// The SDK may read what this cannot; nothing is reused until a
		// set both can read arrives.
		t.sum = sum
		t.install(&Epoch{t: t, time: -1, never: true})
		return
	}
	// The SDK loads a set unless it is older than the one it has; one of the
	// same time with other rules cannot be told from it by an evaluation.
	if !set.HasUpdates || t.seen && set.Time < t.max {
		return
	}
	t.sum = sum
	e := &Epoch{t: t, time: set.Time, never: t.seen && set.Time == t.max}
	t.max, t.seen = set.Time, true
	if !e.never {
		e.gates, e.configs = purity(&set)
	}
	t.install(e)
}

func (t *Tracker) install(e *Epoch) {
	if !t.off.Load() {
		t.cur.Store(e)
	}
}

type ruleSet struct {
	HasUpdates     bool   `json:"has_updates"`
	Time           int64  `json:"time"`
	FeatureGates   []spec `json:"feature_gates"`
	DynamicConfigs []spec `json:"dynamic_configs"`
}

type spec struct {
	Name  string `json:"name"`
	Rules []struct {
		ConfigDelegate string `json:"configDelegate"`
		Conditions     []struct {
			Type        string `json:"type"`
			Operator    string `json:"operator"`
			TargetValue any    `json:"targetValue"`
		} `json:"conditions"`
	} `json:"rules"`
}

// What a spec's result depends on besides the user and the rule set.
const (
	impure      uint8 = 1 << iota // the time, ID lists, or a condition this SDK does not know
	usesUA                        // the user agent parser
	usesCountry                   // the IP country lookup
)

// conditionFlags returns what a condition of type typ with operator op
// depends on. The types not listed are the user's own fields, its bucket,
// the SDK's environment and the rule set's app: pure.
func conditionFlags(typ, op string) uint8 {
	var f uint8
	if strings.EqualFold(op, "in_segment_list") || strings.EqualFold(op, "not_in_segment_list") {
		f |= impure
	}
	switch strings.ToLower(typ) {
	case "public", "pass_gate", "fail_gate", "user_field", "environment_field", "user_bucket", "unit_id", "target_app":
	case "ua_based":
		f |= usesUA
	case "ip_based":
		f |= usesCountry
	default: // current_time, or a type the SDK would not evaluate
		f |= impure
	}
	return f
}

// purity returns the flags of every gate and config of set. A spec depends
// on the gates its pass_gate and fail_gate conditions name and on the
// configs its rules delegate to, as the SDK resolves them: the last spec of
// a name wins, and a missing one evaluates the same every time. A cycle,
// which the SDK would only end by its depth limit, is impure.
func purity(set *ruleSet) (gates, configs map[string]uint8) {
	index := func(specs []spec) map[string]*spec {
		m := make(map[string]*spec, len(specs))
		for i := range specs {
			m[specs[i].Name] = &specs[i]
		}
		return m
	}
	g, c := index(set.FeatureGates), index(set.DynamicConfigs)
	gates, configs = make(map[string]uint8, len(g)), make(map[string]uint8, len(c))
	const visiting = 1 << 7
	var visit func(gate bool, name string) uint8
	visit = func(gate bool, name string) uint8 {
		specs, flags := c, configs
		if gate {
			specs, flags = g, gates
		}
		sp, ok := specs[name]
		if !ok {
			return 0
		}
		if f, done := flags[name]; done {
			if f&visiting != 0 {
				return impure
			}
			return f
		}
		flags[name] = visiting
		var f uint8
		for _, r := range sp.Rules {
			if r.ConfigDelegate != "" {
				f |= visit(false, r.ConfigDelegate)
			}
			for _, cond := range r.Conditions {
				f |= conditionFlags(cond.Type, cond.Operator)
				if strings.EqualFold(cond.Type, "pass_gate") || strings.EqualFold(cond.Type, "fail_gate") {
					if dep, isName := cond.TargetValue.(string); isName {
						f |= visit(true, dep)
					}
				}
			}
		}
		flags[name] = f
		return f
	}
	for name := range g {
		visit(true, name)
	}
	for name := range c {
		visit(false, name)
	}
	return gates, configs
}
