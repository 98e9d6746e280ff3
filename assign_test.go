package statsigmw_test

import (
	"fmt"
	"math/rand"
	"net/http"
	"net/http/httptest"
	"reflect"
	"sync"
	"testing"
	"time"

	statsig "github.com/statsig-io/go-sdk"

	"github.com/labkit/statsigmw"
	"github.com/labkit/statsigmw/internal/rules"
	"github.com/labkit/statsigmw/statsigtest"
)

// compareHandler reads every experiment and gate through the middleware
// and, for the same user, straight from the SDK, and reports differences.
// When storable is not nil, it counts the reads of pure names that the
// middleware may store: those the SDK gives evaluation details (it gives
// none to a gate that no rule matched).
func compareHandler(t *testing.T, sdk *statsig.Client, names func() ([]string, []string), storable *int64) http.Handler {
	var mu sync.Mutex
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		u, _ := statsigmw.User(ctx)
		exps, gates := names()
		for _, n := range exps {
			got, ok := statsigmw.Experiment(ctx, n)
			want := sdk.GetExperimentWithExposureLoggingDisabled(u, n)
			if storable != nil && contains(pureExperiments, n) && want.EvaluationDetails != nil {
				*storable++
			}
			if !ok || got.RuleID != want.RuleID || got.GroupName != want.GroupName || !reflect.DeepEqual(got.Value, want.Value) {
				mu.Lock()
				t.Errorf("experiment %s for %+v: got %s/%s %v (ok %v), the SDK says %s/%s %v",
					n, u, got.RuleID, got.GroupName, got.Value, ok, want.RuleID, want.GroupName, want.Value)
				mu.Unlock()
			}
		}
		for _, n := range gates {
			got, ok := statsigmw.Gate(ctx, n)
			want := sdk.GetGateWithExposureLoggingDisabled(u, n)
			if storable != nil && contains(pureGates, n) && want.EvaluationDetails != nil {
				*storable++
			}
			if !ok || got != want.Value {
				mu.Lock()
				t.Errorf("gate %s for %+v: got %v (ok %v), the SDK says %v", n, u, got, ok, want.Value)
				mu.Unlock()
			}
		}
	})
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func allNames() ([]string, []string) {
	return append(append([]string{}, pureExperiments...), impureExps...), append(append([]string{}, pureGates...), impureGates...)
}

func loginFromHeader(r *http.Request) string { return r.Header.Get("X-User") }

// TestAssignmentReuseMatchesSDK serves visitors that differ in every field
// the SDK reads, each several times in a random order, and checks every
// read of the middleware, reused or not, against the SDK's own answer.
func TestAssignmentReuseMatchesSDK(t *testing.T) {
	client := ruleClient(t, statsig.Options{})
	mw, err := statsigmw.New(client, statsigmw.Config{LoginID: loginFromHeader, AssignmentCacheSize: 1 << 16})
	if err != nil {
		t.Fatal(err)
	}
	var storable int64
	h := mw.Handler(compareHandler(t, client.SDK(), allNames, &storable))

	var visits []visit
	for i := 0; i < 4; i++ {
		id := stamped(fmt.Sprintf("5c1f0a3e-0d4b-4c1e-9a7b-%012d", i))
		if i == 3 {
			id = "" // a new visitor every time: id_source "new"
		}
		for _, ua := range []string{uaChrome, uaFirefox, ""} {
			for _, lang := range []string{"de-DE,de;q=0.9", "en-US"} {
				for _, remote := range []string{"10.1.2.3:5555", "192.0.2.7:5555"} {
					for _, login := range []string{"", "user-42"} {
						visits = append(visits, visit{id, ua, lang, remote, login})
					}
				}
			}
		}
	}
	order := make([]visit, 0, 3*len(visits))
	for i := 0; i < 3; i++ {
		order = append(order, visits...)
	}
	rand.New(rand.NewSource(1)).Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
	// A returning visitor's later visits can reuse every read of a pure
	// name that the SDK gave details.
	var reusable int64
	seen := make(map[visit]bool)
	for _, v := range order {
		before := storable
		h.ServeHTTP(httptest.NewRecorder(), v.request())
		if seen[v] && v.cookie != "" {
			reusable += storable - before
		}
		seen[v] = true
	}
	st := mw.Stats()
	// All but the odd collision in the table (576 entries in 65,536 slots).
	if min := reusable * 97 / 100; st.AssignmentsReused < min || st.AssignmentsReused > reusable {
		t.Errorf("AssignmentsReused = %d, want %d at most and %d at least", st.AssignmentsReused, reusable, min)
	}
	t.Logf("%d requests, %d of %d reusable reads reused", len(order), st.AssignmentsReused, reusable)
}

// TestAssignmentReuse counts exactly what is reused: every pure name once
// its evaluation is stored, nothing that reads the time or an ID list, and
// nothing for a user who differs in one field.
func TestAssignmentReuse(t *testing.T) {
	client := ruleClient(t, statsig.Options{})
	mw, err := statsigmw.New(client, statsigmw.Config{LoginID: loginFromHeader})
	if err != nil {
		t.Fatal(err)
	}
	var storable int64
	h := mw.Handler(compareHandler(t, client.SDK(), allNames, &storable))
	reused := func(v visit) int64 {
		before := mw.Stats().AssignmentsReused
		h.ServeHTTP(httptest.NewRecorder(), v.request())
		return mw.Stats().AssignmentsReused - before
	}
	v := visit{stamped("0b7d3f2e-5a44-4c55-8e0a-6f1d2c3b4a59"), uaChrome, "de-DE", "10.1.2.3:5555", ""}
	reused(v) // arms the rule set (that evaluation is not stored) and stores the rest
	reused(v)
	storable = 0
	got := reused(v)
	want := storable
	if want < int64(len(pureExperiments))+3 {
		t.Fatalf("only %d storable reads: the rule set does not test what it should", want)
	}
	if got != want {
		t.Errorf("a returning visit reused %d reads, want %d (every pure name the SDK gives details)", got, want)
	}
	for name, w := range map[string]visit{
		"user agent":   {v.cookie, uaFirefox, v.lang, v.remote, v.login},
		"locale":       {v.cookie, v.ua, "en-GB", v.remote, v.login},
		"IP":           {v.cookie, v.ua, v.lang, "10.9.9.9:5555", v.login},
		"login":        {v.cookie, v.ua, v.lang, v.remote, "user-1"},
		"visitor":      {stamped("0b7d3f2e-5a44-4c55-8e0a-6f1d2c3b4a5a"), v.ua, v.lang, v.remote, v.login},
		"cookie (new)": {"", v.ua, v.lang, v.remote, v.login},
	} {
		if got := reused(w); got != 0 {
			t.Errorf("another %s: %d reads reused, want 0", name, got)
		}
	}
	// The table keeps one evaluation per visitor and name: the first
	// visitor's were replaced by its variants, and are stored again.
	reused(v)
	if got := reused(v); got != want {
		t.Errorf("the first visitor again: %d reads reused, want %d", got, want)
	}
}

// TestAssignmentReuseOff: reuse is off when asked, with an ExtendUser hook
// (the user may then hold anything), with SDK evaluation callbacks, which a
// reused read would not call, and for a config that reads the user agent
// while the SDK's parser may still be loading.
func TestAssignmentReuseOff(t *testing.T) {
	var calls sync.Map
	count := func(name string) {
		n, _ := calls.LoadOrStore(name, new(int))
		*n.(*int)++
	}
	withCallbacks := statsig.Options{EvaluationCallbacks: statsig.EvaluationCallbacks{
		ExperimentEvaluationCallback: func(name string, _ statsig.DynamicConfig, _ *statsig.ExposureEvent) { count(name) },
	}}
	for _, tc := range []struct {
		name string
		opts statsig.Options
		cfg  statsigmw.Config
	}{
		{"AssignmentCacheSize -1", statsig.Options{}, statsigmw.Config{AssignmentCacheSize: -1}},
		{"ExtendUser", statsig.Options{}, statsigmw.Config{ExtendUser: func(*http.Request, *statsig.User) {}}},
		{"EvaluationCallbacks", withCallbacks, statsigmw.Config{}},
		// exp_multi reads the user agent (through chrome_and_half), which a
		// lazily loaded parser may not answer yet.
		{"lazy user agent parser", statsig.Options{UAParserOptions: statsig.UAParserOptions{LazyLoad: true}}, statsigmw.Config{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			client := ruleClient(t, tc.opts)
			mw, err := statsigmw.New(client, tc.cfg)
			if err != nil {
				t.Fatal(err)
			}
			h := mw.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				statsigmw.Experiment(r.Context(), "exp_multi")
			}))
			v := visit{stamped("0b7d3f2e-5a44-4c55-8e0a-6f1d2c3b4a59"), uaChrome, "de-DE", "10.1.2.3:5555", ""}
			for i := 0; i < 4; i++ {
				h.ServeHTTP(httptest.NewRecorder(), v.request())
			}
			if got := mw.Stats().AssignmentsReused; got != 0 {
				t.Errorf("AssignmentsReused = %d, want 0", got)
			}
		})
	}
	if n, ok := calls.Load("exp_multi"); !ok || *n.(*int) != 4 {
		t.Errorf("the evaluation callback ran %v times, want 4", n)
	}
}

// TestAssignmentReuseFollowsRules changes an experiment's groups on a
// statsigtest backend: once the client has the new rules, the next request
// gets the new group, though the old one was being reused.
func TestAssignmentReuseFollowsRules(t *testing.T) {
	split := func(group string) statsigtest.Config {
		return statsigtest.Config{Experiments: []statsigtest.ExperimentSpec{{
			Name: "exp", Unit: statsigtest.UnitStableID, Groups: []statsigtest.Group{{Name: group, Weight: 100, Params: map[string]any{"g": group}}},
		}}}
	}
	srv := startBackend(t, split("A"))
	updated := make(chan struct{}, 8)
	cc := srv.ClientConfig()
	opts := *cc.Options
	opts.ConfigSyncInterval = 10 * time.Millisecond
	opts.RulesUpdatedCallback = func(string, int64) { updated <- struct{}{} }
	cc.Options = &opts
	client := mustClient(t, cc)
	<-updated // the initial download
	rules.Of(client).Wait()
	mw, err := statsigmw.New(client, statsigmw.Config{})
	if err != nil {
		t.Fatal(err)
	}
	var group string
	h := mw.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		cfg, _ := statsigmw.Experiment(r.Context(), "exp")
		group = cfg.GroupName
	}))
	v := visit{cookie: stamped("0b7d3f2e-5a44-4c55-8e0a-6f1d2c3b4a59"), remote: "192.0.2.1:1"}
	for i := 0; i < 3; i++ {
		h.ServeHTTP(httptest.NewRecorder(), v.request())
		if group != "A" {
			t.Fatalf("request %d: group %q, want A", i, group)
		}
	}
	if mw.Stats().AssignmentsReused == 0 {
		t.Fatal("the group was not reused before the change")
	}
	if err := srv.SetConfig(split("B")); err != nil {
		t.Fatal(err)
	}
	<-updated // the client has the new rules: reuse stops at once
	h.ServeHTTP(httptest.NewRecorder(), v.request())
	if group != "B" {
		t.Fatalf("after the change: group %q, want B", group)
	}
	rules.Of(client).Wait() // the middleware has parsed them
	before := mw.Stats().AssignmentsReused
	for i := 0; i < 3; i++ {
		h.ServeHTTP(httptest.NewRecorder(), v.request())
		if group != "B" {
			t.Fatalf("after the change, request %d: group %q, want B", i, group)
		}
	}
	if mw.Stats().AssignmentsReused == before {
		t.Error("the new group is not reused")
	}
}

// TestAssignmentReuseOneSlot puts every variant of a visitor in the table's
// single slot, for an experiment with a group for each field of the user:
// only the comparison of every field keeps a variant from being answered
// with another's group.
func TestAssignmentReuseOneSlot(t *testing.T) {
	client := ruleClient(t, statsig.Options{})
	mw, err := statsigmw.New(client, statsigmw.Config{LoginID: loginFromHeader, AssignmentCacheSize: 1})
	if err != nil {
		t.Fatal(err)
	}
	// PeekExperiment: a new unit's first Experiment read logs its exposure
	// in the SDK's own call and is never answered from the table.
	sdk := client.SDK()
	h := mw.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u, _ := statsigmw.User(r.Context())
		got, _ := statsigmw.PeekExperiment(r.Context(), "exp_fields")
		if want := sdk.GetExperimentWithExposureLoggingDisabled(u, "exp_fields"); got.GroupName != want.GroupName {
			t.Errorf("for %+v: group %q, the SDK says %q", u, got.GroupName, want.GroupName)
		}
	}))
	base := visit{stamped("0b7d3f2e-5a44-4c55-8e0a-6f1d2c3b4a59"), "", "en-US", "192.0.2.7:5555", ""}
	variants := []visit{
		{base.cookie, base.ua, base.lang, "10.1.2.3:5555", base.login},
		{base.cookie, base.ua, base.lang, base.remote, "user-1"},
		{base.cookie, base.ua, "de-DE", base.remote, base.login},
		{base.cookie, uaChrome, base.lang, base.remote, base.login},
		{"", base.ua, base.lang, base.remote, base.login},
	}
	for _, v := range variants {
		h.ServeHTTP(httptest.NewRecorder(), base.request())
		h.ServeHTTP(httptest.NewRecorder(), base.request())
		h.ServeHTTP(httptest.NewRecorder(), v.request())
	}
	// One account on other devices: the same UserID, another stableID,
	// which exp_fields buckets on.
	account := base
	account.login = "acct-1"
	for i := 0; i < 8; i++ {
		h.ServeHTTP(httptest.NewRecorder(), account.request())
		h.ServeHTTP(httptest.NewRecorder(), account.request())
		other := account
		other.cookie = stamped(fmt.Sprintf("0b7d3f2e-5a44-4c55-8e0a-%012d", i))
		h.ServeHTTP(httptest.NewRecorder(), other.request())
	}
	if got, min := mw.Stats().AssignmentsReused, int64(len(variants)+8-1); got < min {
		t.Errorf("AssignmentsReused = %d, want at least %d: the base visit is not reused", got, min)
	}
}
