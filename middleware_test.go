package statsigmw_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	statsig "github.com/statsig-io/go-sdk"

	"github.com/labkit/statsigmw"
	"github.com/labkit/statsigmw/statsigtest"
)

type sessionKey struct{}

// auth is a session middleware of the kind that often runs inside the
// statsigmw middleware: it puts the logged-in user in the context.
func auth(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if u := r.Header.Get("X-Session-User"); u != "" {
			r = r.WithContext(context.WithValue(r.Context(), sessionKey{}, u))
		}
		next.ServeHTTP(w, r)
	})
}

func sessionUser(r *http.Request) string {
	u, _ := r.Context().Value(sessionKey{}).(string)
	return u
}

// newServer starts backend-evaluated handler h behind a real HTTP server.
func newServer(t *testing.T, h http.Handler) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv
}

// The logged-in id an auth middleware inside ours stores in the context
// reaches the user of exposures and events.
func TestLoginInsideMiddleware(t *testing.T) {
	t.Parallel()
	e := newEnv(t, statsigmw.Config{LoginID: sessionUser}, false)
	srv := newServer(t, e.mw.Handler(auth(testApp())))
	browser := newBrowser(t, srv)
	anon, _ := get(t, browser, srv.URL+"/exp")
	in, _ := get(t, browser, srv.URL+"/exp", "X-Session-User", "user-42")
	conv, _ := get(t, browser, srv.URL+"/convert", "X-Session-User", "user-42")
	if in.UserID != "user-42" || in.StableID != anon.ID || conv.UserID != "user-42" {
		t.Fatalf("logged in: %+v then %+v, want userID user-42 and stableID %q", in, conv, anon.ID)
	}
	xs, evs := e.flush()
	if len(xs) != 2 || xs[1].User.UserID != "user-42" || xs[1].User.CustomIDs["stableID"] != anon.ID {
		t.Errorf("exposures %+v, want the second with userID user-42 and stableID %q", xs, anon.ID)
	}
	if len(evs) != 1 || evs[0].User.UserID != "user-42" || evs[0].User.CustomIDs["stableID"] != anon.ID {
		t.Errorf("events %+v, want one with userID user-42 and stableID %q", evs, anon.ID)
	}
}

// A global Handler plus a wrapped sub-router give one request one identity,
// one cookie and one exposure.
func TestNestedHandlers(t *testing.T) {
	t.Parallel()
	e := newEnv(t, statsigmw.Config{}, false)
	inner, err := statsigmw.New(e.client, statsigmw.Config{CookieName: "other"})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/sub/", http.StripPrefix("/sub", inner.Handler(e.mw.Handler(testApp()))))
	mux.Handle("/", testApp())
	srv := newServer(t, e.mw.Handler(mux))
	in, resp := get(t, http.DefaultClient, srv.URL+"/sub/exp")
	if sc := resp.Header.Values("Set-Cookie"); len(sc) != 1 || !strings.HasPrefix(sc[0], cookieName+"="+in.ID) {
		t.Errorf("Set-Cookie %q, want exactly the outer middleware's cookie for %q", sc, in.ID)
	}
	xs, _ := e.flush()
	if len(xs) != 1 || xs[0].User.CustomIDs["stableID"] != in.ID {
		t.Errorf("exposures %+v, want one for %q", xs, in.ID)
	}
}

// Responses that set the cookie or depend on an assignment stay out of
// shared caches; others are left alone.
func TestCacheHeaders(t *testing.T) {
	t.Parallel()
	e := newEnv(t, statsigmw.Config{}, false)
	mux := http.NewServeMux()
	mux.HandleFunc("/public", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=60, s-maxage=600")
		statsigmw.Experiment(r.Context(), "exp")
		fmt.Fprint(w, "page")
	})
	mux.HandleFunc("/nostore", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		statsigmw.Gate(r.Context(), "half")
	})
	mux.HandleFunc("/static", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=60")
		fmt.Fprint(w, "static")
	})
	mux.HandleFunc("/empty", func(w http.ResponseWriter, r *http.Request) {
		statsigmw.User(r.Context()) // writes nothing: net/http sends the header
	})
	srv := newServer(t, e.mw.Handler(mux))
	returning := "visitor_id=" + stamped(uuid.NewString())
	for _, tt := range []struct {
		path, cookie string
		wantCC       string // "" for untouched
		wantVary     bool
	}{
		{"/public", returning, "private, max-age=60", true},
		{"/nostore", returning, "no-store", true},
		{"/static", returning, "public, max-age=60", false},
		{"/static", "", "public, max-age=60", false}, // reads nothing: no cookie either
		{"/empty", returning, "private", true},
	} {
		req, _ := http.NewRequest(http.MethodGet, srv.URL+tt.path, nil)
		if tt.cookie != "" {
			req.Header.Set("Cookie", tt.cookie)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		cc, vary := resp.Header.Get("Cache-Control"), resp.Header.Get("Vary")
		if cc != tt.wantCC || (vary == "Cookie") != tt.wantVary {
			t.Errorf("%s (cookie %v): Cache-Control %q, Vary %q; want %q and Vary: Cookie %v", tt.path, tt.cookie != "", cc, vary, tt.wantCC, tt.wantVary)
		}
	}
}

// Switching Secure on (or off) keeps every visitor: the cookie's name does
// not depend on it.
func TestSecureSwitchKeepsVisitors(t *testing.T) {
	t.Parallel()
	e := newEnv(t, statsigmw.Config{}, false)
	var h atomic.Value
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.Load().(http.Handler).ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	browser := newBrowser(t, srv)
	var ids []string
	for _, mode := range []statsigmw.SecureMode{statsigmw.SecureNever, statsigmw.SecureAlways, statsigmw.SecureAuto, statsigmw.SecureNever} {
		mw, err := statsigmw.New(e.client, statsigmw.Config{Secure: mode})
		if err != nil {
			t.Fatal(err)
		}
		h.Store(mw.Handler(testApp()))
		in, _ := get(t, browser, srv.URL+"/exp")
		ids = append(ids, in.ID)
	}
	for _, id := range ids[1:] {
		if id != ids[0] {
			t.Fatalf("ids across Secure settings %v, want one visitor", ids)
		}
	}
}

// An active visitor keeps their id past CookieMaxAge: the cookie is set
// again once a tenth of its max age has passed since it was last set, and
// not more often.
func TestCookieRefresh(t *testing.T) {
	t.Parallel()
	const maxAge = 30 * 24 * time.Hour
	mw := mustNew(t, statsigmw.Config{CookieMaxAge: maxAge})
	id := uuid.NewString()
	setAt := func(d time.Duration) string {
		return fmt.Sprintf("%s=%s-%08x", cookieName, id, time.Now().Add(-d).Unix())
	}
	for _, tt := range []struct {
		name, cookie string
		wantSet      bool
	}{
		{"set a minute ago", setAt(time.Minute), false},
		{"set 2 days ago", setAt(2 * 24 * time.Hour), false},
		{"set 4 days ago", setAt(4 * 24 * time.Hour), true},
		{"set 29 days ago", setAt(29 * 24 * time.Hour), true},
		{"no set time", cookieName + "=" + id, true},
		{"set in the future", setAt(-48 * time.Hour), true},
	} {
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		r.Header.Set("Cookie", tt.cookie)
		rec := httptest.NewRecorder()
		mw.Handler(readsUser).ServeHTTP(rec, r)
		cs := rec.Result().Cookies()
		if !tt.wantSet {
			if len(cs) != 0 {
				t.Errorf("%s: set %v, want no Set-Cookie", tt.name, cs)
			}
			continue
		}
		if len(cs) != 1 || cookieID(cs[0]) != id || cs[0].MaxAge != int(maxAge/time.Second) || cs[0].Value == tt.cookie[len(cookieName)+1:] {
			t.Errorf("%s: set %v, want the same id %q with a new set time and the full max age", tt.name, cs, id)
		}
	}

	// A visitor who comes back every day for 100 days: the browser drops the
	// cookie when it expires, so the id must never lapse. The days are
	// simulated by moving the cookie's set time back.
	var held time.Duration // how long ago the cookie the browser holds was set
	sets := 0
	for day := 0; day < 100; day++ {
		if held >= maxAge {
			t.Fatalf("day %d: the cookie expired", day)
		}
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		r.Header.Set("Cookie", setAt(held))
		rec := httptest.NewRecorder()
		mw.Handler(readsUser).ServeHTTP(rec, r)
		if cs := rec.Result().Cookies(); len(cs) == 1 {
			if cookieID(cs[0]) != id {
				t.Fatalf("day %d: new id %q", day, cs[0].Value)
			}
			held, sets = 0, sets+1
		}
		held += 24 * time.Hour
	}
	if sets < 20 || sets > 34 {
		t.Errorf("%d Set-Cookie in 100 daily visits, want one every 3 or 4 days", sets)
	}
}

// HEAD requests (link checkers, monitors) log no exposure and no event.
func TestHeadLogsNothing(t *testing.T) {
	t.Parallel()
	e := newEnv(t, statsigmw.Config{}, false)
	id := stamped(uuid.NewString())
	for _, path := range []string{"/exp", "/convert", "/gate", "/layer"} {
		req, _ := http.NewRequest(http.MethodHead, e.server.URL+path, nil)
		req.Header.Set("Cookie", cookieName+"="+id)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("HEAD %s: %s", path, resp.Status)
		}
	}
	// A GET afterwards is not suppressed by the HEAD: it logs.
	get(t, http.DefaultClient, e.server.URL+"/exp", "Cookie", cookieName+"="+id)
	xs, evs := e.flush()
	if len(xs) != 1 || xs[0].Kind != statsigtest.ExperimentExposure || len(evs) != 0 {
		t.Errorf("got exposures %+v and events %+v, want only the GET's exposure", xs, evs)
	}
}

// An unknown name is visible: ok is false, nothing is logged, and the
// middleware warns once per name.
func TestUnknownNames(t *testing.T) {
	t.Parallel()
	var logs bytes.Buffer
	var mu sync.Mutex
	logger := slog.New(slog.NewTextHandler(writerFunc(func(p []byte) (int, error) {
		mu.Lock()
		defer mu.Unlock()
		return logs.Write(p)
	}), nil))
	e := newEnv(t, statsigmw.Config{Logger: logger}, false)
	h := e.mw.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		if cfg, ok := statsigmw.Experiment(ctx, "exp_typo"); ok || cfg.GetString("color", "fb") != "fb" {
			t.Errorf("unknown experiment: %+v, %v; want defaults and false", cfg, ok)
		}
		if pass, ok := statsigmw.Gate(ctx, "gate_typo"); pass || ok {
			t.Errorf("unknown gate: %v, %v", pass, ok)
		}
		if l, ok := statsigmw.Layer(ctx, "layer_typo"); ok || l.GetString("size", "fb") != "fb" {
			t.Errorf("unknown layer: %+v, %v", l, ok)
		}
		if _, ok := statsigmw.Experiment(ctx, "exp"); !ok {
			t.Error("known experiment: ok false")
		}
		if _, ok := statsigmw.Gate(ctx, "half"); !ok {
			t.Error("known gate: ok false")
		}
	}))
	for i := 0; i < 3; i++ {
		h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/", nil))
	}
	xs, _ := e.flush()
	for _, x := range xs {
		if strings.HasSuffix(x.Name, "_typo") {
			t.Errorf("exposure logged for an unknown name: %+v", x)
		}
	}
	if len(xs) != 6 {
		t.Errorf("got %d exposures, want 6 (exp and half for each of 3 visitors)", len(xs))
	}
	mu.Lock()
	defer mu.Unlock()
	for _, name := range []string{"exp_typo", "gate_typo"} {
		if n := strings.Count(logs.String(), "name="+name); n != 1 {
			t.Errorf("%d warnings for %s, want 1:\n%s", n, name, logs.String())
		}
	}
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

// Across requests an exposure is logged once per unit, config and outcome:
// two visitors never suppress each other, concurrent readers never log
// twice, and turning de-duplication off logs every request's.
func TestExposureDeduplication(t *testing.T) {
	t.Parallel()
	t.Run("visitors", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t, statsigmw.Config{}, false)
		ids := make([]string, 50)
		for i := range ids {
			ids[i] = stamped(uuid.NewString())
			for j := 0; j < 3; j++ {
				get(t, http.DefaultClient, e.server.URL+"/exp", "Cookie", cookieName+"="+ids[i])
			}
		}
		xs, _ := e.flush()
		per := map[string]int{}
		for _, x := range xs {
			per[x.User.CustomIDs["stableID"]]++
		}
		if len(xs) != 50 || len(per) != 50 {
			t.Errorf("got %d exposures for %d visitors, want one for each of 50", len(xs), len(per))
		}
	})
	t.Run("concurrent", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t, statsigmw.Config{}, false)
		get(t, http.DefaultClient, e.server.URL+"/exp") // the name is known from now on
		// 10 visitors, each with 20 requests released at once.
		var wg sync.WaitGroup
		start := make(chan struct{})
		h := e.mw.Handler(testApp())
		for v := 0; v < 10; v++ {
			cookie := cookieName + "=" + stamped(uuid.NewString())
			for i := 0; i < 20; i++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					req := httptest.NewRequest(http.MethodGet, "/exp", nil)
					req.Header.Set("Cookie", cookie)
					<-start
					h.ServeHTTP(httptest.NewRecorder(), req)
				}()
			}
		}
		close(start)
		wg.Wait()
		if xs, _ := e.flush(); len(xs) != 11 {
			t.Errorf("20 concurrent requests of each of 10 visitors logged %d exposures, want 10 (and the first visitor's)", len(xs))
		}
	})
	t.Run("window", func(t *testing.T) {
		// The window starts when the exposure is logged, even by a scope
		// that outlives its request by hours (an event stream), and ends
		// an ExposureWindow later.
		t.Parallel()
		e := newEnv(t, statsigmw.Config{ExposureWindow: time.Hour}, false)
		cookie := cookieName + "=" + stamped(uuid.NewString())
		serve := func(h http.Handler) {
			req := httptest.NewRequest(http.MethodGet, "/exp", nil)
			req.Header.Set("Cookie", cookie)
			h.ServeHTTP(httptest.NewRecorder(), req)
		}
		// Served here, not by e.server, so that moving the clock cannot race.
		app := e.mw.Handler(testApp())
		app.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/exp", nil)) // another visitor: the name is known
		var late context.Context
		serve(e.mw.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { late = r.Context() })))
		statsigmw.AdvanceClock(e.mw, 2*time.Hour)
		statsigmw.Experiment(late, "exp") // logged now, two hours after its request
		serve(app)                        // within the window: suppressed
		statsigmw.AdvanceClock(e.mw, 30*time.Minute)
		serve(app) // suppressed
		statsigmw.AdvanceClock(e.mw, 45*time.Minute)
		serve(app) // the window has passed: logged
		xs, _ := e.flush()
		if len(xs) != 3 {
			t.Errorf("got %d exposures, want 3: the other visitor's, the late read's and the one after the window", len(xs))
		}
		if st := e.mw.Stats(); st.ExposuresSuppressed != 2 {
			t.Errorf("Stats %+v, want 2 suppressed", st)
		}
	})
	t.Run("off", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t, statsigmw.Config{ExposureWindow: -1}, false)
		for i := 0; i < 5; i++ {
			get(t, e.browser, e.server.URL+"/exp?reads=3")
		}
		xs, _ := e.flush()
		if len(xs) != 5 {
			t.Fatalf("got %d exposures for 5 requests without de-duplication, want 5", len(xs))
		}
		// Each is due whatever the evaluation returns: once the name is
		// known, the evaluation logs it (see TestOneEvaluationPerExposure).
		for i, x := range xs[1:] {
			if manual(x) {
				t.Errorf("request %d: exposure logged by a second evaluation", i+2)
			}
		}
	})
}

// A config change that moves a visitor to another group logs a new
// exposure at once, within the window.
func TestExposureAfterGroupChange(t *testing.T) {
	t.Parallel()
	// The visitor's group moves from Blue (rule exp:0) to Red (exp:1); the
	// fixed id is in Red's 99.9%.
	config := func(blue float64) statsigtest.Config {
		groups := []statsigtest.Group{{Name: "Blue", Weight: blue}}
		if blue < 100 {
			groups = append(groups, statsigtest.Group{Name: "Red", Weight: 100 - blue})
		}
		return statsigtest.Config{Experiments: []statsigtest.ExperimentSpec{{Name: "exp", Unit: statsigtest.UnitStableID, Groups: groups}}}
	}
	backend := startBackend(t, config(100))
	cc := backend.ClientConfig()
	opts := cc.Options
	opts.ConfigSyncInterval = 20 * time.Millisecond
	client := mustClient(t, cc)
	mw, err := statsigmw.New(client, statsigmw.Config{})
	if err != nil {
		t.Fatal(err)
	}
	srv := newServer(t, mw.Handler(testApp()))
	browser := http.DefaultClient
	cookie := cookieName + "=" + stamped("00000000-0000-4000-8000-000000000001")
	get(t, browser, srv.URL+"/exp", "Cookie", cookie)
	get(t, browser, srv.URL+"/exp", "Cookie", cookie)
	if err := backend.SetConfig(config(0.1)); err != nil {
		t.Fatal(err)
	}
	// Await the client's next config poll.
	deadline := time.Now().Add(10 * time.Second)
	for {
		in, _ := get(t, browser, srv.URL+"/exp", "Cookie", cookie)
		if in.Group == "Red" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the client never saw the new config")
		}
	}
	get(t, browser, srv.URL+"/exp", "Cookie", cookie)
	backend.Flush(t, client)
	var groups []string
	for _, x := range backend.Exposures() {
		groups = append(groups, x.Group)
	}
	if strings.Join(groups, ",") != "Blue,Red" {
		t.Errorf("exposures for groups %v, want Blue then Red", groups)
	}
}

// After the first read of a name in the process, a new visitor's page costs
// one evaluation, and so does a returning visitor's.
func TestOneEvaluationPerRead(t *testing.T) {
	t.Parallel()
	backend := startBackend(t, testConfig())
	var evals atomic.Int32
	cc := backend.ClientConfig()
	opts := cc.Options
	opts.EvaluationCallbacks.ExperimentEvaluationCallback = func(string, statsig.DynamicConfig, *statsig.ExposureEvent) { evals.Add(1) }
	client := mustClient(t, cc)
	mw, err := statsigmw.New(client, statsigmw.Config{})
	if err != nil {
		t.Fatal(err)
	}
	srv := newServer(t, mw.Handler(testApp()))
	get(t, http.DefaultClient, srv.URL+"/exp") // the first read of "exp" in the process
	browser := newBrowser(t, srv)
	for _, what := range []string{"new visitor", "returning visitor"} {
		evals.Store(0)
		get(t, browser, srv.URL+"/exp?reads=3")
		if n := evals.Load(); n != 1 {
			t.Errorf("%s: %d evaluations, want 1", what, n)
		}
	}
	backend.Flush(t, client)
	if n := len(backend.Exposures()); n != 2 {
		t.Errorf("got %d exposures, want 2 (the first visitor and the new one)", n)
	}
}

// memoryStorage is an in-process statsig.IUserPersistentStorage that counts
// its loads. (The Redis store is tested against a real Redis in its own
// module.)
type memoryStorage struct {
	mu    sync.Mutex
	data  map[string]statsig.UserPersistedValues
	loads atomic.Int32
}

func (s *memoryStorage) Load(key string) (statsig.UserPersistedValues, bool) {
	s.loads.Add(1)
	s.mu.Lock()
	defer s.mu.Unlock()
	v, ok := s.data[key]
	if !ok {
		return nil, false
	}
	c := statsig.UserPersistedValues{}
	for k, x := range v {
		c[k] = x
	}
	return c, true
}

func (s *memoryStorage) Save(key, config string, v statsig.StickyValues) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.data[key] == nil {
		s.data[key] = statsig.UserPersistedValues{}
	}
	s.data[key][config] = v
}

func (s *memoryStorage) Delete(key, config string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.data[key], config)
}

// With StickyUnit, a visitor keeps their group when the allocation changes,
// while new visitors follow it; the persisted values are loaded once per
// request that reads an experiment, and not at all for one that does not.
func TestStickyAssignments(t *testing.T) {
	t.Parallel()
	config := func(blue float64) statsigtest.Config {
		groups := []statsigtest.Group{{Name: "Blue", Weight: blue, Params: map[string]any{"color": "blue"}}}
		if blue < 100 {
			groups = append(groups, statsigtest.Group{Name: "Red", Weight: 100 - blue, Params: map[string]any{"color": "red"}})
		}
		return statsigtest.Config{Experiments: []statsigtest.ExperimentSpec{{Name: "exp", Unit: statsigtest.UnitStableID, Groups: groups}}}
	}
	backend := startBackend(t, config(100))
	store := &memoryStorage{data: map[string]statsig.UserPersistedValues{}}
	cc := backend.ClientConfig()
	opts := cc.Options
	opts.ConfigSyncInterval = 20 * time.Millisecond
	opts.UserPersistentStorage = store
	client := mustClient(t, cc)
	mw, err := statsigmw.New(client, statsigmw.Config{StickyUnit: "stableID"})
	if err != nil {
		t.Fatal(err)
	}
	srv := newServer(t, mw.Handler(testApp()))
	old := newBrowser(t, srv)
	first, _ := get(t, old, srv.URL+"/exp")
	if first.Group != "Blue" {
		t.Fatalf("before the change: group %q, want Blue", first.Group)
	}
	oldID := first.ID
	store.loads.Store(0)
	get(t, old, srv.URL+"/exp?reads=3")
	get(t, old, srv.URL+"/none")
	if n := store.loads.Load(); n != 1 {
		t.Errorf("%d loads for a request reading 3 times and one reading nothing, want 1", n)
	}

	if err := backend.SetConfig(config(0.1)); err != nil {
		t.Fatal(err)
	}
	// Await the poll: a new visitor (each is persisted at once, so each
	// probe is another) lands in Red's 99.9%.
	deadline := time.Now().Add(10 * time.Second)
	for {
		in, _ := get(t, http.DefaultClient, srv.URL+"/exp")
		if in.Group == "Red" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the client never saw the new allocation")
		}
	}
	for i := 0; i < 3; i++ {
		if in, _ := get(t, old, srv.URL+"/exp"); in.Group != "Blue" || in.Color != "blue" {
			t.Fatalf("after the change the assigned visitor got %+v, want to keep Blue", in)
		}
	}
	// A new instance (its first read of the name, the exposure logged after
	// the evaluation) keeps the assignment too, and logs it.
	fresh, err := statsigmw.New(client, statsigmw.Config{StickyUnit: "stableID"})
	if err != nil {
		t.Fatal(err)
	}
	srv2 := newServer(t, fresh.Handler(testApp()))
	u, _ := url.Parse(srv.URL)
	u2, _ := url.Parse(srv2.URL)
	old.Jar.SetCookies(u2, old.Jar.Cookies(u))
	for i := 0; i < 2; i++ {
		if in, _ := get(t, old, srv2.URL+"/exp"); in.Group != "Blue" {
			t.Fatalf("on a new instance the assigned visitor got %+v, want to keep Blue", in)
		}
	}
	backend.Flush(t, client)
	for _, x := range backend.Exposures() {
		if x.User.CustomIDs["stableID"] == oldID && x.Group != "Blue" {
			t.Errorf("exposure of the assigned visitor for group %q, want Blue", x.Group)
		}
	}
}
