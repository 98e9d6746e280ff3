package statsigtest_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	statsig "github.com/statsig-io/go-sdk"

	"github.com/labkit/statsigmw/statsigclient"
	"github.com/labkit/statsigmw/statsigtest"
)

func fourGroups(name string, unit string) statsigtest.ExperimentSpec {
	e := statsigtest.ExperimentSpec{Name: name, Unit: unit, Defaults: map[string]any{"color": "none"}}
	for _, g := range []string{"Blue", "Green", "Red", "Orange"} {
		e.Groups = append(e.Groups, statsigtest.Group{Name: g, Weight: 25, Params: map[string]any{"color": strings.ToLower(g)}})
	}
	return e
}

func userFor(unit string, id string) statsig.User {
	if unit == statsigtest.UnitStableID {
		// A fixed UserID: the split must come from the stableID alone.
		return statsig.User{UserID: "logged-in", CustomIDs: map[string]string{"stableID": id}}
	}
	return statsig.User{UserID: id}
}

func TestExperimentSplit(t *testing.T) {
	t.Parallel()
	for _, unit := range []string{statsigtest.UnitUserID, statsigtest.UnitStableID} {
		t.Run(string(unit), func(t *testing.T) {
			t.Parallel()
			srv := newServer(t, statsigtest.Config{Experiments: []statsigtest.ExperimentSpec{fourGroups("exp", unit)}})
			c := srv.NewClient(t).SDK()
			const n = 10000
			counts := map[string]int{}
			ids := seededIDs(1)
			for i := 0; i < n; i++ {
				cfg := c.GetExperimentWithExposureLoggingDisabled(userFor(unit, ids()), "exp")
				counts[cfg.GetString("color", "missing")]++
			}
			for _, color := range []string{"blue", "green", "red", "orange"} {
				share := float64(counts[color]) / n
				if share < 0.23 || share > 0.27 {
					t.Errorf("group %s got %.2f%% of %d ids, want 23-27%% (counts %v)", color, 100*share, n, counts)
				}
			}
			if len(counts) != 4 {
				t.Errorf("got groups %v, want exactly the four colours", counts)
			}
			t.Logf("split over %d ids on %s: %v", n, unit, counts)
		})
	}
}

func TestGateSplit(t *testing.T) {
	t.Parallel()
	srv := newServer(t, statsigtest.Config{Gates: []statsigtest.GateSpec{{Name: "half", PassPercentage: 50}}})
	c := srv.NewClient(t).SDK()
	const n = 10000
	pass := 0
	ids := seededIDs(2)
	for i := 0; i < n; i++ {
		if c.CheckGateWithExposureLoggingDisabled(statsig.User{UserID: ids()}, "half") {
			pass++
		}
	}
	share := float64(pass) / n
	if share < 0.47 || share > 0.53 {
		t.Errorf("gate passed %.2f%% of %d ids, want 47-53%%", 100*share, n)
	}
	t.Logf("gate split over %d ids: %d pass", n, pass)
}

func TestSameGroupAcrossClients(t *testing.T) {
	t.Parallel()
	cfg := statsigtest.Config{Experiments: []statsigtest.ExperimentSpec{fourGroups("exp", statsigtest.UnitUserID)}}
	a := newServer(t, cfg).NewClient(t).SDK()
	b := newServer(t, cfg).NewClient(t).SDK() // another server and client: nothing shared but the config
	local, _ := statsig.NewClientWithDetails("local", &statsig.Options{
		LocalMode: true, BootstrapValues: string(mustJSON(t, cfg)),
		UAParserOptions: statsig.UAParserOptions{Disabled: true}, IPCountryOptions: statsig.IPCountryOptions{Disabled: true},
	})
	t.Cleanup(local.Shutdown)
	groups := map[string]bool{}
	for i := 0; i < 200; i++ {
		u := statsig.User{UserID: uuid.NewString()}
		ga := a.GetExperimentWithExposureLoggingDisabled(u, "exp").GroupName
		gb := b.GetExperimentWithExposureLoggingDisabled(u, "exp").GroupName
		gl := local.GetExperimentWithExposureLoggingDisabled(u, "exp").GroupName
		if ga == "" || ga != gb || ga != gl {
			t.Fatalf("user %s: got groups %q, %q and %q (LocalMode bootstrap), want one non-empty group", u.UserID, ga, gb, gl)
		}
		groups[ga] = true
	}
	if len(groups) != 4 {
		t.Errorf("got groups %v over 200 users, want all four", groups)
	}
}

func TestEventsDecoded(t *testing.T) {
	t.Parallel()
	srv := newServer(t, statsigtest.Config{
		Experiments: []statsigtest.ExperimentSpec{fourGroups("exp", statsigtest.UnitStableID)},
		Gates:       []statsigtest.GateSpec{{Name: "on", PassPercentage: 100}},
	})
	client := srv.NewClient(t)
	c := client.SDK()
	user := statsig.User{
		UserID:            "user-1",
		CustomIDs:         map[string]string{"stableID": "4b1d0d55-1f3e-4a7e-9a52-5b2f0f1c6d7e"},
		IpAddress:         "",
		PrivateAttributes: map[string]any{"ip": "192.0.2.1", "email": "a@example.com"},
	}
	group := c.GetExperiment(user, "exp").GroupName
	if !c.CheckGate(user, "on") {
		t.Fatal("gate at 100% did not pass")
	}
	c.LogEvent(statsig.Event{EventName: "visited_signup", User: user, Value: "9.5", Metadata: map[string]string{"plan": "pro"}})
	srv.Flush(t, client)

	xs := srv.Exposures()
	if len(xs) != 2 {
		t.Fatalf("got %d exposures, want 2: %+v", len(xs), xs)
	}
	exp, gate := xs[0], xs[1]
	if exp.Kind != statsigtest.ExperimentExposure || exp.Name != "exp" || exp.Group != group || exp.RuleID == "" {
		t.Errorf("experiment exposure = %+v, want kind experiment, name exp, group %q", exp, group)
	}
	if gate.Kind != statsigtest.GateExposure || gate.Name != "on" || !gate.GateValue {
		t.Errorf("gate exposure = %+v, want a passing exposure of gate on", gate)
	}
	evs := srv.Events()
	if len(evs) != 1 {
		t.Fatalf("got %d custom events, want 1: %+v", len(evs), evs)
	}
	ev := evs[0]
	if ev.Name != "visited_signup" || ev.Value != "9.5" || ev.Metadata["plan"] != "pro" {
		t.Errorf("custom event = %+v, want visited_signup, value 9.5, plan pro", ev)
	}
	for _, got := range []statsig.User{exp.User, gate.User, ev.User} {
		if got.UserID != user.UserID || got.CustomIDs["stableID"] != user.CustomIDs["stableID"] {
			t.Errorf("event user = %+v, want userID %q and stableID %q", got, user.UserID, user.CustomIDs["stableID"])
		}
	}
	raws := []json.RawMessage{ev.Raw}
	for _, x := range xs {
		raws = append(raws, x.Raw)
	}
	for _, raw := range raws {
		if strings.Contains(string(raw), "privateAttributes") || strings.Contains(string(raw), "192.0.2.1") {
			t.Errorf("event carries private attributes: %s", raw)
		}
	}
	if ev.User.PrivateAttributes != nil {
		t.Errorf("event user carries private attributes: %+v", ev.User)
	}
}

// Flush delivers everything, also when the client sent many batches on the
// SDK's own goroutines before and while it shut down.
func TestFlushDeliversAll(t *testing.T) {
	t.Parallel()
	srv := newServer(t, statsigtest.Config{})
	cfg := srv.ClientConfig()
	cfg.Options.LoggingMaxBufferSize = 50
	c, err := statsigclient.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	const n = 1234
	var wg sync.WaitGroup
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := g; i < n; i += 4 {
				c.SDK().LogEvent(statsig.Event{EventName: "e", User: statsig.User{UserID: "u"}, Value: strconv.Itoa(i)})
			}
		}(g)
	}
	wg.Wait()
	srv.Flush(t, c)
	seen := map[string]bool{}
	for _, e := range srv.Events() {
		seen[e.Value] = true
	}
	if len(seen) != n {
		t.Errorf("got %d distinct events after Flush, want %d", len(seen), n)
	}
}

func TestLayer(t *testing.T) {
	t.Parallel()
	exp := fourGroups("layer_exp", statsigtest.UnitUserID)
	srv := newServer(t, statsigtest.Config{Layers: []statsigtest.LayerSpec{{
		Name: "checkout", Defaults: map[string]any{"color": "none", "size": "m"}, Experiment: &exp,
	}}})
	client := srv.NewClient(t)
	c := client.SDK()
	u := statsig.User{UserID: "layer-user"}
	l := c.GetLayer(u, "checkout")
	color, size := l.GetString("color", "?"), l.GetString("size", "?")
	if color == "none" || color == "?" || size != "m" {
		t.Errorf("layer params color=%q size=%q, want a group colour and the default size m", color, size)
	}
	srv.Flush(t, client)
	xs := srv.Exposures()
	if len(xs) != 2 {
		t.Fatalf("got %d exposures, want one per parameter read (2): %+v", len(xs), xs)
	}
	for _, x := range xs {
		if x.Kind != statsigtest.LayerExposure || x.Name != "checkout" {
			t.Errorf("exposure %+v, want a layer exposure of checkout", x)
		}
	}
	if xs[0].Parameter != "color" || strings.ToLower(xs[0].Group) != color {
		t.Errorf("first exposure parameter %q group %q, want color and the group of %q", xs[0].Parameter, xs[0].Group, color)
	}
}

func TestConfigErrors(t *testing.T) {
	t.Parallel()
	g := func(name string, w float64) statsigtest.Group { return statsigtest.Group{Name: name, Weight: w} }
	tests := []struct {
		name string
		cfg  statsigtest.Config
		want string
	}{
		{"empty name", statsigtest.Config{Experiments: []statsigtest.ExperimentSpec{{Groups: []statsigtest.Group{g("a", 100)}}}}, "empty name"},
		{"no groups", statsigtest.Config{Experiments: []statsigtest.ExperimentSpec{{Name: "e"}}}, "no group"},
		{"weights under 100", statsigtest.Config{Experiments: []statsigtest.ExperimentSpec{{Name: "e", Groups: []statsigtest.Group{g("a", 50), g("b", 40)}}}}, "sum to 90"},
		{"weights over 100", statsigtest.Config{Experiments: []statsigtest.ExperimentSpec{{Name: "e", Groups: []statsigtest.Group{g("a", 60), g("b", 60)}}}}, "sum to 120"},
		{"zero weight", statsigtest.Config{Experiments: []statsigtest.ExperimentSpec{{Name: "e", Groups: []statsigtest.Group{g("a", 0), g("b", 100)}}}}, "weight 0"},
		{"duplicate group", statsigtest.Config{Experiments: []statsigtest.ExperimentSpec{{Name: "e", Groups: []statsigtest.Group{g("a", 50), g("a", 50)}}}}, `two groups named "a"`},
		{"empty group name", statsigtest.Config{Experiments: []statsigtest.ExperimentSpec{{Name: "e", Groups: []statsigtest.Group{g("", 100)}}}}, "group with an empty name"},
		{"bad unit", statsigtest.Config{Experiments: []statsigtest.ExperimentSpec{{Name: "e", Unit: "email", Groups: []statsigtest.Group{g("a", 100)}}}}, `unknown unit "email"`},
		{"duplicate name", statsigtest.Config{
			Experiments: []statsigtest.ExperimentSpec{{Name: "x", Groups: []statsigtest.Group{g("a", 100)}}},
			Gates:       []statsigtest.GateSpec{{Name: "x"}},
		}, "already used"},
		{"weight below resolution", statsigtest.Config{Experiments: []statsigtest.ExperimentSpec{{Name: "e", Groups: []statsigtest.Group{g("a", 99.96), g("b", 0.04)}}}}, "resolution of 0.1"},
		{"gate percentage", statsigtest.Config{Gates: []statsigtest.GateSpec{{Name: "g", PassPercentage: 101}}}, "pass percentage 101"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := tt.cfg.JSON()
			if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.HasPrefix(err.Error(), "statsigtest: ") {
				t.Errorf("got error %v, want one starting with statsigtest: and containing %q", err, tt.want)
			}
		})
	}
	t.Run("NewServer panics", func(t *testing.T) {
		defer func() {
			if recover() == nil {
				t.Error("NewServer with an invalid config did not panic")
			}
		}()
		statsigtest.NewServer(tests[1].cfg).Close()
	})
	t.Run("valid JSON", func(t *testing.T) {
		b := mustJSON(t, statsigtest.Config{Experiments: []statsigtest.ExperimentSpec{fourGroups("e", "")}})
		var doc map[string]any
		if err := json.Unmarshal(b, &doc); err != nil || doc["has_updates"] != true {
			t.Errorf("JSON() = %s (%v), want a download_config_specs document with has_updates", b, err)
		}
	})
}

func TestFaults(t *testing.T) {
	t.Parallel()
	cfg := statsigtest.Config{Experiments: []statsigtest.ExperimentSpec{fourGroups("exp", "")}}
	u := statsig.User{UserID: "fault-user"}

	for _, tt := range []struct {
		name  string
		fault statsigtest.Fault
	}{
		{"config 503", statsigtest.Fault{Status: 503}},
		{"config refused", statsigtest.Fault{Refuse: true}},
		{"config hangs", statsigtest.Fault{Hang: true}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := newServer(t, cfg)
			srv.SetFault(statsigtest.EndpointConfigSpecs, tt.fault)
			cfg := srv.ClientConfig()
			cfg.InitTimeout = 300 * time.Millisecond
			cfg.Options.ConfigSyncInterval = 50 * time.Millisecond
			cfg.Logger = quiet
			client, err := statsigclient.New(cfg)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = client.Shutdown(context.Background()) })
			if client.Initialized() {
				t.Fatalf("client initialised against a %s backend", tt.name)
			}
			c := client.SDK()
			before := c.GetExperimentWithExposureLoggingDisabled(u, "exp")
			if got := before.GetString("color", "fallback"); got != "fallback" {
				t.Errorf("GetString = %q before the config arrived, want the fallback", got)
			}
			reqs := srv.Requests()
			if len(reqs) == 0 || reqs[0].Endpoint != statsigtest.EndpointConfigSpecs || reqs[0].Status != tt.fault.Status {
				t.Errorf("first request = %+v, want a config download answered with status %d", reqs, tt.fault.Status)
			}
			// The switch works while running: clear it and the client recovers
			// at its next poll.
			srv.SetFault(statsigtest.EndpointConfigSpecs, statsigtest.Fault{})
			deadline := time.Now().Add(10 * time.Second)
			for c.GetExperimentWithExposureLoggingDisabled(u, "exp").GroupName == "" {
				if time.Now().After(deadline) {
					t.Fatal("client did not recover within 10s after the fault was cleared")
				}
				time.Sleep(20 * time.Millisecond)
			}
		})
	}

	// A bare SDK client shows the server's answers as they are: a
	// statsigclient.Client answers its SDK with success for every batch.
	events := []statsig.Event{{EventName: "e", User: u}}
	t.Run("log_event 503", func(t *testing.T) {
		t.Parallel()
		srv := newServer(t, cfg)
		c := bareClient(t, srv)
		srv.SetFault(statsigtest.EndpointLogEvent, statsigtest.Fault{Status: 503})
		resp, err := c.LogImmediate(events) // no retries, unlike buffered batches
		if err == nil || resp == nil || resp.StatusCode != 503 {
			t.Errorf("LogImmediate = %v, %v; want a 503 error", resp, err)
		}
		if n := len(srv.Events()); n != 0 {
			t.Errorf("%d events recorded through a 503, want 0", n)
		}
		srv.SetFault(statsigtest.EndpointLogEvent, statsigtest.Fault{})
		if _, err := c.LogImmediate(events); err != nil || len(srv.Events()) != 1 {
			t.Errorf("after clearing the fault: err %v, %d events; want nil and 1", err, len(srv.Events()))
		}
	})
	t.Run("log_event refused", func(t *testing.T) {
		t.Parallel()
		srv := newServer(t, cfg)
		c := bareClient(t, srv)
		srv.SetFault(statsigtest.EndpointLogEvent, statsigtest.Fault{Refuse: true})
		if _, err := c.LogImmediate(events); err == nil {
			t.Error("LogImmediate succeeded against a refusing endpoint")
		}
		if n := len(srv.Events()); n != 0 {
			t.Errorf("%d events recorded, want 0", n)
		}
		if n := requestCount(srv, statsigtest.EndpointLogEvent); n != 1 {
			t.Errorf("%d log_event requests recorded, want 1", n)
		}
	})
	t.Run("log_event hangs", func(t *testing.T) {
		t.Parallel()
		srv := newServer(t, cfg)
		c := bareClient(t, srv)
		srv.SetFault(statsigtest.EndpointLogEvent, statsigtest.Fault{Hang: true})
		done := make(chan error, 1)
		go func() { _, err := c.LogImmediate(events); done <- err }()
		// Wait until the request is held, then check it stays held.
		for requestCount(srv, statsigtest.EndpointLogEvent) == 0 {
			time.Sleep(time.Millisecond)
		}
		select {
		case err := <-done:
			t.Fatalf("LogImmediate returned (%v) while the endpoint hangs", err)
		case <-time.After(200 * time.Millisecond):
		}
		srv.SetFault(statsigtest.EndpointLogEvent, statsigtest.Fault{}) // releases the held request
		if err := <-done; err == nil {
			t.Error("a released hanging request succeeded, want a connection error")
		}
		if n := len(srv.Events()); n != 0 {
			t.Errorf("%d events recorded, want 0", n)
		}
	})
}

func TestUnknownPath(t *testing.T) {
	t.Parallel()
	srv := newServer(t, statsigtest.Config{})
	resp, err := srvGet(srv.URL + "/nope")
	if err != nil || resp != 404 {
		t.Errorf("GET /nope = %d, %v; want 404", resp, err)
	}
}

// recordingTB records what NewClient and Flush report and the cleanups they
// register, to check a failure they must report.
type recordingTB struct {
	testing.TB
	mu       sync.Mutex
	errs     []string
	cleanups []func()
}

func (r *recordingTB) Helper() {}
func (r *recordingTB) Cleanup(f func()) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.cleanups = append(r.cleanups, f)
}
func (r *recordingTB) Errorf(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.errs = append(r.errs, fmt.Sprintf(format, args...))
}
func (r *recordingTB) Fatalf(format string, args ...any) {
	r.Errorf(format, args...)
	r.TB.Fatalf("unexpected fatal: "+format, args...)
}
func (r *recordingTB) runCleanups() {
	for i := len(r.cleanups) - 1; i >= 0; i-- {
		r.cleanups[i]()
	}
}

// Reading events before flushing sees nothing; the events arrive when the
// client shuts down, at Close or at the test's cleanups, whichever runs
// first, and the test then fails with a hint, never a panic; every event
// still reaches the server, so the client has nothing to warn about.
func TestReadBeforeFlushFails(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name       string
		flush      bool
		closeFirst bool // defer srv.Close() in the test: Close before the cleanups
	}{
		{"flush", true, true},
		{"no flush, Close first", false, true},
		{"no flush, cleanups first", false, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := statsigtest.NewServer(statsigtest.Config{})
			tb := &recordingTB{TB: t}
			c := srv.NewClient(tb)
			c.SDK().LogEvent(statsig.Event{EventName: "e", User: statsig.User{UserID: "u"}})
			if tt.flush {
				srv.Flush(tb, c)
			}
			got := len(srv.Events())
			if tt.closeFirst {
				srv.Close()
				tb.runCleanups()
			} else {
				tb.runCleanups()
				srv.Close()
			}
			delivered := len(srv.Events())
			hinted := len(tb.errs) == 1 && strings.Contains(tb.errs[0], "call Flush before reading events")
			switch {
			case tt.flush && (got != 1 || len(tb.errs) != 0):
				t.Errorf("with Flush: read %d events, reported %q; want 1 event and no report", got, tb.errs)
			case !tt.flush && (got != 0 || !hinted):
				t.Errorf("without Flush: read %d events, reported %q; want 0 events and the hint to call Flush", got, tb.errs)
			case delivered != 1:
				t.Errorf("%d events reached the server in the end, want 1", delivered)
			}
		})
	}
}
