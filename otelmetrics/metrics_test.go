package otelmetrics_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/labkit/statsigmw"
	"github.com/labkit/statsigmw/internal/leakcheck"
	"github.com/labkit/statsigmw/otelmetrics"
	"github.com/labkit/statsigmw/statsigtest"
)

// TestMain fails the run when goroutines outlive the tests (the SDK's own
// known leak aside; see package leakcheck).
func TestMain(m *testing.M) { leakcheck.Main(m) }

func testConfig() statsigtest.Config {
	return statsigtest.Config{Experiments: []statsigtest.ExperimentSpec{{
		Name: "exp", Unit: statsigtest.UnitStableID,
		Groups: []statsigtest.Group{{Name: "A", Weight: 50}, {Name: "B", Weight: 50}},
	}}}
}

// series collects reader into "name attr=value" -> value.
func series(t *testing.T, reader *sdkmetric.ManualReader) map[string]int64 {
	t.Helper()
	var rm metricdata.ResourceMetrics
	if err := reader.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	out := map[string]int64{}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			for _, dp := range m.Data.(metricdata.Sum[int64]).DataPoints {
				k := m.Name
				for _, kv := range dp.Attributes.ToSlice() {
					k += " " + string(kv.Key) + "=" + kv.Value.String()
				}
				out[k] = dp.Value
			}
		}
	}
	return out
}

func newMeter(t *testing.T) (*sdkmetric.MeterProvider, *sdkmetric.ManualReader) {
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	t.Cleanup(func() { _ = mp.Shutdown(context.Background()) })
	return mp, reader
}

// After a known sequence of requests, every instrument reports what the
// middleware's and the client's Stats say.
func TestReportsStats(t *testing.T) {
	srv := statsigtest.NewServer(testConfig())
	t.Cleanup(srv.Close)
	client := srv.NewClient(t)
	mw, err := statsigmw.New(client, statsigmw.Config{})
	if err != nil {
		t.Fatal(err)
	}
	mp, reader := newMeter(t)
	if _, err := otelmetrics.Register(mp.Meter("test"), mw, client); err != nil {
		t.Fatal(err)
	}

	mux := http.NewServeMux()
	mux.HandleFunc("/exp", func(w http.ResponseWriter, r *http.Request) {
		statsigmw.Experiment(r.Context(), "exp")
	})
	mux.HandleFunc("/late", func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusOK)
		statsigmw.Experiment(r.Context(), "exp")
	})
	mux.HandleFunc("/buy", func(w http.ResponseWriter, r *http.Request) {
		if err := statsigmw.LogEvent(r.Context(), "purchase"); err != nil {
			t.Error(err)
		}
	})
	ts := httptest.NewServer(mw.Handler(mux))
	t.Cleanup(ts.Close)
	get := func(c *http.Client, path string, cookies ...string) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, ts.URL+path, nil)
		for _, v := range cookies {
			req.AddCookie(&http.Cookie{Name: "visitor_id", Value: v})
		}
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		c.CloseIdleConnections()
	}
	visitor := func() *http.Client {
		jar, _ := cookiejar.New(nil)
		return &http.Client{Jar: jar, Transport: &http.Transport{}}
	}
	stamp := fmt.Sprintf("-%08x", time.Now().Unix())

	a, b, anon := visitor(), visitor(), visitor()
	get(a, "/exp")                                          // logged
	get(a, "/exp")                                          // suppressed: the same exposure within the window
	get(a, "/buy")                                          // an event
	get(b, "/exp")                                          // logged
	get(anon, "/late")                                      // read after the header without a cookie: a late read, not logged
	get(&http.Client{Transport: &http.Transport{}}, "/exp", // two visitor cookies, the first is the visitor's: logged
		uuid.NewString()+stamp, uuid.NewString()+stamp)

	check := func(when string) map[string]int64 {
		t.Helper()
		got := series(t, reader)
		st, cs := mw.Stats(), client.Stats()
		want := map[string]int64{
			"statsigmw.exposures outcome=logged":            st.ExposuresLogged,
			"statsigmw.exposures outcome=suppressed":        st.ExposuresSuppressed,
			"statsigmw.duplicate_cookies":                   st.DuplicateCookies,
			"statsigmw.late_reads":                          st.LateReads,
			"statsigclient.events outcome=sent":             cs.EventsSent,
			"statsigclient.events outcome=dropped":          cs.EventsDropped,
			"statsigclient.events outcome=failed":           cs.EventsFailed,
			"statsigclient.pending_events":                  cs.EventsPending,
			"statsigclient.pending_batches state=in_flight": int64(cs.BatchesInFlight),
			"statsigclient.pending_batches state=queued":    int64(cs.BatchesQueued),
		}
		if len(got) != len(want) {
			t.Errorf("%s: %d series, want %d: %v", when, len(got), len(want), got)
		}
		for k, v := range want {
			if got[k] != v {
				t.Errorf("%s: %s = %d, Stats say %d", when, k, got[k], v)
			}
		}
		return got
	}
	got := check("before the flush")
	if got["statsigmw.exposures outcome=logged"] != 3 || got["statsigmw.exposures outcome=suppressed"] != 1 ||
		got["statsigmw.duplicate_cookies"] != 1 || got["statsigmw.late_reads"] != 1 {
		t.Errorf("exposures logged %d, suppressed %d, duplicate cookies %d, late reads %d; want 3, 1, 1 and 1",
			got["statsigmw.exposures outcome=logged"], got["statsigmw.exposures outcome=suppressed"],
			got["statsigmw.duplicate_cookies"], got["statsigmw.late_reads"])
	}

	srv.Flush(t, client)
	got = check("after the flush")
	// The three exposures and the purchase.
	if n := got["statsigclient.events outcome=sent"]; n != 4 {
		t.Errorf("events sent %d, want 4", n)
	}
}

// Only the instruments of what is given are created.
func TestRegisterNil(t *testing.T) {
	srv := statsigtest.NewServer(testConfig())
	t.Cleanup(srv.Close)
	client := srv.NewClient(t)
	mw, err := statsigmw.New(client, statsigmw.Config{})
	if err != nil {
		t.Fatal(err)
	}

	mp, reader := newMeter(t)
	if _, err := otelmetrics.Register(mp.Meter("test"), nil, client); err != nil {
		t.Fatal(err)
	}
	got := series(t, reader)
	for k := range got {
		if !strings.HasPrefix(k, "statsigclient.") {
			t.Errorf("client only: %s reported", k)
		}
	}
	if len(got) != 6 {
		t.Errorf("client only: %v, want its 6 series", got)
	}
	mp, reader = newMeter(t)
	if _, err := otelmetrics.Register(mp.Meter("test"), mw, nil); err != nil {
		t.Fatal(err)
	}
	got = series(t, reader)
	for k := range got {
		if !strings.HasPrefix(k, "statsigmw.") {
			t.Errorf("middleware only: %s reported", k)
		}
	}
	if len(got) != 4 {
		t.Errorf("middleware only: %v, want its 4 series", got)
	}
	if _, err := otelmetrics.Register(mp.Meter("test"), nil, nil); err == nil {
		t.Error("Register(meter, nil, nil): no error")
	}
	if _, err := otelmetrics.Register(nil, mw, client); err == nil {
		t.Error("Register(nil, ...): no error")
	}
}
