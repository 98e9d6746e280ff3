package statsigclient_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	statsig "github.com/statsig-io/go-sdk"

	"github.com/labkit/statsigmw/statsigclient"
	"github.com/labkit/statsigmw/statsigtest"
)

func TestNewRejectsBadKeys(t *testing.T) {
	t.Parallel()
	for _, key := range []string{"not-a-secret", "", "client-abc123", " secret-leading-space"} {
		t.Run(fmt.Sprintf("%q", key), func(t *testing.T) {
			t.Parallel()
			var c *statsigclient.Client
			var err error
			func() {
				defer func() {
					if r := recover(); r != nil {
						t.Fatalf("New(%q) panicked: %v", key, r)
					}
				}()
				c, err = statsigclient.New(statsigclient.Config{Secret: key, Logger: quiet})
			}()
			if err == nil {
				t.Fatalf("New(%q) = %v, nil; want an error", key, c)
			}
			if c != nil {
				t.Errorf("New(%q) returned a client with its error", key)
			}
			if !strings.HasPrefix(err.Error(), "statsigclient: ") {
				t.Errorf("error %q does not start with %q", err, "statsigclient: ")
			}
			if len(key) > 10 && strings.Contains(err.Error(), key) {
				t.Errorf("error %q repeats the whole key", err)
			}
		})
	}
}

func TestNewRejectsInvalidConfig(t *testing.T) {
	t.Parallel()
	local := &statsig.Options{LocalMode: true}
	for name, cfg := range map[string]statsigclient.Config{
		"InitTimeout":        {Options: local, InitTimeout: -time.Second},
		"MaxInFlightBatches": {Options: local, MaxInFlightBatches: -1},
		"RetryBackoff":       {Options: local, RetryBackoff: -time.Millisecond},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			c, err := statsigclient.New(cfg)
			if err == nil {
				_ = c.Shutdown(context.Background())
				t.Fatalf("New with a negative %s: got no error", name)
			}
			if !strings.HasPrefix(err.Error(), "statsigclient: ") || !strings.Contains(err.Error(), name) {
				t.Errorf("error %q: want the prefix %q and the field %s", err, "statsigclient: ", name)
			}
		})
	}
}

func TestNewLocalModeAnyKey(t *testing.T) {
	t.Parallel()
	for _, key := range []string{"", "not-a-secret", "secret-local"} {
		t.Run(fmt.Sprintf("%q", key), func(t *testing.T) {
			t.Parallel()
			c := newClient(t, statsigclient.Config{
				Secret: key,
				Options: &statsig.Options{
					LocalMode:        true,
					BootstrapValues:  mustJSON(t, testConfig),
					UAParserOptions:  statsig.UAParserOptions{Disabled: true},
					IPCountryOptions: statsig.IPCountryOptions{Disabled: true},
				},
			})
			if !c.Initialized() {
				t.Errorf("Initialized() = false, want true (bootstrap values)")
			}
			if got := color(c); got != "blue" {
				t.Errorf("color = %q, want %q", got, "blue")
			}
			if err := shutdown(c, 5*time.Second); err != nil {
				t.Errorf("Shutdown: %v", err)
			}
		})
	}
}

func TestNewDoesNotModifyOptions(t *testing.T) {
	t.Parallel()
	srv := newServer(t)
	cfg := srv.ClientConfig()
	want := *cfg.Options
	c := newClient(t, cfg)
	if !c.Initialized() {
		t.Fatal("not initialised")
	}
	if cfg.Options.Transport != want.Transport || cfg.Options.InitTimeout != want.InitTimeout {
		t.Errorf("New modified the caller's Options: Transport %v, InitTimeout %v; want %v, %v",
			cfg.Options.Transport, cfg.Options.InitTimeout, want.Transport, want.InitTimeout)
	}
}

// countingTransport wraps a transport, as otelhttp or a request recorder
// would, and counts the requests it carries.
type countingTransport struct {
	base http.RoundTripper
	n    atomic.Int64
}

func (c *countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	c.n.Add(1)
	return c.base.RoundTrip(r)
}

// A program that wraps http.DefaultTransport gets a client, not a panic, and
// the client's requests go through the wrapper. Not parallel: it replaces
// http.DefaultTransport.
func TestNewWithWrappedDefaultTransport(t *testing.T) {
	srv := newServer(t)
	orig := http.DefaultTransport
	wrapped := &countingTransport{base: orig}
	http.DefaultTransport = wrapped
	t.Cleanup(func() { http.DefaultTransport = orig })

	for name, newClient := range map[string]func(t *testing.T) *statsigclient.Client{
		"New": func(t *testing.T) *statsigclient.Client {
			c, err := statsigclient.New(srv.ClientConfig())
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = c.Shutdown(context.Background()) })
			return c
		},
		"statsigtest": func(t *testing.T) *statsigclient.Client { return srv.NewClient(t) },
	} {
		t.Run(name, func(t *testing.T) {
			before := wrapped.n.Load()
			var c *statsigclient.Client
			func() {
				defer func() {
					if r := recover(); r != nil {
						t.Fatalf("panicked with a wrapped http.DefaultTransport: %v", r)
					}
				}()
				c = newClient(t)
			}()
			if !c.Initialized() || color(c) != "blue" {
				t.Errorf("Initialized() = %v, color %q; want true, blue", c.Initialized(), color(c))
			}
			logEvents(c, "wrapped", 3)
			if err := shutdown(c, 5*time.Second); err != nil {
				t.Errorf("Shutdown: %v", err)
			}
			// Config download, id lists and the event batch at least.
			if got := wrapped.n.Load() - before; got < 3 {
				t.Errorf("%d requests went through the wrapped http.DefaultTransport, want at least 3", got)
			}
		})
	}
}

// portal answers every config download with a captive portal's HTML page,
// status 200, until it is told to serve the real config.
type portal struct {
	specs string
	real  atomic.Bool
}

func (p *portal) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	_, _ = io.Copy(io.Discard, r.Body)
	if strings.Contains(r.URL.Path, "download_config_specs") {
		if p.real.Load() {
			w.Header().Set("Content-Type", "application/json")
			_, _ = io.WriteString(w, p.specs)
			return
		}
		w.Header().Set("Content-Type", "text/html")
		_, _ = io.WriteString(w, "<!doctype html><title>Sign in to the network</title><form>...</form>")
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = io.WriteString(w, "{}")
}

// A 2xx config download that the SDK cannot use leaves the client
// uninitialised; a usable one, at a later poll, initialises it.
func TestInitializedNotOnCaptivePortal(t *testing.T) {
	t.Parallel()
	p := &portal{specs: mustJSON(t, testConfig)}
	ts := httptest.NewServer(p)
	t.Cleanup(ts.Close)
	c := pollingClient(t, ts.URL)
	if c.Initialized() {
		t.Errorf("Initialized() = true after an HTML config download, want false")
	}
	if got := color(c); got != "fallback" {
		t.Errorf("color = %q with no configs, want the fallback", got)
	}
	p.real.Store(true)
	waitFor(t, "the configs to load at a poll", func() bool { return color(c) == "blue" })
	if !c.Initialized() {
		t.Errorf("Initialized() = false with configs loaded, want true")
	}
}

// With bootstrap values, the SDK has configs even when its initialisation
// times out (here on a hanging id list download); Initialized says so, and
// the probe that asks the SDK stays out of the caller's callbacks.
func TestInitializedFromBootstrapAfterTimeout(t *testing.T) {
	t.Parallel()
	srv := newServer(t)
	srv.SetFault(statsigtest.EndpointIDLists, statsigtest.Fault{Hang: true})
	cfg := srv.ClientConfig()
	cfg.Options.BootstrapValues = mustJSON(t, testConfig)
	cfg.InitTimeout = 50 * time.Millisecond
	var mu sync.Mutex
	var seen []string
	cfg.Options.EvaluationCallbacks = statsig.EvaluationCallbacks{
		GateEvaluationCallback: func(name string, _ bool, _ *statsig.ExposureEvent) {
			mu.Lock()
			defer mu.Unlock()
			seen = append(seen, "gate "+name)
		},
		ExposureCallback: func(name string, _ *statsig.ExposureEvent) {
			mu.Lock()
			defer mu.Unlock()
			seen = append(seen, "exposure "+name)
		},
	}
	rec := &recorder{}
	cfg.Logger = slog.New(rec)
	c := newClient(t, cfg)
	if !c.Initialized() {
		t.Errorf("Initialized() = false with bootstrap values loaded, want true")
	}
	if _, ok := rec.find(slog.LevelWarn, "not initialised"); ok {
		t.Errorf("warned that the client is not initialised, with bootstrap values loaded")
	}
	if got := color(c); got != "blue" {
		t.Errorf("color = %q, want %q", got, "blue")
	}
	c.SDK().CheckGate(testUser, "some_gate")
	mu.Lock()
	defer mu.Unlock()
	if want := []string{"exposure exp", "gate some_gate", "exposure some_gate"}; fmt.Sprint(seen) != fmt.Sprint(want) {
		t.Errorf("callbacks saw %q, want only the caller's evaluations %q", seen, want)
	}
	srv.SetFault(statsigtest.EndpointIDLists, statsigtest.Fault{})
}

func TestInitFaults(t *testing.T) {
	t.Parallel()
	for name, fault := range map[string]statsigtest.Fault{
		"hang":   {Hang: true},
		"503":    {Status: 503},
		"refuse": {Refuse: true},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			srv := newServer(t)
			srv.SetFault(statsigtest.EndpointConfigSpecs, fault)
			cfg := srv.ClientConfig()
			cfg.Options.ConfigSyncInterval = 50 * time.Millisecond
			cfg.InitTimeout = 300 * time.Millisecond

			start := time.Now()
			c := newClient(t, cfg)
			t.Logf("New took %v (InitTimeout %v)", time.Since(start), cfg.InitTimeout)
			if c.Initialized() {
				t.Errorf("Initialized() = true, want false")
			}
			// Fails open: defaults, not a panic.
			if got := color(c); got != "fallback" {
				t.Errorf("color before recovery = %q, want the fallback", got)
			}
			if c.SDK().CheckGate(testUser, "no_such_gate") {
				t.Errorf("CheckGate before recovery = true, want false")
			}

			srv.SetFault(statsigtest.EndpointConfigSpecs, statsigtest.Fault{})
			waitFor(t, "the client to recover", func() bool { return color(c) == "blue" })
			if !c.Initialized() {
				t.Errorf("Initialized() = false after recovery, want true")
			}
		})
	}
}

// recorder is a slog.Handler that keeps records.
type recorder struct {
	mu      sync.Mutex
	records []slog.Record
}

func (h *recorder) Enabled(context.Context, slog.Level) bool { return true }
func (h *recorder) Handle(_ context.Context, r slog.Record) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.records = append(h.records, r.Clone())
	return nil
}
func (h *recorder) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *recorder) WithGroup(string) slog.Handler      { return h }

func (h *recorder) find(level slog.Level, substr string) (slog.Record, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, r := range h.records {
		if r.Level == level && strings.Contains(r.Message, substr) {
			return r, true
		}
	}
	return slog.Record{}, false
}

// Not parallel: it sets the SDK's process-global output logger.
func TestRouteSDKLogs(t *testing.T) {
	rec := &recorder{}
	statsigclient.RouteSDKLogs(slog.New(rec))
	t.Cleanup(func() { statsigclient.RouteSDKLogs(quiet) })

	srv := newServer(t)
	srv.SetFault(statsigtest.EndpointConfigSpecs, statsigtest.Fault{Status: 500})
	cfg := srv.ClientConfig()
	cfg.Options.StatsigLoggerOptions = statsig.StatsigLoggerOptions{} // diagnostics on: the SDK logs its steps
	c := newClient(t, cfg)

	// An evaluation for an empty user is an SDK error.
	c.SDK().GetExperiment(statsig.User{}, "exp")
	r, ok := rec.find(slog.LevelError, "non-empty StatsigUser.UserID")
	if !ok {
		t.Fatalf("no Error record for the empty user; records: %v", rec.records)
	}
	if strings.Contains(r.Message, "Stack Trace") || strings.Contains(r.Message, "goroutine ") || strings.HasPrefix(r.Message, "Error:") {
		t.Errorf("record message %q: want the error alone, without the SDK's prefix and stack trace", r.Message)
	}
	var component string
	r.Attrs(func(a slog.Attr) bool {
		if a.Key == "component" {
			component = a.Value.String()
		}
		return true
	})
	if component != "statsig-sdk" {
		t.Errorf("record attribute component = %q, want %q", component, "statsig-sdk")
	}
	// The failed initialisation is an SDK error too, and the handler is
	// enabled for Debug, so the SDK's initialisation steps come through.
	if _, ok := rec.find(slog.LevelError, "Failed to initialize from the network"); !ok {
		t.Errorf("no Error record for the failed initialisation")
	}
	if _, ok := rec.find(slog.LevelDebug, "Initialize: "); !ok {
		t.Errorf("no Debug record of an initialisation step")
	}
}

// The package's own warnings go to Config.Logger.
func TestLoggerWarnings(t *testing.T) {
	t.Parallel()
	rec := &recorder{}
	srv := newServer(t)
	srv.SetFault(statsigtest.EndpointConfigSpecs, statsigtest.Fault{Status: 503})
	srv.SetFault(statsigtest.EndpointLogEvent, statsigtest.Fault{Refuse: true})
	cfg := srv.ClientConfig()
	cfg.Logger = slog.New(rec)
	c := newClient(t, cfg)
	if _, ok := rec.find(slog.LevelWarn, "not initialised"); !ok {
		t.Errorf("no warning about the failed initialisation")
	}
	logEvents(c, "warn", 3)
	if err := shutdown(c, 5*time.Second); err == nil {
		t.Fatalf("Shutdown = nil against a refusing backend")
	}
	if _, ok := rec.find(slog.LevelWarn, "event batch not delivered"); !ok {
		t.Errorf("no warning about the undelivered batch")
	}
}

// An API URL that the SDK cannot parse loses every request to it, with no
// sign to the transport: New refuses it and names the field.
func TestNewRejectsBadAPIURLs(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		field, value string
		set          func(o *statsig.Options, v string)
	}{
		{"Options.APIOverrides.LogEvent", "http://[::1", func(o *statsig.Options, v string) { o.APIOverrides.LogEvent = v }},
		{"Options.API", "http://[::1", func(o *statsig.Options, v string) { o.API = v }},
		{"Options.API", "statsigapi.net/v1", func(o *statsig.Options, v string) { o.API = v }},
		{"Options.API", "/v1", func(o *statsig.Options, v string) { o.API = v }},
		{"Options.API", "ftp://statsigapi.net/v1", func(o *statsig.Options, v string) { o.API = v }},
		{"Options.API", "http://:8080/v1", func(o *statsig.Options, v string) { o.API = v }},
		{"Options.API", "https://statsigapi.net/v1?region=eu", func(o *statsig.Options, v string) { o.API = v }},
		{"Options.API", "https://statsigapi.net/v1#", func(o *statsig.Options, v string) { o.API = v }},
		{"Options.APIOverrides.DownloadConfigSpecs", "https//api.statsigcdn.com/v1", func(o *statsig.Options, v string) { o.APIOverrides.DownloadConfigSpecs = v }},
		{"Options.APIOverrides.GetIDLists", "http://%zz", func(o *statsig.Options, v string) { o.APIOverrides.GetIDLists = v }},
	} {
		t.Run(tc.field+"="+tc.value, func(t *testing.T) {
			t.Parallel()
			srv := newServer(t)
			cfg := srv.ClientConfig()
			cfg.Logger = quiet
			tc.set(cfg.Options, tc.value)
			c, err := statsigclient.New(cfg)
			if err == nil {
				logEvents(c, "lost", 10)
				serr := shutdown(c, 5*time.Second)
				t.Fatalf("New accepted %s %q; then 10 events logged, backend received %d, Shutdown = %v, Stats %+v",
					tc.field, tc.value, len(srv.Events()), serr, c.Stats())
			}
			if want := fmt.Sprintf("statsigclient: %s %q", tc.field, tc.value); !strings.HasPrefix(err.Error(), want) {
				t.Errorf("error %q: want it to start with %q", err, want)
			}
		})
	}
}

// nilRoundTripper is a func transport, nil in the test that uses it.
type nilRoundTripper func(*http.Request) (*http.Response, error)

func (f nilRoundTripper) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// A nil transport would panic on the SDK's goroutines, where nothing can
// recover: New refuses it.
func TestNewRejectsNilTransport(t *testing.T) {
	t.Parallel()
	for name, rt := range map[string]http.RoundTripper{
		"*http.Transport":                    (*http.Transport)(nil),
		"statsigclient_test.nilRoundTripper": nilRoundTripper(nil),
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			srv := newServer(t)
			cfg := srv.ClientConfig()
			cfg.Logger = quiet
			cfg.Options.Transport = rt
			c, err := statsigclient.New(cfg)
			if err == nil {
				_ = shutdown(c, time.Second)
				t.Fatalf("New with a nil %s Options.Transport: no error", name)
			}
			if !strings.HasPrefix(err.Error(), "statsigclient: Options.Transport") || !strings.Contains(err.Error(), name) {
				t.Errorf("error %q: want it to name Options.Transport and %s", err, name)
			}
		})
	}
}

// With no Options.Transport, a nil http.DefaultTransport is refused too. Not
// parallel: it replaces http.DefaultTransport.
func TestNewRejectsNilDefaultTransport(t *testing.T) {
	srv := newServer(t)
	orig := http.DefaultTransport
	t.Cleanup(func() { http.DefaultTransport = orig })
	for name, dt := range map[string]http.RoundTripper{
		"nil":                   nil,
		"nil *http.Transport":   (*http.Transport)(nil),
		"nil func RoundTripper": nilRoundTripper(nil),
	} {
		t.Run(name, func(t *testing.T) {
			http.DefaultTransport = dt
			c, err := statsigclient.New(statsigclient.Config{Secret: "secret-statsigtest", Logger: quiet, Options: &statsig.Options{
				API:              srv.URL,
				UAParserOptions:  statsig.UAParserOptions{Disabled: true},
				IPCountryOptions: statsig.IPCountryOptions{Disabled: true},
			}})
			http.DefaultTransport = orig
			if err == nil {
				_ = shutdown(c, time.Second)
				t.Fatalf("New with http.DefaultTransport = %s: no error", name)
			}
			if !strings.Contains(err.Error(), "http.DefaultTransport") {
				t.Errorf("error %q: want it to name http.DefaultTransport", err)
			}
		})
	}
}

// specsServer answers every config download with early until it is told
// to serve late.
type specsServer struct {
	early, late string
	switched    atomic.Bool
}

func (s *specsServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	_, _ = io.Copy(io.Discard, r.Body)
	w.Header().Set("Content-Type", "application/json")
	body := "{}"
	if strings.Contains(r.URL.Path, "download_config_specs") {
		body = s.early
		if s.switched.Load() {
			body = s.late
		}
	}
	_, _ = io.WriteString(w, body)
}

// A download the SDK accepts but that holds no rule set (no sync time) does
// not initialise the client; a real one, at a later poll, does.
func TestInitializedNeedsSyncTime(t *testing.T) {
	t.Parallel()
	s := &specsServer{early: `{"has_updates":true}`, late: mustJSON(t, testConfig)}
	ts := httptest.NewServer(s)
	t.Cleanup(ts.Close)
	c := pollingClient(t, ts.URL)
	if c.Initialized() {
		t.Errorf(`Initialized() = true after {"has_updates":true}, want false`)
	}
	s.switched.Store(true)
	waitFor(t, "the configs to load at a poll", func() bool { return color(c) == "blue" })
	if !c.Initialized() {
		t.Errorf("Initialized() = false with configs loaded, want true")
	}
}

// pollingClient is a client of the config server at url that polls it every
// 20 ms, so that a test sees a later download soon.
func pollingClient(t *testing.T, url string) *statsigclient.Client {
	return newClient(t, statsigclient.Config{
		Secret: "secret-statsigtest",
		Options: &statsig.Options{
			API:                url,
			ConfigSyncInterval: 20 * time.Millisecond,
			UAParserOptions:    statsig.UAParserOptions{Disabled: true},
			IPCountryOptions:   statsig.IPCountryOptions{Disabled: true},
		},
	})
}
