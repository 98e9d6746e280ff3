package main

import (
	"context"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/labkit/statsigmw"
	"github.com/labkit/statsigmw/internal/redisserver"
	"github.com/labkit/statsigmw/redisstore"
	"github.com/labkit/statsigmw/statsigtest"
)

// startRedisClient starts a redis-server for t and returns a client of it
// configured as the example configures its own.
func startRedisClient(t testing.TB) (*redisserver.Server, *redis.Client) {
	t.Helper()
	rs := redisserver.Start(t)
	rdb := redis.NewClient(&redis.Options{Addr: rs.Addr, ContextTimeoutEnabled: true})
	t.Cleanup(func() { rdb.Close() })
	return rs, rdb
}

// startStickyApp starts the app as run wires it with REDIS_URL: a client of
// backend with the Redis store as its persistent storage, and the
// middleware's sticky unit set. Its client keeps its events until
// backend.Flush.
func startStickyApp(t testing.TB, backend *statsigtest.Server, rdb *redis.Client) (*testApp, *redisstore.Store) {
	t.Helper()
	store, err := redisstore.New(rdb, redisstore.Options{Prefix: redisPrefix, Timeout: redisStickyTimeout})
	if err != nil {
		t.Fatal(err)
	}
	cfg := backend.ClientConfig()
	cfg.Options.UserPersistentStorage = store.UserPersistentStorage()
	client := newClient(t, cfg)
	h, err := newApp(appConfig{Client: client, Middleware: statsigmw.Config{StickyUnit: stickyUnit}})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(h)
	t.Cleanup(ts.Close)
	return &testApp{URL: ts.URL, Backend: backend, Client: client, handler: h}, store
}

// TestStickyOnANewInstance checks stickiness where it is easiest to lose:
// an instance that starts after the allocation changed serves a visitor
// assigned before, on its first read of the experiment. The visitor keeps
// the group, on that request and the next, Redis keeps the assignment, and
// the exposure the instance logs carries the group the visitor saw.
func TestStickyOnANewInstance(t *testing.T) {
	_, rdb := startRedisClient(t)
	backend := startBackend(t)
	newAlloc := allocation(t, movedConfig())
	a, aStore := startStickyApp(t, backend, rdb)

	// A visitor whose group the new allocation would change.
	var v fleetVisitor
	for i := 0; i < 200 && v.id == ""; i++ {
		browser := newBrowser(t)
		page := parseTasksPage(t, get(t, browser, a.URL+"/tasks"))
		if newAlloc(page.Visitor) != page.Group {
			v = fleetVisitor{browser: browser, id: page.Visitor, group: page.Group}
		}
	}
	if v.id == "" {
		t.Fatal("no visitor of 200 would move with the new allocation")
	}
	key := redisPrefix + "sticky:" + v.id + ":" + stickyUnit
	_ = aStore.Flush(context.Background()) // sticky saves are written off the request
	if !rdb.HExists(context.Background(), key, experimentName).Val() {
		t.Fatalf("no sticky value for visitor %s in Redis", v.id)
	}

	if err := backend.SetConfig(movedConfig()); err != nil {
		t.Fatal(err)
	}
	b, store := startStickyApp(t, backend, rdb) // starts with the new allocation
	for i := 1; i <= 2; i++ {
		if page := parseTasksPage(t, get(t, v.browser, b.URL+"/tasks")); page.Group != v.group {
			t.Errorf("visit %d to the new instance: visitor %s in %s, was in %s (the new allocation says %s)",
				i, v.id, page.Group, v.group, newAlloc(v.id))
		}
		_ = store.Flush(context.Background())
		if !rdb.HExists(context.Background(), key, experimentName).Val() {
			t.Errorf("visit %d to the new instance deleted visitor %s's sticky value from Redis (store counts %+v)", i, v.id, store.Stats())
		}
	}
	backend.Flush(t, b.Client)
	var n int
	for _, x := range backend.Exposures() {
		if x.User.UserID != v.id {
			continue
		}
		n++
		if x.Group != v.group {
			t.Errorf("the new instance logged visitor %s's exposure in %s; the visitor saw %s", v.id, x.Group, v.group)
		}
	}
	if n == 0 {
		t.Errorf("the new instance logged no exposure for visitor %s", v.id)
	}
}

// BenchmarkStickyTasksPage measures what sticky assignments add to the
// experiment page of a returning visitor: each iteration serves /tasks once
// by an app without sticky assignments and once by an app with them on a
// loopback redis-server, in alternating order, with the same visitors (64
// fixed ones, assigned and stored before the timer starts). It reports the
// p50 and p99 of each and what sticky adds to them, and the Redis memory
// of one visitor's sticky record (MEMORY USAGE, the mean over the visitors).
//
//	go test -run '^$' -bench StickyTasksPage -benchtime 20000x ./example
func BenchmarkStickyTasksPage(b *testing.B) {
	_, rdb := startRedisClient(b)
	backend := startBackend(b)
	off := startApp(b, false)
	on, _ := startStickyApp(b, backend, rdb)
	offH, onH := handlerOf(b, off), handlerOf(b, on)

	const visitors = 64
	cookies := make([]string, visitors)
	for i := range cookies {
		rec := httptest.NewRecorder()
		onH.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/tasks", nil))
		c := rec.Result().Cookies()
		if rec.Code != http.StatusOK || len(c) != 1 {
			b.Fatalf("a new visitor: %d, cookies %v", rec.Code, c)
		}
		cookies[i] = c[0].Name + "=" + c[0].Value
	}
	serve := func(h http.Handler, cookie string) time.Duration {
		req := httptest.NewRequest(http.MethodGet, "/tasks", nil)
		req.Header.Set("Cookie", cookie)
		rec := httptest.NewRecorder()
		t0 := time.Now()
		h.ServeHTTP(rec, req)
		d := time.Since(t0)
		if rec.Code != http.StatusOK {
			b.Fatalf("/tasks: %d", rec.Code)
		}
		return d
	}
	for _, c := range cookies { // warm both, and store every visitor's assignment
		serve(offH, c)
		serve(onH, c)
	}

	offT, onT := make([]time.Duration, 0, b.N), make([]time.Duration, 0, b.N)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		c := cookies[i%visitors]
		if i%2 == 0 {
			offT = append(offT, serve(offH, c))
			onT = append(onT, serve(onH, c))
		} else {
			onT = append(onT, serve(onH, c))
			offT = append(offT, serve(offH, c))
		}
	}
	b.StopTimer()

	slices.Sort(offT)
	slices.Sort(onT)
	q := func(s []time.Duration, p float64) float64 { return float64(s[int(p*float64(len(s)-1))].Nanoseconds()) }
	b.ReportMetric(q(offT, .5), "p50-off-ns")
	b.ReportMetric(q(onT, .5), "p50-sticky-ns")
	b.ReportMetric(q(onT, .5)-q(offT, .5), "p50-added-ns")
	b.ReportMetric(q(offT, .99), "p99-off-ns")
	b.ReportMetric(q(onT, .99), "p99-sticky-ns")
	b.ReportMetric(q(onT, .99)-q(offT, .99), "p99-added-ns")

	var bytes int64
	for _, c := range cookies {
		id := strings.TrimPrefix(c, "visitor_id=")[:36] // the UUID, before the time the cookie was set
		n, err := rdb.MemoryUsage(context.Background(), redisPrefix+"sticky:"+id+":"+stickyUnit).Result()
		if err != nil {
			b.Fatalf("MEMORY USAGE: %v", err)
		}
		bytes += n
	}
	b.ReportMetric(float64(bytes)/visitors, "redis-B/visitor")
}

// handlerOf returns the handler behind a test app's server, so that a
// benchmark can call it without the HTTP round trip.
func handlerOf(tb testing.TB, app *testApp) http.Handler {
	tb.Helper()
	if app.handler == nil {
		tb.Fatal("the app has no handler")
	}
	return app.handler
}
