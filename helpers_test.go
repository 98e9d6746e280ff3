package statsigmw_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	statsig "github.com/statsig-io/go-sdk"

	"github.com/labkit/statsigmw"
	"github.com/labkit/statsigmw/statsigclient"
	"github.com/labkit/statsigmw/statsigtest"
)

// cookieName is the visitor cookie's default name.
const cookieName = "visitor_id"

// cookieID returns the visitor id a cookie value holds (its first 36
// bytes; a set time may follow).
func cookieID(c *http.Cookie) string {
	if c == nil || len(c.Value) < 36 {
		return ""
	}
	return c.Value[:36]
}

// stamped returns the cookie value of visitor id set now, as the
// middleware writes it: a returning visitor's cookie needs no refresh.
func stamped(id string) string {
	return fmt.Sprintf("%s-%08x", id, time.Now().Unix())
}

// localClient returns a LocalMode client with no configs, for tests of
// identity alone.
func localClient(t testing.TB) *statsigclient.Client {
	return localClientOf(t, statsigtest.Config{})
}

// localClientOf returns a LocalMode client bootstrapped with cfg: it
// evaluates exactly as a client of statsigtest does, but sends nothing.
// Each change, if any, is applied to its Options first.
func localClientOf(t testing.TB, cfg statsigtest.Config, changes ...func(*statsig.Options)) *statsigclient.Client {
	t.Helper()
	specs, err := cfg.JSON()
	if err != nil {
		t.Fatal(err)
	}
	opts := &statsig.Options{
		LocalMode:        true,
		BootstrapValues:  string(specs),
		UAParserOptions:  statsig.UAParserOptions{Disabled: true},
		IPCountryOptions: statsig.IPCountryOptions{Disabled: true},
	}
	for _, change := range changes {
		change(opts)
	}
	c, err := statsigclient.New(statsigclient.Config{Options: opts})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Shutdown(context.Background()) })
	return c
}

// startBackend starts a statsigtest backend, closed when the test ends.
func startBackend(t testing.TB, cfg statsigtest.Config) *statsigtest.Server {
	srv := statsigtest.NewServer(cfg)
	t.Cleanup(srv.Close)
	return srv
}

// mustClient returns a client made with cc, shut down when the test ends,
// failing t if it does not initialise.
func mustClient(t testing.TB, cc statsigclient.Config) *statsigclient.Client {
	t.Helper()
	c, err := statsigclient.New(cc)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = c.Shutdown(ctx)
	})
	if !c.Initialized() {
		t.Fatal("client did not initialise")
	}
	return c
}

// testConfig is the backend config of most tests: a four-group experiment
// on stableID, a 50% gate and a layer.
func testConfig() statsigtest.Config {
	exp := statsigtest.ExperimentSpec{Name: "exp", Unit: statsigtest.UnitStableID, Defaults: map[string]any{"color": "default"}}
	for _, g := range []string{"Blue", "Green", "Red", "Orange"} {
		exp.Groups = append(exp.Groups, statsigtest.Group{Name: g, Weight: 25, Params: map[string]any{"color": strings.ToLower(g)}})
	}
	layerExp := statsigtest.ExperimentSpec{Name: "layer_exp", Unit: statsigtest.UnitStableID, Groups: []statsigtest.Group{
		{Name: "Small", Weight: 50, Params: map[string]any{"size": "s"}},
		{Name: "Large", Weight: 50, Params: map[string]any{"size": "l"}},
	}}
	return statsigtest.Config{
		Experiments: []statsigtest.ExperimentSpec{exp},
		Gates:       []statsigtest.GateSpec{{Name: "half", Unit: statsigtest.UnitStableID, PassPercentage: 50}},
		Layers:      []statsigtest.LayerSpec{{Name: "layer", Defaults: map[string]any{"size": "m", "shape": "round"}, Experiment: &layerExp}},
	}
}

// info is what the test app reports about a request.
type info struct {
	ID       string `json:"id"`
	Source   string `json:"source"`
	UserID   string `json:"userID"`
	StableID string `json:"stableID"`
	Group    string `json:"group"`
	Color    string `json:"color"`
	Err      string `json:"err"`
}

// testApp serves:
//
//	/exp?reads=N  reads experiment "exp" N times (default 1)
//	/none         reads nothing
//	/convert      logs visited_signup
//	/gate         checks gate "half" 5 times
//	/layer        reads both layer parameters 3 times
//	/concurrent   reads "exp" from 20 goroutines
//	/peek         peeks at "exp" without exposure
func testApp() http.Handler {
	mux := http.NewServeMux()
	report := func(w http.ResponseWriter, r *http.Request, cfg statsig.DynamicConfig, err error) {
		u, _ := statsigmw.User(r.Context())
		source, _ := u.Custom["id_source"].(string)
		in := info{ID: u.CustomIDs["stableID"], Source: source, UserID: u.UserID, StableID: u.CustomIDs["stableID"],
			Group: cfg.GroupName, Color: cfg.GetString("color", "fallback")}
		if err != nil {
			in.Err = err.Error()
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(in)
	}
	mux.HandleFunc("/exp", func(w http.ResponseWriter, r *http.Request) {
		n, err := strconv.Atoi(r.URL.Query().Get("reads"))
		if err != nil {
			n = 1
		}
		var cfg statsig.DynamicConfig
		for i := 0; i < n; i++ {
			cfg, _ = statsigmw.Experiment(r.Context(), "exp")
		}
		report(w, r, cfg, nil)
	})
	mux.HandleFunc("/none", func(w http.ResponseWriter, r *http.Request) {
		report(w, r, statsig.DynamicConfig{}, nil)
	})
	mux.HandleFunc("/peek", func(w http.ResponseWriter, r *http.Request) {
		cfg, _ := statsigmw.PeekExperiment(r.Context(), "exp")
		report(w, r, cfg, nil)
	})
	mux.HandleFunc("/convert", func(w http.ResponseWriter, r *http.Request) {
		err := statsigmw.LogEvent(r.Context(), "visited_signup", statsigmw.WithValue("42"), statsigmw.WithMetadata(map[string]string{"page": "signup"}))
		report(w, r, statsig.DynamicConfig{}, err)
	})
	mux.HandleFunc("/gate", func(w http.ResponseWriter, r *http.Request) {
		for i := 0; i < 5; i++ {
			_, _ = statsigmw.Gate(r.Context(), "half")
		}
		report(w, r, statsig.DynamicConfig{}, nil)
	})
	mux.HandleFunc("/layer", func(w http.ResponseWriter, r *http.Request) {
		for i := 0; i < 3; i++ {
			l, _ := statsigmw.Layer(r.Context(), "layer")
			l.GetString("size", "?")
			l.GetString("shape", "?")
		}
		report(w, r, statsig.DynamicConfig{}, nil)
	})
	mux.HandleFunc("/concurrent", func(w http.ResponseWriter, r *http.Request) {
		var wg sync.WaitGroup
		groups := make([]string, 20)
		for i := range groups {
			wg.Add(1)
			go func(i int) {
				defer wg.Done()
				cfg, _ := statsigmw.Experiment(r.Context(), "exp")
				groups[i] = cfg.GroupName
			}(i)
		}
		wg.Wait()
		for _, g := range groups[1:] {
			if g != groups[0] {
				http.Error(w, "goroutines saw different groups", http.StatusInternalServerError)
				return
			}
		}
		cfg, _ := statsigmw.Experiment(r.Context(), "exp")
		report(w, r, cfg, nil)
	})
	return mux
}

type env struct {
	t       testing.TB
	backend *statsigtest.Server
	client  *statsigclient.Client
	mw      *statsigmw.Middleware
	server  *httptest.Server
	browser *http.Client // with a cookie jar
}

// newEnv starts a backend, a client of it, and the test app behind a
// middleware with cfg on a real HTTP server (TLS when tls is true).
func newEnv(t *testing.T, cfg statsigmw.Config, tls bool) *env {
	t.Helper()
	e := &env{t: t, backend: startBackend(t, testConfig())}
	e.client = e.backend.NewClient(t)
	mw, err := statsigmw.New(e.client, cfg)
	if err != nil {
		t.Fatal(err)
	}
	e.mw = mw
	if tls {
		e.server = httptest.NewTLSServer(mw.Handler(testApp()))
	} else {
		e.server = httptest.NewServer(mw.Handler(testApp()))
	}
	t.Cleanup(e.server.Close)
	e.browser = newBrowser(t, e.server)
	return e
}

func newBrowser(t *testing.T, srv *httptest.Server) *http.Client {
	t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	c := srv.Client()
	clone := *c
	clone.Jar = jar
	return &clone
}

// get fetches path with c and decodes the app's report.
func get(t *testing.T, c *http.Client, url string, header ...string) (info, *http.Response) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Add(header[i], header[i+1])
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: status %d", url, resp.StatusCode)
	}
	var in info
	if err := json.NewDecoder(resp.Body).Decode(&in); err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	if in.ID == "" || in.UserID == "" || in.StableID == "" {
		t.Fatalf("GET %s: empty id in %+v", url, in)
	}
	return in, resp
}

// visitorCookie returns the visitor cookie a response set, or nil.
func visitorCookie(resp *http.Response) *http.Cookie {
	for _, c := range resp.Cookies() {
		if c.Name == cookieName {
			return c
		}
	}
	return nil
}

// flush shuts the env's client down and returns what the backend received.
func (e *env) flush() ([]statsigtest.Exposure, []statsigtest.Event) {
	e.backend.Flush(e.t, e.client)
	return e.backend.Exposures(), e.backend.Events()
}

func exposuresOf(xs []statsigtest.Exposure, kind statsigtest.ExposureKind, name string) []statsigtest.Exposure {
	var out []statsigtest.Exposure
	for _, x := range xs {
		if x.Kind == kind && x.Name == name {
			out = append(out, x)
		}
	}
	return out
}

// readsUser reads the request's user, which resolves the visitor (and sets
// or refreshes the cookie), then answers 404.
var readsUser = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	statsigmw.User(r.Context())
	http.NotFound(w, r)
})

// syncingEnv starts a backend, a client that syncs with it every 20 ms,
// and the test app behind a middleware whose warnings are discarded, on a
// real HTTP server: for tests that change the backend's config.
func syncingEnv(t *testing.T) (*statsigtest.Server, *statsigclient.Client, *httptest.Server) {
	t.Helper()
	backend := startBackend(t, testConfig())
	cc := backend.ClientConfig()
	cc.Options.ConfigSyncInterval = 20 * time.Millisecond
	client := mustClient(t, cc)
	mw, err := statsigmw.New(client, statsigmw.Config{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	return backend, client, newServer(t, mw.Handler(testApp()))
}

// awaitKnown reads until the client knows experiment "exp" (known) or
// does not: it awaits the state the test set, for at most 10 s.
func awaitKnown(t *testing.T, client *statsigclient.Client, known bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, ok := statsigmw.PeekExperiment(statsigmw.NewContext(context.Background(), client, statsig.User{UserID: "probe"}), "exp")
		if ok == known {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the client did not load the change (known %v)", !known)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
