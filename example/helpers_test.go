package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/labkit/statsigmw/statsigclient"
	"github.com/labkit/statsigmw/statsigtest"
)

// testApp is the example's handler on an httptest.Server, against an
// in-process backend.
type testApp struct {
	URL     string
	Backend *statsigtest.Server
	Client  *statsigclient.Client
	Store   *taskStore
	handler http.Handler
}

// startApp starts the app against a new backend serving labConfig. With
// live set, its client sends events every second as the offline example
// does (offlineClientConfig); otherwise it keeps them until
// Backend.Flush, which makes reading them exact. Each tweak may change the
// app's configuration before it is built.
func startApp(t testing.TB, live bool, tweaks ...func(*appConfig)) *testApp {
	t.Helper()
	backend := statsigtest.NewServer(labConfig())
	t.Cleanup(backend.Close)
	var client *statsigclient.Client
	if live {
		c := newClient(t, offlineClientConfig(backend))
		if !c.Initialized() {
			t.Fatal("the client did not initialise")
		}
		client = c
	} else {
		client = backend.NewClient(t)
	}
	store := newTaskStore()
	cfg := appConfig{Client: client, Events: backend, FlushInterval: time.Second, Store: store}
	for _, f := range tweaks {
		f(&cfg)
	}
	h, err := newApp(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(h)
	t.Cleanup(ts.Close)
	return &testApp{URL: ts.URL, Backend: backend, Client: client, Store: store, handler: h}
}

// newClient returns a client made with cfg, shut down (within 5 s) when the
// test ends.
func newClient(t testing.TB, cfg statsigclient.Config) *statsigclient.Client {
	t.Helper()
	c, err := statsigclient.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = c.Shutdown(ctx)
	})
	return c
}

// startAppWithoutConfigs starts the app on a client that never got
// configs: its backend refuses config downloads (the fault stays set until
// the test clears it).
func startAppWithoutConfigs(t *testing.T) *testApp {
	t.Helper()
	backend := startBackend(t)
	backend.SetFault(statsigtest.EndpointConfigSpecs, statsigtest.Fault{Refuse: true})
	client := newClient(t, backend.ClientConfig())
	if client.Initialized() {
		t.Fatal("the client initialised against a backend that refuses config downloads")
	}
	h, err := newApp(appConfig{Client: client})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(h)
	t.Cleanup(ts.Close)
	return &testApp{URL: ts.URL, Backend: backend, Client: client}
}

// startBackend starts an in-process backend serving labConfig, closed when
// t ends.
func startBackend(t testing.TB) *statsigtest.Server {
	t.Helper()
	b := statsigtest.NewServer(labConfig())
	t.Cleanup(b.Close)
	return b
}

// testClient returns a client of a new backend, for apps whose tests read
// no events from it.
func testClient(tb testing.TB) *statsigclient.Client {
	tb.Helper()
	return startBackend(tb).NewClient(tb)
}

// testSessionKey is the SESSION_KEY of the example processes of the tests.
const testSessionKey = "test-session-key-0123456789abcdef"

// startAPI starts the app for tests of the task API, which needs no visitor
// and no events: it returns the app's URL and its task store.
func startAPI(t *testing.T) (url string, store *taskStore) {
	t.Helper()
	app := startApp(t, false)
	return app.URL, app.Store
}

// newBrowser returns an HTTP client with its own cookie jar: one visitor.
func newBrowser(t testing.TB) *http.Client {
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &http.Client{Jar: jar, Timeout: 10 * time.Second}
}

// response is a response with its body read.
type response struct {
	Status int
	Header http.Header
	Body   string
}

// do sends a request and reads the whole answer, failing t on a transport
// error. contentType is set when body is not empty.
func do(t testing.TB, c *http.Client, method, url, contentType, body string) response {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: reading the body: %v", method, url, err)
	}
	return response{Status: resp.StatusCode, Header: resp.Header, Body: string(b)}
}

// get sends a GET and fails t unless the answer is 200.
func get(t testing.TB, c *http.Client, url string) string {
	t.Helper()
	r := do(t, c, http.MethodGet, url, "", "")
	if r.Status != http.StatusOK {
		t.Fatalf("GET %s: status %d, want 200; body %q", url, r.Status, r.Body)
	}
	return r.Body
}

// getJSON GETs url and decodes the 200 answer into v.
func getJSON(t testing.TB, c *http.Client, url string, v any) {
	t.Helper()
	if err := json.Unmarshal([]byte(get(t, c, url)), v); err != nil {
		t.Fatalf("GET %s: bad JSON: %v", url, err)
	}
}

// whoamiResponse is the body of /whoami.
type whoamiResponse struct {
	UserID      string `json:"userID"`
	StableID    string `json:"stableID"`
	Source      string `json:"source"`
	Login       string `json:"login"`
	Experiments map[string]struct {
		Group  string         `json:"group"`
		Params map[string]any `json:"params"`
	} `json:"experiments"`
}

// page is what a test reads off the /tasks page.
type page struct {
	Color, Group, Visitor string
	Body                  string
}

var (
	colorRE   = regexp.MustCompile(`<h1>experiment group: ([^<]*)</h1>`)
	bgRE      = regexp.MustCompile(`<body style="background-color: ([^"]*)">`)
	visitorRE = regexp.MustCompile(`Visitor id <code>([^<]*)</code>`)
	groupRE   = regexp.MustCompile(`, group ([A-Za-z]+)\.`)
)

// parseTasksPage reads the colour, group and visitor id off a /tasks page
// and checks that the heading and the background agree.
func parseTasksPage(t testing.TB, body string) page {
	t.Helper()
	p := page{Body: body}
	for _, f := range []struct {
		re  *regexp.Regexp
		dst *string
	}{{colorRE, &p.Color}, {visitorRE, &p.Visitor}, {groupRE, &p.Group}} {
		m := f.re.FindStringSubmatch(body)
		if m == nil {
			t.Fatalf("the /tasks page has no match for %v:\n%s", f.re, body)
		}
		*f.dst = m[1]
	}
	if m := bgRE.FindStringSubmatch(body); m == nil || m[1] != p.Color {
		t.Fatalf("background colour %q, want the group colour %q", m, p.Color)
	}
	return p
}

// syncBuffer is a bytes.Buffer safe for concurrent use, for the log output
// of run.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// waitFor polls cond every 10 ms until it is true or the deadline passes,
// and reports whether it became true.
func waitFor(ctx context.Context, d time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(d)
	for {
		if cond() {
			return true
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return false
		}
		time.Sleep(10 * time.Millisecond)
	}
}
