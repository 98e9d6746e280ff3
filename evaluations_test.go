package statsigmw_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/labkit/statsigmw"
	"github.com/labkit/statsigmw/statsigtest"
)

// manual reports whether x was logged by the SDK's manual exposure call,
// which evaluates a second time, rather than by the evaluation the handler
// got.
func manual(x statsigtest.Exposure) bool { return x.Metadata["isManualExposure"] == "true" }

// TestOneEvaluationPerExposure: an exposure that is due whatever the
// evaluation returns (a new visitor's; with de-duplication off, every one:
// TestExposureDeduplication/off) is logged by the evaluation the handler
// got, not by a second one; an exposure decided by the cache (a returning
// visitor) takes the two-step path, and the first read of a config in the
// process too, since only a config the client recognised may be logged by
// its evaluation.
func TestOneEvaluationPerExposure(t *testing.T) {
	t.Parallel()
	e := newEnv(t, statsigmw.Config{}, false)
	first, _ := get(t, http.DefaultClient, e.server.URL+"/exp")
	get(t, http.DefaultClient, e.server.URL+"/gate")
	groups := map[string]string{}
	for i := 0; i < 5; i++ {
		in, _ := get(t, http.DefaultClient, e.server.URL+"/exp?reads=3")
		groups[in.ID] = in.Group
		get(t, http.DefaultClient, e.server.URL+"/gate")
	}
	returning := stamped(uuid.NewString())
	get(t, http.DefaultClient, e.server.URL+"/exp", "Cookie", cookieName+"="+returning)
	statsigmw.AdvanceClock(e.mw, 2*time.Hour)
	get(t, http.DefaultClient, e.server.URL+"/exp", "Cookie", cookieName+"="+returning)
	xs, _ := e.flush()
	var logged, loggedAgain int
	for _, x := range exposuresOf(xs, statsigtest.ExperimentExposure, "exp") {
		id := x.User.CustomIDs["stableID"]
		switch want, ok := groups[id]; {
		case id == first.ID || id == returning[:36]:
			if !manual(x) {
				t.Errorf("exposure of %s not logged by the manual call: the cache decided it, or the name was new", id)
			}
			loggedAgain++
		case !ok:
			t.Errorf("exposure of unknown visitor %s", id)
		case manual(x):
			t.Errorf("new visitor %s: exposure logged by a second evaluation", id)
		case x.Group != want:
			t.Errorf("new visitor %s: exposure of group %q, handler got %q", id, x.Group, want)
		default:
			logged++
		}
	}
	if logged != 5 || loggedAgain != 3 {
		t.Errorf("%d exposures of new visitors from their evaluation (want 5), %d two-step (want 3)", logged, loggedAgain)
	}
	gates := exposuresOf(xs, statsigtest.GateExposure, "half")
	if len(gates) != 6 {
		t.Fatalf("%d gate exposures, want 6", len(gates))
	}
	for i, x := range gates[1:] {
		if manual(x) {
			t.Errorf("gate exposure %d of a new visitor logged by a second evaluation", i+1)
		}
	}
	if st := e.mw.Stats(); st.ExposuresLogged != 14 || st.ExposuresSuppressed != 0 {
		t.Errorf("Stats %+v, want 14 logged, none suppressed", st)
	}
}

// TestRemovedConfigNewVisitors bounds what logging from the evaluation
// costs when a config the client recognised is removed: the next new
// visitor's evaluation logs the SDK's exposure of an unrecognised config
// (it cannot be taken back), and teaches the middleware; no later read
// logs one.
func TestRemovedConfigNewVisitors(t *testing.T) {
	t.Parallel()
	backend, client, srv := syncingEnv(t)
	get(t, http.DefaultClient, srv.URL+"/exp")
	without := testConfig()
	without.Experiments = nil
	if err := backend.SetConfig(without); err != nil {
		t.Fatal(err)
	}
	awaitKnown(t, client, false)
	for i := 0; i < 5; i++ {
		if in, _ := get(t, http.DefaultClient, srv.URL+"/exp"); in.Group != "" {
			t.Fatalf("removed experiment gave group %q", in.Group)
		}
	}
	backend.Flush(t, client)
	xs := exposuresOf(backend.Exposures(), statsigtest.ExperimentExposure, "exp")
	var rules []string
	for _, x := range xs {
		rules = append(rules, x.RuleID)
	}
	if len(xs) != 2 || xs[1].RuleID != "" {
		t.Errorf("got %d exposures (rules %q), want 2: the first visitor's and one unrecognised", len(xs), rules)
	}
}
