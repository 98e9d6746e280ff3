package statsigmw_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	statsig "github.com/statsig-io/go-sdk"

	"github.com/labkit/statsigmw"
	"github.com/labkit/statsigmw/statsigclient"
	"github.com/labkit/statsigmw/statsigtest"
)

func TestExposureOncePerRequest(t *testing.T) {
	t.Parallel()
	e := newEnv(t, statsigmw.Config{}, false)
	get(t, e.browser, e.server.URL+"/none")
	in, _ := get(t, e.browser, e.server.URL+"/exp?reads=10")
	get(t, e.browser, e.server.URL+"/none")
	conc, _ := get(t, e.browser, e.server.URL+"/concurrent")
	get(t, e.browser, e.server.URL+"/peek")
	xs, _ := e.flush()
	if len(xs) != 1 {
		t.Fatalf("got %d exposures, want 1 (one for ten reads; the twenty goroutines' is the same exposure again; none for /none and /peek): %+v", len(xs), xs)
	}
	for _, x := range xs {
		if x.Name != "exp" || x.Group != in.Group || x.User.CustomIDs["stableID"] != in.ID {
			t.Errorf("exposure %+v, want exp, group %q, visitor %q", x, in.Group, in.ID)
		}
	}
	if conc.Group != in.Group {
		t.Errorf("concurrent reads got group %q, want %q", conc.Group, in.Group)
	}
}

func TestPeekThenRead(t *testing.T) {
	t.Parallel()
	backend := startBackend(t, testConfig())
	client := backend.NewClient(t)
	ctx := statsigmw.NewContext(context.Background(), client, statsig.User{UserID: "u1", CustomIDs: map[string]string{"stableID": "s1"}})
	peeked, ok := statsigmw.PeekExperiment(ctx, "exp")
	if !ok || peeked.GroupName == "" {
		t.Fatalf("PeekExperiment = %+v, %v", peeked, ok)
	}
	for i := 0; i < 3; i++ {
		if got, _ := statsigmw.Experiment(ctx, "exp"); got.GroupName != peeked.GroupName {
			t.Errorf("Experiment group %q after peeking %q", got.GroupName, peeked.GroupName)
		}
	}
	backend.Flush(t, client)
	xs := backend.Exposures()
	if len(xs) != 1 || xs[0].Kind != statsigtest.ExperimentExposure || xs[0].Group != peeked.GroupName {
		t.Errorf("exposures %+v, want exactly one experiment exposure (peeks log none)", xs)
	}
}

func TestGatesAndLayers(t *testing.T) {
	t.Parallel()
	e := newEnv(t, statsigmw.Config{}, false)
	get(t, e.browser, e.server.URL+"/gate")
	get(t, e.browser, e.server.URL+"/layer")
	get(t, e.browser, e.server.URL+"/layer")
	xs, _ := e.flush()
	if g := exposuresOf(xs, statsigtest.GateExposure, "half"); len(g) != 1 {
		t.Errorf("got %d gate exposures for 5 checks in one request, want 1", len(g))
	}
	layer := exposuresOf(xs, statsigtest.LayerExposure, "layer")
	if len(layer) != 2 {
		t.Fatalf("got %d layer exposures, want 2 (2 parameters, each read 3 times in each of 2 requests, the second request's already logged): %+v", len(layer), layer)
	}
	params := map[string]int{}
	for _, x := range layer {
		params[x.Parameter]++
	}
	if params["size"] != 1 || params["shape"] != 1 {
		t.Errorf("layer exposures per parameter %v, want size:1 shape:1", params)
	}
}

func TestConversionAttributable(t *testing.T) {
	t.Parallel()
	e := newEnv(t, statsigmw.Config{}, false)
	seen, _ := get(t, e.browser, e.server.URL+"/exp")
	conv, _ := get(t, e.browser, e.server.URL+"/convert")
	if conv.Err != "" {
		t.Fatalf("LogEvent: %s", conv.Err)
	}
	xs, evs := e.flush()
	if len(xs) != 1 || len(evs) != 1 {
		t.Fatalf("got %d exposures and %d events, want 1 and 1", len(xs), len(evs))
	}
	x, ev := xs[0], evs[0]
	if ev.Name != "visited_signup" || ev.Value != "42" || ev.Metadata["page"] != "signup" {
		t.Errorf("event %+v, want visited_signup with value 42 and page=signup", ev)
	}
	if ev.User.UserID != x.User.UserID || ev.User.CustomIDs["stableID"] != x.User.CustomIDs["stableID"] || ev.User.UserID != seen.ID {
		t.Errorf("event user %+v and exposure user %+v differ, want both %q", ev.User, x.User, seen.ID)
	}
}

func TestWithoutMiddleware(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	cfg, ok := statsigmw.Experiment(ctx, "exp")
	if ok || cfg.GetString("color", "fallback") != "fallback" {
		t.Errorf("Experiment without scope = %+v, %v; want the empty config and false", cfg, ok)
	}
	if cfg, ok := statsigmw.PeekExperiment(ctx, "exp"); ok || cfg.Value == nil {
		t.Errorf("PeekExperiment without scope = %+v, %v", cfg, ok)
	}
	if pass, ok := statsigmw.Gate(ctx, "half"); pass || ok {
		t.Error("Gate without scope = true")
	}
	if l, ok := statsigmw.Layer(ctx, "layer"); ok || l.GetString("size", "fb") != "fb" {
		t.Errorf("Layer without scope = %+v, %v", l, ok)
	}
	if _, ok := statsigmw.User(ctx); ok {
		t.Error("User without scope: ok")
	}
	if err := statsigmw.LogEvent(ctx, "e"); !errors.Is(err, statsigmw.ErrNoScope) {
		t.Errorf("LogEvent without scope = %v, want ErrNoScope", err)
	}
	if _, err := statsigmw.Bootstrap(ctx); !errors.Is(err, statsigmw.ErrNoScope) {
		t.Errorf("Bootstrap without scope = %v, want ErrNoScope", err)
	}
	//lint:ignore SA1012 a nil context must not panic either
	if _, ok := statsigmw.Experiment(nil, "exp"); ok { //nolint:staticcheck
		t.Error("Experiment(nil ctx): ok")
	}
}

func TestLogEventValidation(t *testing.T) {
	t.Parallel()
	backend := startBackend(t, statsigtest.Config{})
	client := backend.NewClient(t)
	ctx := statsigmw.NewContext(context.Background(), client, statsig.User{UserID: "u"})
	bigMeta := map[string]string{}
	for i := 0; i < 51; i++ {
		bigMeta[strings.Repeat("k", i+1)] = "v"
	}
	for _, tt := range []struct {
		name  string
		event string
		opts  []statsigmw.EventOption
		want  string
	}{
		{"empty name", "", nil, "empty event name"},
		{"long name", strings.Repeat("n", 129), nil, "over the limit of 128"},
		{"not UTF-8", "bad\xff", nil, "not UTF-8"},
		{"long value", "e", []statsigmw.EventOption{statsigmw.WithValue(strings.Repeat("v", 1025))}, "value is 1025 bytes"},
		{"many keys", "e", []statsigmw.EventOption{statsigmw.WithMetadata(bigMeta)}, "51 keys"},
		{"big metadata", "e", []statsigmw.EventOption{statsigmw.WithMetadata(map[string]string{"k": strings.Repeat("v", 5000)})}, "5001 bytes"},
		{"empty key", "e", []statsigmw.EventOption{statsigmw.WithMetadata(map[string]string{"": "v"})}, "invalid metadata key"},
		{"value twice", "e", []statsigmw.EventOption{statsigmw.WithValue("1"), statsigmw.WithValue("2")}, "WithValue given twice"},
		{"metadata twice", "e", []statsigmw.EventOption{statsigmw.WithMetadata(nil), statsigmw.WithMetadata(map[string]string{"a": "b"})}, "WithMetadata given twice"},
	} {
		err := statsigmw.LogEvent(ctx, tt.event, tt.opts...)
		if err == nil || !strings.HasPrefix(err.Error(), "statsigmw: ") || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: got %v, want an error containing %q", tt.name, err, tt.want)
		}
	}
	if err := statsigmw.LogEvent(ctx, "ok", statsigmw.WithValue("9.5"), statsigmw.EventOption{}); err != nil {
		t.Fatalf("valid event: %v", err)
	}
	backend.Flush(t, client)
	evs := backend.Events()
	if len(evs) != 1 || evs[0].Name != "ok" || evs[0].Value != "9.5" {
		t.Errorf("events %+v, want only the valid one with value 9.5", evs)
	}
}

func TestNewContext(t *testing.T) {
	t.Parallel()
	backend := startBackend(t, testConfig())
	client := backend.NewClient(t)
	user := statsig.User{UserID: "user-7", CustomIDs: map[string]string{"stableID": "visitor-7"}}
	ctx := statsigmw.NewContext(context.Background(), client, user)
	user.CustomIDs["stableID"] = "changed after the call" // NewContext copied it
	cfg, ok := statsigmw.Experiment(ctx, "exp")
	if !ok || cfg.GroupName == "" {
		t.Fatalf("Experiment = %+v, %v", cfg, ok)
	}
	if err := statsigmw.LogEvent(ctx, "done"); err != nil {
		t.Fatal(err)
	}
	if u, _ := statsigmw.User(ctx); u.CustomIDs["stableID"] != "visitor-7" || u.UserID != "user-7" || u.Custom["id_source"] != "context" {
		t.Errorf("User = %+v, want user-7/visitor-7 with id_source context", u)
	}
	backend.Flush(t, client)
	xs, evs := backend.Exposures(), backend.Events()
	if len(xs) != 1 || len(evs) != 1 || xs[0].User.CustomIDs["stableID"] != "visitor-7" || evs[0].User.UserID != "user-7" {
		t.Errorf("exposures %+v events %+v, want one each for user-7/visitor-7", xs, evs)
	}
}

func TestNilClient(t *testing.T) {
	t.Parallel()
	if _, err := statsigmw.New(nil, statsigmw.Config{}); err == nil || !strings.Contains(err.Error(), "nil client") {
		t.Errorf("New(nil) = %v, want an error naming the nil client", err)
	}
	ctx := statsigmw.NewContext(context.Background(), nil, statsig.User{UserID: "u"})
	if cfg, ok := statsigmw.Experiment(ctx, "exp"); ok || cfg.GetString("color", "fb") != "fb" {
		t.Errorf("Experiment with a nil client = %+v, %v; want defaults and false", cfg, ok)
	}
	if err := statsigmw.LogEvent(ctx, "e"); err == nil {
		t.Error("LogEvent with a nil client: no error")
	}
	if _, err := statsigmw.Bootstrap(ctx); err == nil {
		t.Error("Bootstrap with a nil client: no error")
	}
}

func TestUninitialisedClientFailsOpen(t *testing.T) {
	t.Parallel()
	backend := startBackend(t, testConfig())
	backend.SetFault(statsigtest.EndpointConfigSpecs, statsigtest.Fault{Status: http.StatusServiceUnavailable})
	cc := backend.ClientConfig()
	cc.InitTimeout = 500 * time.Millisecond
	client, err := statsigclient.New(cc)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = client.Shutdown(context.Background()) })
	if client.Initialized() {
		t.Fatal("client initialised against a failing backend")
	}
	mw, err := statsigmw.New(client, statsigmw.Config{})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(mw.Handler(testApp()))
	t.Cleanup(srv.Close)
	in, _ := get(t, newBrowser(t, srv), srv.URL+"/exp")
	if in.Color != "fallback" {
		t.Errorf("uninitialised client: colour %q, want the fallback", in.Color)
	}
}

func TestNewContextFillsIDs(t *testing.T) {
	t.Parallel()
	backend := startBackend(t, testConfig())
	client := backend.NewClient(t)
	groups := map[string]int{}
	for i := 0; i < 40; i++ {
		// Only a UserID: the stableID experiment must still split users.
		ctx := statsigmw.NewContext(context.Background(), client, statsig.User{UserID: fmt.Sprintf("user-%d", i)})
		u, _ := statsigmw.User(ctx)
		if u.CustomIDs["stableID"] != u.UserID {
			t.Fatalf("user %+v: want stableID = UserID", u)
		}
		cfg, _ := statsigmw.PeekExperiment(ctx, "exp")
		groups[cfg.GroupName]++
	}
	if len(groups) < 3 {
		t.Errorf("40 users with only a UserID landed in %v, want them spread over the groups", groups)
	}
	onlyStable := statsigmw.NewContext(context.Background(), client, statsig.User{CustomIDs: map[string]string{"stableID": "s-1"}})
	if u, _ := statsigmw.User(onlyStable); u.UserID != "s-1" {
		t.Errorf("only a stableID: UserID %q, want s-1", u.UserID)
	}
	a := statsigmw.NewContext(context.Background(), client, statsig.User{})
	b := statsigmw.NewContext(context.Background(), client, statsig.User{})
	ua, _ := statsigmw.User(a)
	ub, _ := statsigmw.User(b)
	if ua.UserID == "" || ua.UserID == ub.UserID || ua.CustomIDs["stableID"] != ua.UserID {
		t.Errorf("empty users got %+v and %+v, want two different non-empty ids", ua, ub)
	}
}

func TestHooks(t *testing.T) {
	t.Parallel()
	var calls atomic.Int32
	e := newEnv(t, statsigmw.Config{
		LoginID: func(r *http.Request) string { calls.Add(1); return "" },
		ExtendUser: func(r *http.Request, u *statsig.User) {
			u.Email = "a@example.com"
			u.UserID = ""     // a careless hook:
			u.CustomIDs = nil // the middleware restores both ids
		},
	}, false)
	h := e.mw.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		statsigmw.Experiment(ctx, "exp")
		statsigmw.Gate(ctx, "half")
		_ = statsigmw.LogEvent(ctx, "e")
		u, _ := statsigmw.User(ctx)
		id := u.CustomIDs["stableID"]
		if id == "" || u.UserID != id || u.Email != "a@example.com" {
			t.Errorf("user %+v after the hooks, want both ids and the hook's email", u)
		}
	}))
	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/", nil))
	if n := calls.Load(); n != 1 {
		t.Errorf("LoginID hook called %d times in one request, want 1", n)
	}
	_, evs := e.flush()
	if len(evs) != 1 || evs[0].User.Email != "a@example.com" {
		t.Errorf("events %+v, want one carrying the hook's email", evs)
	}
}

// TestHookGetsCopies checks that what an ExtendUser hook writes into the
// user's maps stays in its request: the middleware shares the maps of a
// returning visitor's user across requests.
func TestHookGetsCopies(t *testing.T) {
	t.Parallel()
	e := newEnv(t, statsigmw.Config{
		ExtendUser: func(r *http.Request, u *statsig.User) {
			if c := r.Header.Get("X-Company"); c != "" {
				u.CustomIDs["companyID"] = c
				u.Custom["plan"] = "team"
			}
		},
	}, false)
	var got []statsig.User
	h := e.mw.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		statsigmw.Experiment(r.Context(), "exp")
		u, _ := statsigmw.User(r.Context())
		got = append(got, u)
	}))
	cookie := cookieName + "=" + stamped(uuid.NewString())
	for _, company := range []string{"", "acme", ""} {
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		r.Header.Set("Cookie", cookie)
		if company != "" {
			r.Header.Set("X-Company", company)
		}
		h.ServeHTTP(httptest.NewRecorder(), r)
	}
	if got[1].CustomIDs["companyID"] != "acme" || got[1].Custom["plan"] != "team" {
		t.Errorf("request with the header: user %+v, want the hook's companyID and plan", got[1])
	}
	for _, i := range []int{0, 2} {
		if len(got[i].CustomIDs) != 1 || got[i].Custom["plan"] != nil {
			t.Errorf("request %d without the header: user %+v, want only the stableID and no plan", i, got[i])
		}
	}
}
