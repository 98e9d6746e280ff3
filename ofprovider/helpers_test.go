package ofprovider_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/open-feature/go-sdk/openfeature"
	"github.com/open-feature/go-sdk/openfeature/isolated"

	"github.com/labkit/statsigmw"
	"github.com/labkit/statsigmw/internal/leakcheck"
	"github.com/labkit/statsigmw/ofprovider"
	"github.com/labkit/statsigmw/statsigclient"
	"github.com/labkit/statsigmw/statsigtest"
)

// TestMain fails the run when goroutines outlive the tests (the SDK's own
// known leak aside; see package leakcheck).
func TestMain(m *testing.M) { leakcheck.Main(m) }

// testConfig serves experiment "exp" on stableID, whose groups hold a
// parameter of every kind, and gate "half".
func testConfig() statsigtest.Config {
	exp := statsigtest.ExperimentSpec{Name: "exp", Unit: statsigtest.UnitStableID, Defaults: map[string]any{"color": "default"}}
	for i, g := range []string{"Blue", "Green", "Red", "Orange"} {
		exp.Groups = append(exp.Groups, statsigtest.Group{Name: g, Weight: 25, Params: map[string]any{
			"color":   g,
			"size":    i + 1,
			"ratio":   float64(i) + 0.5,
			"enabled": i%2 == 0,
			"style":   map[string]any{"font": "serif", "weights": []any{400, 700}},
			"tags":    []any{"a", g},
		}})
	}
	return statsigtest.Config{
		Experiments: []statsigtest.ExperimentSpec{exp},
		Gates:       []statsigtest.GateSpec{{Name: "half", Unit: statsigtest.UnitStableID, PassPercentage: 50}},
	}
}

// env is a backend, a client of it, a middleware and an OpenFeature
// client whose provider is ofprovider's, on an API of its own.
type env struct {
	srv    *statsigtest.Server
	client *statsigclient.Client
	mw     *statsigmw.Middleware
	of     *openfeature.Client
	api    *openfeature.EvaluationAPI
}

func newEnv(t testing.TB) *env {
	t.Helper()
	srv := statsigtest.NewServer(testConfig())
	t.Cleanup(srv.Close)
	client := srv.NewClient(t)
	mw, err := statsigmw.New(client, statsigmw.Config{})
	if err != nil {
		t.Fatal(err)
	}
	api, of := openFeature(t)
	if err := api.SetProviderAndWait(context.Background(), mustProvider(t, client)); err != nil {
		t.Fatal(err)
	}
	return &env{srv: srv, client: client, mw: mw, of: of, api: api}
}

func mustProvider(t testing.TB, client *statsigclient.Client) *ofprovider.Provider {
	t.Helper()
	p, err := ofprovider.New(client, ofprovider.Config{})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// openFeature returns an API of its own, shut down when the test ends, and
// a client of it.
func openFeature(t testing.TB) (*openfeature.EvaluationAPI, *openfeature.Client) {
	api := isolated.NewAPI()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := api.Shutdown(ctx); err != nil {
			t.Error(err)
		}
	})
	return api, api.NewClient()
}

// serve starts h under the middleware; closed when the test ends.
func (e *env) serve(t *testing.T, h http.Handler) *httptest.Server {
	ts := httptest.NewServer(e.mw.Handler(h))
	t.Cleanup(ts.Close)
	return ts
}

// visitor returns an HTTP client with a cookie jar of its own: one
// visitor.
func visitor(t *testing.T) *http.Client {
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &http.Client{Jar: jar, Transport: &http.Transport{}}
}

// getJSON GETs url with c and decodes the JSON answer into v.
func getJSON(t *testing.T, c *http.Client, url string, v any) {
	t.Helper()
	resp, err := c.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: status %d", url, resp.StatusCode)
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	c.CloseIdleConnections()
}
