package ofprovider_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"reflect"
	"sync"
	"testing"

	"github.com/open-feature/go-sdk/openfeature"
	statsig "github.com/statsig-io/go-sdk"

	"github.com/labkit/statsigmw"
	"github.com/labkit/statsigmw/statsigtest"
)

// answer is what the test page reports: the same flags read through
// statsigmw and through OpenFeature.
type answer struct {
	StableID string

	Group, Rule, Color string
	Gate               bool

	OFColor, OFVariant, OFRule, OFReason, OFErr string
	OFGate                                      bool
	OFGateErr                                   string
}

// page reads experiment "exp" (its color) and gate "half" through both
// APIs, OpenFeature first with ?of=first.
func page(of *openfeature.Client) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		var a answer
		viaMW := func() {
			cfg, _ := statsigmw.Experiment(ctx, "exp")
			a.Group, a.Rule, a.Color = cfg.GroupName, cfg.RuleID, cfg.GetString("color", "fallback")
			a.Gate, _ = statsigmw.Gate(ctx, "half")
		}
		viaOF := func() {
			d, err := of.StringValueDetails(ctx, "exp.color", "fallback", openfeature.EvaluationContext{})
			a.OFColor, a.OFVariant, a.OFReason = d.Value, d.Variant, string(d.Reason)
			a.OFRule, _ = d.FlagMetadata.GetString("ruleID")
			if err != nil {
				a.OFErr = err.Error()
			}
			a.OFGate, err = of.BooleanValue(ctx, "half", false, openfeature.EvaluationContext{})
			if err != nil {
				a.OFGateErr = err.Error()
			}
		}
		if r.URL.Query().Get("of") == "first" {
			viaOF()
			viaMW()
		} else {
			viaMW()
			viaOF()
		}
		u, _ := statsigmw.User(ctx)
		a.StableID = u.CustomIDs["stableID"]
		_ = json.NewEncoder(w).Encode(a)
	}
}

// A handler's OpenFeature answers equal statsigmw's for the same request,
// whichever reads first, and each visitor's exposure of the experiment and
// of the gate is sent once for both reads (and the visitor's second
// request).
func TestSameAnswerAsMiddleware(t *testing.T) {
	e := newEnv(t)
	ts := e.serve(t, page(e.of))

	const visitors = 16
	groups := map[string]string{} // stableID -> group
	gates := map[string]bool{}
	seenGroups := map[string]bool{}
	for i := 0; i < visitors; i++ {
		c := visitor(t)
		for j, order := range []string{"first", "second"} {
			if i%2 == 1 {
				order = []string{"second", "first"}[j]
			}
			var a answer
			getJSON(t, c, ts.URL+"/?of="+order, &a)
			if a.OFErr != "" || a.OFGateErr != "" {
				t.Fatalf("visitor %d: OpenFeature errors %q, %q", i, a.OFErr, a.OFGateErr)
			}
			if a.OFColor != a.Color || a.OFVariant != a.Group || a.OFRule != a.Rule || a.OFGate != a.Gate {
				t.Errorf("visitor %d (%s): OpenFeature says color %q, variant %q, rule %q, gate %v; statsigmw says %q, %q, %q, %v",
					i, order, a.OFColor, a.OFVariant, a.OFRule, a.OFGate, a.Color, a.Group, a.Rule, a.Gate)
			}
			if a.Group == "" || a.OFReason != string(openfeature.SplitReason) {
				t.Errorf("visitor %d: group %q, reason %q; want a group and %s", i, a.Group, a.OFReason, openfeature.SplitReason)
			}
			if g, ok := groups[a.StableID]; ok && g != a.Group {
				t.Errorf("visitor %d changed group: %q then %q", i, g, a.Group)
			}
			groups[a.StableID], gates[a.StableID] = a.Group, a.Gate
			seenGroups[a.Group] = true
		}
	}
	if len(groups) != visitors {
		t.Fatalf("%d stable ids for %d visitors", len(groups), visitors)
	}
	if len(seenGroups) < 2 {
		t.Fatalf("every visitor in group(s) %v: the comparison proves little", seenGroups)
	}

	e.srv.Flush(t, e.client)
	type key struct{ id, name string }
	count := map[key]int{}
	for _, x := range e.srv.Exposures() {
		id := x.User.CustomIDs["stableID"]
		count[key{id, x.Name}]++
		switch x.Kind {
		case statsigtest.ExperimentExposure:
			if x.Group != groups[id] {
				t.Errorf("exposure of %s: group %q, the page said %q", id, x.Group, groups[id])
			}
		case statsigtest.GateExposure:
			if x.GateValue != gates[id] {
				t.Errorf("gate exposure of %s: %v, the page said %v", id, x.GateValue, gates[id])
			}
		}
	}
	for id := range groups {
		for _, name := range []string{"exp", "half"} {
			if n := count[key{id, name}]; n != 1 {
				t.Errorf("visitor %s: %d exposures of %q, want 1", id, n, name)
			}
		}
	}
	if st := e.mw.Stats(); st.ExposuresLogged != 2*visitors {
		t.Errorf("Stats().ExposuresLogged = %d, want %d", st.ExposuresLogged, 2*visitors)
	}
}

// An event tracked through OpenFeature in a request carries the stableID
// of the visitor's exposure, its value and its attributes; outside a
// request it is recorded for the evaluation context's user.
func TestTrack(t *testing.T) {
	e := newEnv(t)
	mux := http.NewServeMux()
	mux.Handle("/page", page(e.of))
	mux.HandleFunc("/buy", func(w http.ResponseWriter, r *http.Request) {
		// The evaluation context is ignored in a request: the request has
		// one user.
		e.of.Track(r.Context(), "purchase", openfeature.NewEvaluationContext("someone-else", nil),
			openfeature.NewTrackingEventDetails(9.5).Add("sku", "A-1").Add("qty", 2).Add("gift", true))
	})
	ts := e.serve(t, mux)
	c := visitor(t)
	var a answer
	getJSON(t, c, ts.URL+"/page", &a)
	resp, err := c.Get(ts.URL + "/buy")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()

	bg := context.Background()
	e.of.Track(bg, "job_done", openfeature.NewEvaluationContext("job-user", map[string]any{"stableID": "job-stable", "plan": "pro"}),
		openfeature.NewTrackingEventDetails(0))
	// No id: not recorded.
	e.of.Track(bg, "anonymous", openfeature.NewTargetlessEvaluationContext(map[string]any{"plan": "pro"}), openfeature.NewTrackingEventDetails(1))

	e.srv.Flush(t, e.client)
	var exposed string
	for _, x := range e.srv.Exposures() {
		if x.Name == "exp" {
			exposed = x.User.CustomIDs["stableID"]
		}
	}
	if exposed == "" || exposed != a.StableID {
		t.Fatalf("exposure's stableID %q, page's %q", exposed, a.StableID)
	}
	events := map[string]statsigtest.Event{}
	for _, ev := range e.srv.Events() {
		events[ev.Name] = ev
	}
	if len(events) != 2 {
		t.Errorf("events %v, want purchase and job_done", events)
	}
	buy := events["purchase"]
	if got := buy.User.CustomIDs["stableID"]; got != exposed {
		t.Errorf("purchase: stableID %q, the exposure's %q", got, exposed)
	}
	if buy.User.UserID != a.StableID {
		t.Errorf("purchase: userID %q, want the visitor's %q", buy.User.UserID, a.StableID)
	}
	if want := map[string]string{"sku": "A-1", "qty": "2", "gift": "true"}; buy.Value != "9.5" || !reflect.DeepEqual(buy.Metadata, want) {
		t.Errorf("purchase: value %q, metadata %v; want 9.5, %v", buy.Value, buy.Metadata, want)
	}
	job := events["job_done"]
	if job.User.UserID != "job-user" || job.User.CustomIDs["stableID"] != "job-stable" || job.User.Custom["plan"] != "pro" || job.Value != "" {
		t.Errorf("job_done: user %+v, value %q; want job-user, job-stable, plan pro, no value", job.User, job.Value)
	}
}

// Every kind of flag, with its value, reason and error code.
func TestEvaluations(t *testing.T) {
	e := newEnv(t)
	bg := context.Background()
	ec := openfeature.EvaluationContext{}

	type result struct {
		value  any
		reason openfeature.Reason
		code   openfeature.ErrorCode
	}
	type evalCase struct {
		name   string
		eval   func(ctx context.Context) result
		want   func(cfg statsig.DynamicConfig, gate bool) result
		expose bool // the experiment's exposure is logged
	}
	split := openfeature.SplitReason
	errorR := openfeature.ErrorReason
	details := func(d openfeature.InterfaceEvaluationDetails) result {
		return result{d.Value, d.Reason, d.ErrorCode}
	}
	str := func(flag, def string) func(ctx context.Context) result {
		return func(ctx context.Context) result {
			d, _ := e.of.StringValueDetails(ctx, flag, def, ec)
			return result{d.Value, d.Reason, d.ErrorCode}
		}
	}
	integer := func(flag string) func(ctx context.Context) result {
		return func(ctx context.Context) result {
			d, _ := e.of.IntValueDetails(ctx, flag, -1, ec)
			return result{d.Value, d.Reason, d.ErrorCode}
		}
	}
	float := func(flag string) func(ctx context.Context) result {
		return func(ctx context.Context) result {
			d, _ := e.of.FloatValueDetails(ctx, flag, -1, ec)
			return result{d.Value, d.Reason, d.ErrorCode}
		}
	}
	boolean := func(flag string) func(ctx context.Context) result {
		return func(ctx context.Context) result {
			d, _ := e.of.BooleanValueDetails(ctx, flag, false, ec)
			return result{d.Value, d.Reason, d.ErrorCode}
		}
	}
	object := func(flag string) func(ctx context.Context) result {
		return func(ctx context.Context) result {
			d, _ := e.of.ObjectValueDetails(ctx, flag, "def", ec)
			return details(d)
		}
	}
	fixed := func(r result) func(statsig.DynamicConfig, bool) result {
		return func(statsig.DynamicConfig, bool) result { return r }
	}
	cases := []evalCase{
		{"string parameter", str("exp.color", "def"),
			func(c statsig.DynamicConfig, _ bool) result { return result{c.GetString("color", "?"), split, ""} }, true},
		{"int parameter", integer("exp.size"),
			func(c statsig.DynamicConfig, _ bool) result { return result{c.GetNumber("size", -2), split, ""} }, true},
		{"float parameter", float("exp.ratio"),
			func(c statsig.DynamicConfig, _ bool) result { return result{c.GetNumber("ratio", -2), split, ""} }, true},
		{"int parameter as float", float("exp.size"),
			func(c statsig.DynamicConfig, _ bool) result { return result{c.GetNumber("size", -2), split, ""} }, true},
		{"bool parameter", boolean("exp.enabled"),
			func(c statsig.DynamicConfig, _ bool) result { return result{c.GetBool("enabled", false), split, ""} }, true},
		{"object parameter", object("exp.style"),
			func(c statsig.DynamicConfig, _ bool) result { return result{c.GetMap("style", nil), split, ""} }, true},
		{"array parameter", object("exp.tags"),
			func(c statsig.DynamicConfig, _ bool) result { return result{c.GetSlice("tags", nil), split, ""} }, true},
		{"experiment as object", object("exp"),
			func(c statsig.DynamicConfig, _ bool) result { return result{c.Value, split, ""} }, true},
		{"parameter with a dot", str("exp.a.b", "def"), fixed(result{"def", openfeature.DefaultReason, ""}), true},
		{"missing parameter", str("exp.nope", "def"), fixed(result{"def", openfeature.DefaultReason, ""}), true},
		{"gate", boolean("half"),
			func(_ statsig.DynamicConfig, g bool) result { return result{g, openfeature.UnknownReason, ""} }, false},

		{"unknown gate", boolean("nope"), fixed(result{false, errorR, openfeature.FlagNotFoundCode}), false},
		{"unknown experiment", str("nope.color", "def"), fixed(result{"def", errorR, openfeature.FlagNotFoundCode}), false},
		{"unknown experiment as object", object("nope"), fixed(result{"def", errorR, openfeature.FlagNotFoundCode}), false},
		{"string of a bare name", str("exp", "def"), fixed(result{"def", errorR, openfeature.FlagNotFoundCode}), false},
		{"empty parameter", str("exp.", "def"), fixed(result{"def", errorR, openfeature.FlagNotFoundCode}), false},
		{"empty experiment", str(".color", "def"), fixed(result{"def", errorR, openfeature.FlagNotFoundCode}), false},
		{"empty key", boolean(""), fixed(result{false, errorR, openfeature.FlagNotFoundCode}), false},
		{"string as int", integer("exp.color"), fixed(result{int64(-1), errorR, openfeature.TypeMismatchCode}), false},
		{"fraction as int", integer("exp.ratio"), fixed(result{int64(-1), errorR, openfeature.TypeMismatchCode}), false},
		{"number as string", str("exp.size", "def"), fixed(result{"def", errorR, openfeature.TypeMismatchCode}), false},
		{"string as bool", boolean("exp.color"), fixed(result{false, errorR, openfeature.TypeMismatchCode}), false},
		{"bool as float", float("exp.enabled"), fixed(result{float64(-1), errorR, openfeature.TypeMismatchCode}), false},
		{"string as object", object("exp.color"), fixed(result{"def", errorR, openfeature.TypeMismatchCode}), false},
	}
	users := map[string]evalCase{}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			id := fmt.Sprintf("user-%d", i)
			users[id] = tc
			ctx := statsigmw.NewContext(bg, e.client, statsig.User{UserID: id})
			got := tc.eval(ctx)
			cfg, _ := statsigmw.PeekExperiment(ctx, "exp") // no exposure of its own
			u, _ := statsigmw.User(ctx)
			gate := e.client.SDK().CheckGateWithExposureLoggingDisabled(u, "half")
			want := tc.want(cfg, gate)
			// The SDK's getters return float64 for numbers; compare as the
			// evaluation's type.
			if i, ok := got.value.(int64); ok {
				if f, ok := want.value.(float64); ok {
					want.value = int64(f)
				}
				got.value = i
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("got %#v, want %#v", got, want)
			}
		})
	}

	e.srv.Flush(t, e.client)
	exposed := map[string]int{}
	for _, x := range e.srv.Exposures() {
		if x.Name == "exp" {
			exposed[x.User.UserID]++
		}
	}
	for id, tc := range users {
		want := 0
		if tc.expose {
			want = 1
		}
		if exposed[id] != want {
			t.Errorf("%s: %d exposures of exp, want %d", tc.name, exposed[id], want)
		}
	}
}

// A value returned as an object is the caller's copy.
func TestObjectIsACopy(t *testing.T) {
	e := newEnv(t)
	ctx := statsigmw.NewContext(context.Background(), e.client, statsig.User{UserID: "u"})
	v, err := e.of.ObjectValue(ctx, "exp", nil, openfeature.EvaluationContext{})
	if err != nil {
		t.Fatal(err)
	}
	v.(map[string]any)["style"].(map[string]any)["font"] = "changed"
	v.(map[string]any)["color"] = "changed"
	cfg, _ := statsigmw.Experiment(ctx, "exp")
	if got := cfg.GetMap("style", nil)["font"]; got != "serif" {
		t.Errorf("font %v after the caller changed its copy", got)
	}
	if got := cfg.GetString("color", ""); got == "changed" {
		t.Errorf("color %v after the caller changed its copy", got)
	}
}

// Goroutines of one request reading the same flag through OpenFeature get
// one answer and cause one exposure.
func TestConcurrentReads(t *testing.T) {
	e := newEnv(t)
	ts := e.serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		colors := make([]string, 20)
		var wg sync.WaitGroup
		for i := range colors {
			wg.Add(1)
			go func(i int) {
				defer wg.Done()
				colors[i] = e.of.String(r.Context(), "exp.color", "fallback", openfeature.EvaluationContext{})
			}(i)
		}
		wg.Wait()
		for _, c := range colors[1:] {
			if c != colors[0] {
				t.Errorf("goroutines read %v", colors)
				break
			}
		}
	}))
	for i := 0; i < 4; i++ {
		resp, err := visitor(t).Get(ts.URL)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	e.srv.Flush(t, e.client)
	ids := map[string]int{}
	for _, x := range e.srv.Exposures() {
		ids[x.User.CustomIDs["stableID"]]++
	}
	if len(ids) != 4 {
		t.Errorf("exposures of %d visitors, want 4", len(ids))
	}
	for id, n := range ids {
		if n != 1 {
			t.Errorf("%s: %d exposures, want 1", id, n)
		}
	}
}
