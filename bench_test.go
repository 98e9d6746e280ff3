package statsigmw_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/google/uuid"
	statsig "github.com/statsig-io/go-sdk"

	"github.com/labkit/statsigmw"
	"github.com/labkit/statsigmw/internal/benchpage"
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

// pageVisitors are BenchmarkPage's kinds of traffic: n returning visitors
// in rotation, each with a cookie of their own, or (n = 0) a new visitor
// with no cookie at every request.
var pageVisitors = []struct {
	name string
	n    int
}{{"1", 1}, {"20000", 20_000}, {"1000000", 1_000_000}, {"new", 0}}

// pageWarmup bounds the requests that warm a page before it is timed.
const pageWarmup = 200_000

// BenchmarkPage measures the experiment page of internal/benchpage written
// three ways, each with a client of its own:
//
//   - plain: no middleware, no SDK, a fixed colour: the floor;
//   - handrolled: what a careful user writes without the middleware: parse
//     the visitor cookie or mint one and set it, build a statsig.User,
//     GetExperiment (which logs an exposure at every view);
//   - mw: statsigmw.Handler and one statsigmw.Experiment read;
//
// under traffic that looks like a site's: visitors=N for N returning
// visitors in rotation, visitors=new for a new visitor at every request.
// Each request's Cookie header is a fresh string, as net/http makes it:
// holding a million headers in the heap (about 100 MB) would make the
// collector run half as often and the pages at a million visitors look up
// to twice as fast as at 20,000. Before it is timed, each page serves one
// rotation of its visitors (at most pageWarmup requests), so that it is
// measured in its steady state: at 20,000 visitors the exposure de-dup
// cache (100,000 by default) remembers every visitor; at 1,000,000 it is
// full and each view exposes again.
//
// BENCH_APP_HEAP_MB=N holds N MB live beside the page, as an application's
// data would be (benchpage.HoldAppHeap): without it, the collector's pace
// is set by the page's own few megabytes.
//
// Sub-benchmarks of one process drift apart with the machine's speed:
// compare pages with scripts/bench-page.sh (fresh processes, interleaved
// rounds), and over loopback with scripts/bench-loopback.sh.
func BenchmarkPage(b *testing.B) {
	if mb, err := strconv.Atoi(os.Getenv("BENCH_APP_HEAP_MB")); err == nil {
		benchpage.HoldAppHeap(mb)
		defer benchpage.HoldAppHeap(0)
	}
	set := time.Now().Unix()
	for _, v := range pageVisitors {
		b.Run("visitors="+v.name, func(b *testing.B) {
			for _, name := range benchpage.Pages {
				var (
					h      http.Handler
					served int // requests so far, over every run of b
				)
				b.Run(name, func(sub *testing.B) {
					if h == nil {
						var shutdown func()
						var err error
						if h, shutdown, err = benchpage.New(name, benchpage.Options{}); err != nil {
							sub.Fatal(err)
						}
						b.Cleanup(shutdown) // the page outlives this run of sub
					}
					r := httptest.NewRequest(http.MethodGet, "/tasks", nil)
					r.Header.Set("User-Agent", benchpage.UserAgent)
					r.Header.Set("Accept-Language", benchpage.AcceptLanguage)
					cookie := []string{""}
					r.Header["Cookie"] = cookie
					w := &discardWriter{h: make(http.Header)}
					buf := make([]byte, 0, 128)
					serve := func() {
						if v.n > 0 {
							buf = benchpage.AppendCookieHeader(buf[:0], served%v.n, set)
						} else {
							buf = append(buf[:0], benchpage.NoVisitorCookie...)
						}
						cookie[0] = string(buf)
						clear(w.h)
						h.ServeHTTP(w, r)
						served++
					}
					for served < min(max(v.n, 1_000), pageWarmup) {
						serve()
					}
					sub.ReportAllocs()
					sub.ResetTimer()
					for i := 0; i < sub.N; i++ {
						serve()
					}
				})
			}
		})
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
