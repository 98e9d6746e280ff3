package statsigmw_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/google/uuid"
	statsig "github.com/statsig-io/go-sdk"

	"github.com/labkit/statsigmw"
	"github.com/labkit/statsigmw/statsigclient"
)

// discardWriter is a ResponseWriter whose header map is reused, so that the
// benchmarks measure the middleware, not a recorder.
type discardWriter struct{ h http.Header }

func (w *discardWriter) Header() http.Header         { return w.h }
func (w *discardWriter) Write(p []byte) (int, error) { return len(p), nil }
func (w *discardWriter) WriteHeader(int)             {}

type baselineKey struct{}

// baseline is the floor a middleware of this kind cannot go below: it reads
// one cookie and stores one value in the request context.
func baseline(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var id string
		if c, err := r.Cookie(cookieName); err == nil {
			id = c.Value
		}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), baselineKey{}, id)))
	})
}

// benchClient returns a LocalMode client bootstrapped with the test config:
// it evaluates exactly as a client of statsigtest does, but its event
// batches go nowhere, so that the benchmarks measure evaluation and not a
// loopback HTTP server decoding batches on the same two cores. Tests, which
// assert on events, use statsigtest instead.
func benchClient(b *testing.B) *statsigclient.Client { return localClientOf(b, testConfig()) }

func serveLoop(b *testing.B, h http.Handler, r *http.Request) {
	b.Helper()
	w := &discardWriter{h: make(http.Header)}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		clear(w.h)
		h.ServeHTTP(w, r)
	}
}

// BenchmarkMiddleware measures a request that reads no experiment: the cost
// of identity alone, against the baseline floor.
func BenchmarkMiddleware(b *testing.B) {
	noop := http.HandlerFunc(func(http.ResponseWriter, *http.Request) {})
	returning := httptest.NewRequest(http.MethodGet, "/tasks", nil)
	returning.Header.Set("Cookie", "_ga=GA1.2.3; "+cookieName+"="+stamped(uuid.NewString())+"; theme=dark")
	fresh := httptest.NewRequest(http.MethodGet, "/tasks", nil)
	fresh.RemoteAddr = "192.0.2.1:1234"

	cookieMW, err := statsigmw.New(localClient(b), statsigmw.Config{})
	if err != nil {
		b.Fatal(err)
	}
	ipMW, err := statsigmw.New(localClient(b), statsigmw.Config{Identity: statsigmw.IPIdentity, HashKey: []byte("0123456789abcdef")})
	if err != nil {
		b.Fatal(err)
	}
	b.Run("baseline", func(b *testing.B) { serveLoop(b, baseline(noop), returning) })
	b.Run("returning", func(b *testing.B) { serveLoop(b, cookieMW.Handler(noop), returning) })
	b.Run("new", func(b *testing.B) { serveLoop(b, cookieMW.Handler(noop), fresh) })
	b.Run("hashed-ip", func(b *testing.B) { serveLoop(b, ipMW.Handler(noop), fresh) })
}

// BenchmarkExperiment measures the scope: a request's first read of an
// experiment (middleware, user, SDK evaluation and exposure), a memoised
// re-read, and LogEvent, against the SDK's GetExperiment alone.
func BenchmarkExperiment(b *testing.B) {
	client := benchClient(b)
	mw, err := statsigmw.New(client, statsigmw.Config{})
	if err != nil {
		b.Fatal(err)
	}
	r := httptest.NewRequest(http.MethodGet, "/tasks", nil)
	r.Header.Set("Cookie", cookieName+"="+stamped(uuid.NewString()))
	r.Header.Set("User-Agent", "Mozilla/5.0 (X11; Linux x86_64)")
	r.Header.Set("Accept-Language", "en-US,en;q=0.9")

	// The SDK alone, with the very user the middleware builds for r: the
	// cost of evaluation and exposure that no wrapper can avoid.
	var ctx context.Context
	mw.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { ctx = r.Context() })).
		ServeHTTP(httptest.NewRecorder(), r)
	user, _ := statsigmw.User(ctx)
	b.Run("sdk-GetExperiment", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			client.SDK().GetExperiment(user, "exp")
		}
	})
	b.Run("request-first-read", func(b *testing.B) {
		h := mw.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			statsigmw.Experiment(r.Context(), "exp")
		}))
		serveLoop(b, h, r)
	})
	b.Run("memoised-reread", func(b *testing.B) {
		statsigmw.Experiment(ctx, "exp")
		b.ReportAllocs()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			statsigmw.Experiment(ctx, "exp")
		}
	})
	b.Run("sdk-LogEvent", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			client.SDK().LogEvent(statsig.Event{EventName: "visited_signup", User: user})
		}
	})
	b.Run("LogEvent", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			if err := statsigmw.LogEvent(ctx, "visited_signup"); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkPage compares an experiment page written six ways, through the
// same handler shape and recorder, with a LocalMode client:
//
//   - plain: no middleware, no SDK, a fixed colour;
//   - handrolled: the pattern the middleware replaces: read the cookie,
//     build statsig.User{UserID, CustomIDs{stableID}}, GetExperiment (which
//     logs an exposure at every call);
//   - experiment-returning: through the middleware, a returning visitor, one
//     read (answered by a reused evaluation);
//   - experiment-returning-3x: the same, three reads;
//   - experiment-new: through the middleware, a new visitor every request;
//
// The returning visitor is one fixed id, so every variant evaluates the same
// rules. On a noisy machine, compare the variants with scripts/bench-page.sh,
// which runs each in a fresh process, in interleaved rounds: sub-benchmarks
// of one run share the SDK client and its logger's buffer, and drift apart
// with the machine's speed.
func BenchmarkPage(b *testing.B) { benchmarkPage(b, false) }

// BenchmarkPageLoopback is BenchmarkPage through a real HTTP server on
// loopback, one keep-alive client.
func BenchmarkPageLoopback(b *testing.B) { benchmarkPage(b, true) }

// pageVariant is one way of writing the experiment page, with the request
// it serves.
type pageVariant struct {
	name string
	h    http.Handler
	r    *http.Request
}

// pageVariants returns BenchmarkPage's variants, in the order it runs them.
func pageVariants(b *testing.B) []pageVariant {
	client := benchClient(b)
	mw, err := statsigmw.New(client, statsigmw.Config{})
	if err != nil {
		b.Fatal(err)
	}
	// Every read asks the SDK: the cost of a read that reuse cannot answer.
	const id = "6f1e3f4c-2b0a-4c1e-9d3a-5e8f7a6b9c0d"
	returning := httptest.NewRequest(http.MethodGet, "/tasks", nil)
	returning.Header.Set("Cookie", "_ga=GA1.2.3; "+cookieName+"="+stamped(id)+"; theme=dark")
	returning.Header.Set("User-Agent", "Mozilla/5.0 (X11; Linux x86_64)")
	returning.Header.Set("Accept-Language", "en-US,en;q=0.9")
	fresh := returning.Clone(context.Background())
	fresh.Header.Set("Cookie", "_ga=GA1.2.3; theme=dark")

	page := func(color string, w http.ResponseWriter) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = w.Write([]byte(`<button class="` + color + `">Add</button>`))
	}
	plain := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { page("blue", w) })
	handrolled := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := r.Cookie(cookieName)
		if err != nil {
			http.Error(w, "no cookie", http.StatusBadRequest)
			return
		}
		vid := c.Value[:36]
		user := statsig.User{UserID: vid, CustomIDs: map[string]string{"stableID": vid}}
		exp := client.SDK().GetExperiment(user, "exp")
		page(exp.GetString("color", "blue"), w)
	})
	reads := func(n int, mw *statsigmw.Middleware) http.Handler {
		return mw.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			var exp statsig.DynamicConfig
			for i := 0; i < n; i++ {
				exp, _ = statsigmw.Experiment(r.Context(), "exp")
			}
			page(exp.GetString("color", "blue"), w)
		}))
	}
	return []pageVariant{
		{"plain", plain, returning},
		{"handrolled", handrolled, returning},
		{"experiment-returning", reads(1, mw), returning},
		{"experiment-returning-3x", reads(3, mw), returning},
		{"experiment-new", reads(1, mw), fresh},
	}
}

func benchmarkPage(b *testing.B, loopback bool) {
	run := func(h http.Handler, r *http.Request) func(*testing.B) {
		return func(b *testing.B) {
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				h.ServeHTTP(httptest.NewRecorder(), r)
			}
		}
	}
	if loopback {
		// The same page served over loopback HTTP with keep-alive: ns/op is
		// the inverse of one client's throughput.
		run = func(h http.Handler, r *http.Request) func(*testing.B) {
			return func(b *testing.B) {
				srv := httptest.NewServer(h)
				defer srv.Close()
				req, _ := http.NewRequest(http.MethodGet, srv.URL+r.URL.Path, nil)
				req.Header = r.Header.Clone()
				c := srv.Client()
				b.ReportAllocs()
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					resp, err := c.Do(req)
					if err != nil {
						b.Fatal(err)
					}
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
				}
				b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "req/s")
			}
		}
	}
	for _, v := range pageVariants(b) {
		b.Run(v.name, run(v.h, v.r))
	}
}

// TestMemoisedReadAllocs pins the zero-allocation memoised read that the
// benchmark measures, so a regression fails the suite and not just a
// number in a report.
func TestMemoisedReadAllocs(t *testing.T) {
	client := startBackend(t, testConfig()).NewClient(t)
	ctx := statsigmw.NewContext(context.Background(), client, statsig.User{UserID: "u"})
	statsigmw.Experiment(ctx, "exp")
	if n := testing.AllocsPerRun(100, func() { statsigmw.Experiment(ctx, "exp") }); n != 0 {
		t.Errorf("memoised Experiment allocates %v times per call, want 0", n)
	}
	mw, _ := statsigmw.New(localClient(t), statsigmw.Config{})
	noop := http.HandlerFunc(func(http.ResponseWriter, *http.Request) {})
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	r.Header.Set("Cookie", cookieName+"="+stamped(uuid.NewString()))
	w := &discardWriter{h: make(http.Header)}
	base := testing.AllocsPerRun(100, func() { baseline(noop).ServeHTTP(w, r) })
	ours := testing.AllocsPerRun(100, func() { mw.Handler(noop).ServeHTTP(w, r) })
	if ours > base+4 {
		t.Errorf("returning visitor: %v allocations, baseline %v; want at most 4 more", ours, base)
	}
}
