package rules

import (
	"encoding/json"
	"fmt"
	"testing"
)

type cond struct {
	Type        string `json:"type"`
	Operator    string `json:"operator,omitempty"`
	TargetValue any    `json:"targetValue,omitempty"`
}

type rule struct {
	ConfigDelegate string `json:"configDelegate,omitempty"`
	Conditions     []cond `json:"conditions"`
}

type sp struct {
	Name  string `json:"name"`
	Rules []rule `json:"rules"`
}

func set(t testing.TB, time int64, gates, configs []sp) string {
	t.Helper()
	b, err := json.Marshal(map[string]any{"has_updates": true, "time": time, "feature_gates": gates, "dynamic_configs": configs})
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func one(name string, cs ...cond) sp { return sp{Name: name, Rules: []rule{{Conditions: cs}}} }

func TestPurity(t *testing.T) {
	gates := []sp{
		one("public", cond{Type: "public"}),
		one("ua", cond{Type: "ua_based", Operator: "any"}, cond{Type: "USER_FIELD", Operator: "eq"}),
		one("clock", cond{Type: "current_time", Operator: "after"}),
		one("list", cond{Type: "unit_id", Operator: "in_segment_list", TargetValue: "beta"}),
		one("notlist", cond{Type: "unit_id", Operator: "Not_In_Segment_List", TargetValue: "beta"}),
		one("odd", cond{Type: "something_new"}),
		one("on-clock", cond{Type: "pass_gate", TargetValue: "clock"}),
		one("off-list", cond{Type: "fail_gate", TargetValue: "list"}),
		one("on-ua", cond{Type: "pass_gate", TargetValue: "ua"}, cond{Type: "fail_gate", TargetValue: "missing"}),
		one("deep", cond{Type: "pass_gate", TargetValue: "on-ua"}, cond{Type: "pass_gate", TargetValue: 7}),
		one("deep-clock", cond{Type: "pass_gate", TargetValue: "on-ua"}, cond{Type: "pass_gate", TargetValue: "on-clock"}),
		one("cycle-a", cond{Type: "pass_gate", TargetValue: "cycle-b"}),
		one("cycle-b", cond{Type: "pass_gate", TargetValue: "cycle-a"}),
		{Name: "later-rule", Rules: []rule{{Conditions: []cond{{Type: "public"}}}, {Conditions: []cond{{Type: "current_time"}}}}},
		one("country", cond{Type: "ip_based", Operator: "any"}),
		one("locale", cond{Type: "user_field", Operator: "any"}),
	}
	configs := []sp{
		one("exp", cond{Type: "user_bucket", Operator: "lt"}),
		one("exp-gated", cond{Type: "pass_gate", TargetValue: "on-ua"}),
		one("exp-holdout", cond{Type: "fail_gate", TargetValue: "on-clock"}),
		{Name: "layer-like", Rules: []rule{{ConfigDelegate: "exp", Conditions: []cond{{Type: "public"}}}}},
		{Name: "delegates-impure", Rules: []rule{{ConfigDelegate: "exp-holdout", Conditions: []cond{{Type: "public"}}}}},
		one("ua", cond{Type: "current_time"}), // a config named like a pure gate
	}
	var tr Tracker
	tr.Observe(set(t, 10, gates, configs))
	e := tr.cur.Load()
	if e == nil || e.never || e.time != 10 {
		t.Fatalf("epoch = %+v", e)
	}
	check := func(pureGates, pureConfigs map[string]bool) {
		t.Helper()
		for _, g := range gates {
			if got := e.Pure(true, g.Name); got != pureGates[g.Name] {
				t.Errorf("gate %q: pure = %v, want %v", g.Name, got, pureGates[g.Name])
			}
		}
		for _, c := range configs {
			if got := e.Pure(false, c.Name); got != pureConfigs[c.Name] {
				t.Errorf("config %q: pure = %v, want %v", c.Name, got, pureConfigs[c.Name])
			}
		}
	}
	// Until the SDK's parser and lookup are known to be loaded, the user
	// agent and the country are not the user's alone.
	check(map[string]bool{"public": true, "locale": true}, map[string]bool{"exp": true, "layer-like": true})
	tr.SetDevices(true, false)
	check(map[string]bool{"public": true, "locale": true, "ua": true, "on-ua": true, "deep": true},
		map[string]bool{"exp": true, "exp-gated": true, "layer-like": true})
	tr.SetDevices(false, true)
	check(map[string]bool{"public": true, "locale": true, "country": true}, map[string]bool{"exp": true, "layer-like": true})
	if e.Pure(true, "missing") || e.Pure(false, "public") {
		t.Error("a name the rule set does not have is pure")
	}
}

// TestArming walks the protocol: an observed epoch is armed only by an
// evaluation that began after it was observed and reports its time, and only
// evaluations begun after arming are stored.
func TestArming(t *testing.T) {
	var tr Tracker
	if tk := tr.Begin(); tr.End(tk, 0) != nil || tr.Current() != nil {
		t.Fatal("a tracker that observed nothing stores")
	}
	gates := []sp{one("g", cond{Type: "public"})}
	tr.Observe(set(t, 100, gates, nil))

	// An evaluation that began before the epoch, or saw the old rule set,
	// arms nothing.
	old := Ticket{}
	if tr.End(old, 100) != nil {
		t.Fatal("stored an evaluation begun before the epoch")
	}
	tk := tr.Begin()
	if ep := tr.End(tk, 99); ep != nil || tr.Current() != nil {
		t.Fatal("an evaluation with the previous rule set armed the epoch")
	}
	// The first evaluation with the epoch's time arms it but is not stored:
	// it may have read the old rules before the swap.
	tk = tr.Begin()
	if ep := tr.End(tk, 100); ep != nil {
		t.Fatal("the arming evaluation was stored")
	}
	cur := tr.Current()
	if cur == nil || cur.Time() != 100 {
		t.Fatalf("Current = %v after arming", cur)
	}
	tk = tr.Begin()
	if ep := tr.End(tk, 100); ep != cur {
		t.Fatalf("End = %p, want the armed epoch %p", ep, cur)
	}
	// An armed epoch that meets an evaluation of another rule set is
	// disarmed: the SDK loaded something the tracker did not see.
	tk = tr.Begin()
	if ep := tr.End(tk, 101); ep != nil || tr.Current() != nil {
		t.Fatal("an unseen rule set left the epoch armed")
	}

	// A newer set replaces the epoch; an older one, one without updates, and
	// the same text again change nothing.
	tr.Observe(set(t, 200, gates, nil))
	e200 := tr.cur.Load()
	tr.End(tr.Begin(), 200)
	for _, s := range []string{set(t, 150, gates, nil), `{"has_updates":false,"time":300}`, set(t, 200, gates, nil)} {
		tr.Observe(s)
		if tr.Current() != e200 {
			t.Fatalf("after %.60s: epoch replaced", s)
		}
	}
	// The same time with other rules cannot be told apart from the rules
	// before by an evaluation's details: it is never armed.
	tr.Observe(set(t, 200, []sp{one("g", cond{Type: "unit_id"})}, nil))
	tr.End(tr.Begin(), 200)
	if tr.Current() != nil {
		t.Fatal("an epoch with the time of the previous one was armed")
	}
	// Text that does not parse turns reuse off until a newer set arrives.
	tr.Observe(set(t, 300, gates, nil))
	tr.End(tr.Begin(), 300)
	tr.Observe(`{"has_updates": tru`)
	tr.End(tr.Begin(), 300)
	if tr.Current() != nil {
		t.Fatal("reuse stayed on after a rule set the tracker could not read")
	}
	tr.Observe(set(t, 400, gates, nil))
	tr.End(tr.Begin(), 400)
	if c := tr.Current(); c == nil || !c.Pure(true, "g") {
		t.Fatal("a good rule set after a bad one did not turn reuse on")
	}

	// Nor does text that does not parse make the time of the set before it
	// new again: the same time with other rules is still never armed.
	tr.Observe(`{"has_updates": tru`)
	tr.Observe(set(t, 400, []sp{one("g", cond{Type: "unit_id"})}, nil))
	tr.End(tr.Begin(), 400)
	if tr.Current() != nil {
		t.Fatal("after a set that did not parse, a set of the same time was armed")
	}

	// Retire stops reuse at once (the SDK has swapped), and an evaluation
	// running across it is not stored.
	tr.Observe(set(t, 500, gates, nil))
	tr.End(tr.Begin(), 500)
	running := tr.Begin()
	if tr.Current() == nil {
		t.Fatal("not armed")
	}
	tr.Retire()
	if tr.Current() != nil || tr.End(running, 500) != nil || tr.End(tr.Begin(), 500) != nil || tr.Current() != nil {
		t.Fatal("a retired epoch is still used")
	}
	tr.ObserveAsync(set(t, 600, gates, nil))
	tr.Wait()
	tr.End(tr.Begin(), 600)
	if c := tr.Current(); c == nil || c.Time() != 600 {
		t.Fatalf("after ObserveAsync and Wait: Current = %v", c)
	}

	tr.Disable()
	tr.Observe(set(t, 700, gates, nil))
	tr.End(tr.Begin(), 700)
	if tr.Current() != nil {
		t.Fatal("a disabled tracker reuses")
	}
}

func TestNilTracker(t *testing.T) {
	var tr *Tracker
	if tr.Current() != nil || tr.End(tr.Begin(), 0) != nil {
		t.Fatal("a nil tracker stores")
	}
}

// FuzzObserve feeds rule sets of any shape: the tracker must not panic, and
// an epoch it arms must come from a set that parsed.
func FuzzObserve(f *testing.F) {
	f.Add(set(f, 1, []sp{one("a", cond{Type: "pass_gate", TargetValue: "a"})}, nil))
	f.Add(`{"has_updates":true,"time":5,"feature_gates":[{"name":"x","rules":[{"conditions":[{"type":"fail_gate","targetValue":["x"]}]}]}]}`)
	f.Add(`{"has_updates":true,"time":-3,"dynamic_configs":[{"name":"","rules":[{"configDelegate":""}]}]}`)
	f.Add(`null`)
	f.Fuzz(func(t *testing.T, s string) {
		var tr Tracker
		tr.Observe(s)
		tr.End(tr.Begin(), 0)
		if e := tr.cur.Load(); e != nil && !e.never {
			var v map[string]any
			if err := json.Unmarshal([]byte(s), &v); err != nil {
				t.Fatalf("an epoch from text that is not JSON: %v", err)
			}
			_ = fmt.Sprint(e.gates, e.configs)
		}
	})
}
