package redisstore_test

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/labkit/statsigmw/redisstore"
	"github.com/labkit/statsigmw/statsigtest"
	"github.com/redis/go-redis/v9"
	statsig "github.com/statsig-io/go-sdk"
)

// Tests of the faults a real Redis has: a pause (SIGSTOP), a FLUSHALL, a
// restart without persistence, eviction, values that are not ours, error
// replies, and a slow network (a delaying proxy).

// experimentsConfig returns a config of n experiments named expName,
// expName_2, ..., each like experimentConfig's.
func experimentsConfig(n int, unit string, weights ...float64) statsigtest.Config {
	one := experimentConfig(unit, weights...).Experiments[0]
	var cfg statsigtest.Config
	for i := 0; i < n; i++ {
		e := one
		if i > 0 {
			e.Name = fmt.Sprintf("%s_%d", expName, i+1)
		}
		cfg.Experiments = append(cfg.Experiments, e)
	}
	return cfg
}

// page reads the named experiments for u with the values loaded for
// unit, as a request of the middleware does, and returns the groups.
func page(c *statsig.Client, u statsig.User, unit string, names ...string) []string {
	values := c.GetUserPersistedValues(u, unit)
	groups := make([]string, len(names))
	for i, name := range names {
		groups[i] = c.GetExperimentWithOptions(u, name, &statsig.GetExperimentOptions{
			DisableLogExposures: true, PersistedValues: values,
		}).GroupName
	}
	return groups
}

// TestStallKeepsStoredGroups is the scenario: a visitor assigned
// to a group, the allocation moved to another, Redis paused for one Load,
// and a request that reads two experiments, the second after the
// fail-fast cooldown. The stored groups stay, and the next request shows
// them.
func TestStallKeepsStoredGroups(t *testing.T) {
	r := startRedis(t)
	rdb := r.Client(t)
	const cooldown = 100 * time.Millisecond
	store := newStore(t, rdb, redisstore.Options{Timeout: 100 * time.Millisecond, Cooldown: cooldown})
	names := []string{expName, expName + "_2"}
	before := localClient(t, experimentsConfig(2, statsigtest.UnitUserID, equalWeights...), store)
	after := localClient(t, experimentsConfig(2, statsigtest.UnitUserID, 0, 0, 0, 100), store)

	var u statsig.User
	var want []string
	for i := 0; want == nil; i++ {
		g := page(before, user(i), "userID", names...)
		if g[0] != "Orange" && g[1] != "Orange" {
			u, want = user(i), g
		}
	}
	flush(t, store)

	r.Pause(t)
	values := after.GetUserPersistedValues(u, "userID") // times out
	r.Resume(t)
	if len(values) != 0 {
		t.Fatalf("the Load with Redis paused found %v", values)
	}
	read := func(name string) string {
		return after.GetExperimentWithOptions(u, name, &statsig.GetExperimentOptions{
			DisableLogExposures: true, PersistedValues: values,
		}).GroupName
	}
	if g := read(names[0]); g != "Orange" {
		t.Fatalf("first read: %q; want the live Orange", g)
	}
	// The scenario: the second read comes after the fail-fast cooldown,
	// so its save reaches Redis.
	time.Sleep(2 * cooldown)
	if g := read(names[1]); g != "Orange" {
		t.Fatalf("second read: %q; want the live Orange", g)
	}
	flush(t, store)

	if got := page(after, u, "userID", names...); got[0] != want[0] || got[1] != want[1] {
		t.Fatalf("groups %v after the stall; want %v as stored before it", got, want)
	}
}

// TestConfigRestored: after each fault that loses or spoils the stored
// config, the writer puts its config back within a few check intervals,
// and a new instance that cannot reach Statsig starts from it.
func TestConfigRestored(t *testing.T) {
	const interval = 50 * time.Millisecond
	for _, fault := range []struct {
		name    string
		invalid bool // counted as an invalid stored config
		do      func(t *testing.T, r *redisServer, rdb *redis.Client, key string)
	}{
		{"FLUSHALL", false, func(t *testing.T, r *redisServer, rdb *redis.Client, key string) {
			rdb.FlushAll(context.Background())
		}},
		{"restart without persistence", false, func(t *testing.T, r *redisServer, rdb *redis.Client, key string) {
			r.Restart(t)
		}},
		{"allkeys-lru eviction", false, func(t *testing.T, r *redisServer, rdb *redis.Client, key string) {
			evict(t, rdb, key)
		}},
		{"garbage time", true, func(t *testing.T, r *redisServer, rdb *redis.Client, key string) {
			rdb.HSet(context.Background(), key, "time", "garbage")
		}},
		{"a string instead of the hash", true, func(t *testing.T, r *redisServer, rdb *redis.Client, key string) {
			rdb.Set(context.Background(), key, "garbage", 0)
		}},
		{"another project's config dated in the future", true, func(t *testing.T, r *redisServer, rdb *redis.Client, key string) {
			future := time.Now().Add(24 * time.Hour).UnixMilli()
			rdb.HSet(context.Background(), key, "time", future,
				"value", fmt.Sprintf(`{"has_updates":true,"time":%d,"feature_gates":[],"dynamic_configs":[],"layer_configs":[]}`, future))
		}},
	} {
		t.Run(fault.name, func(t *testing.T) {
			r := startRedis(t)
			rdb := r.Client(t)
			store := newStore(t, rdb, redisstore.Options{ConfigCheckInterval: interval, ConfigTimeout: 200 * time.Millisecond, Cooldown: interval})
			srv := startBackend(t, experimentConfig(statsigtest.UnitUserID, equalWeights...))
			if _, details := newClient(t, clientOptions(srv, store)); !details.Success {
				t.Fatalf("writer did not initialise: %v", details.Error)
			}
			key := "statsig:" + statsig.CONFIG_SPECS_KEY
			ctx := context.Background()
			await(t, "the config in Redis", func() bool { return rdb.HExists(ctx, key, "value").Val() })
			want := rdb.HGet(ctx, key, "time").Val()

			fault.do(t, r, rdb, key)
			start := time.Now()
			await(t, "the config restored", func() bool {
				return rdb.HGet(ctx, key, "time").Val() == want
			})
			t.Logf("restored in %v (check interval %v)", time.Since(start).Round(time.Millisecond), interval)
			st := store.Stats()
			if st.ConfigRewrites == 0 {
				t.Errorf("ConfigRewrites = 0 after a rewrite")
			}
			if fault.invalid && st.ConfigInvalid == 0 {
				t.Errorf("ConfigInvalid = 0 after replacing an invalid config")
			}

			// An instance that starts while Statsig is unreachable serves it.
			opts := clientOptions(srv, newStore(t, rdb, redisstore.Options{}))
			opts.API = refusedURL(t)
			c, details := newClient(t, opts)
			if details.Source != statsig.SourceDataAdapter {
				t.Fatalf("new instance started from %v; want %v", details.Source, statsig.SourceDataAdapter)
			}
			if g, _ := groupOf(c, user(0)); g == "" {
				t.Fatal("new instance serves defaults")
			}
		})
	}
}

// evict makes Redis evict key under allkeys-lru, as a full cache does.
func evict(t *testing.T, rdb *redis.Client, key string) {
	t.Helper()
	ctx := context.Background()
	var used int64
	for _, line := range strings.Split(rdb.Info(ctx, "memory").Val(), "\r\n") {
		if v, ok := strings.CutPrefix(line, "used_memory:"); ok {
			fmt.Sscan(v, &used)
		}
	}
	rdb.ConfigSet(ctx, "maxmemory-policy", "allkeys-lru")
	rdb.ConfigSet(ctx, "maxmemory", fmt.Sprint(used+512<<10))
	filler := strings.Repeat("x", 8<<10)
	for i := 0; rdb.Exists(ctx, key).Val() == 1; i++ {
		if i == 100000 {
			t.Fatal("the config key was not evicted")
		}
		rdb.Set(ctx, fmt.Sprint("filler:", i), filler, 0)
	}
	// Room again, so that the rewrite is not evicted in turn.
	rdb.ConfigSet(ctx, "maxmemory", "0")
}

// TestConfigDataErrorsKeepStickyCalls: a stored config whose time does not
// parse is a fault of that value, not of Redis: writing over it does not
// make sticky calls fail fast. Neither does a config call that timed out.
func TestConfigDataErrorsKeepStickyCalls(t *testing.T) {
	r := startRedis(t)
	rdb := r.Client(t)
	ctx := context.Background()
	store := newStore(t, rdb, redisstore.Options{Cooldown: time.Hour, ConfigTimeout: 100 * time.Millisecond})
	p := store.UserPersistentStorage()
	p.Save("u:userID", expName, sticky("Blue", "blue"))
	flush(t, store)
	key := "statsig:" + statsig.CONFIG_SPECS_KEY

	rdb.HSet(ctx, key, "time", "garbage", "value", "garbage")
	a := store.DataAdapter()
	a.Set(statsig.CONFIG_SPECS_KEY, `{"has_updates":true,"time":5}`)
	a.Shutdown() // waits for the write
	if _, ok := p.Load("u:userID"); !ok {
		t.Fatalf("sticky Load after writing over a garbage config found nothing (%+v)", store.Stats())
	}
	if got := rdb.HGet(ctx, key, "time").Val(); got != "5" {
		t.Fatalf("stored time %q; want the garbage replaced by 5", got)
	}

	r.Pause(t)
	a.Get(statsig.CONFIG_SPECS_KEY) // times out
	r.Resume(t)
	if _, ok := p.Load("u:userID"); !ok {
		t.Fatalf("sticky Load after a config read timed out found nothing (%+v)", store.Stats())
	}
	if st := store.Stats(); st.Skipped != 0 {
		t.Fatalf("Skipped = %d; want sticky calls unaffected by config trouble", st.Skipped)
	}
}

// TestPollRedisFetchesOnlyChanges: a PollRedis instance polling an
// unchanged config reads its time, not the config, at each poll.
func TestPollRedisFetchesOnlyChanges(t *testing.T) {
	r := startRedis(t)
	rdb := r.Client(t)
	cfg := experimentConfig(statsigtest.UnitUserID, equalWeights...)
	cfg.Experiments[0].Defaults["padding"] = strings.Repeat("p", 200<<10)
	srv := startBackend(t, cfg)
	writer, details := newClient(t, clientOptions(srv, newStore(t, rdb, redisstore.Options{})))
	if !details.Success {
		t.Fatalf("writer did not initialise: %v", details.Error)
	}
	writer.Shutdown()
	size := int64(len(rdb.HGet(context.Background(), "statsig:"+statsig.CONFIG_SPECS_KEY, "value").Val()))

	px := startProxy(t, r.Addr, 0)
	prdb := redis.NewClient(&redis.Options{Addr: px.Addr, ContextTimeoutEnabled: true})
	t.Cleanup(func() { prdb.Close() })
	opts := clientOptions(srv, newStore(t, prdb, redisstore.Options{PollRedis: true}))
	opts.API = refusedURL(t)
	opts.ConfigSyncInterval = 10 * time.Millisecond
	opts.IDListSyncInterval = time.Hour
	follower, details := newClient(t, opts)
	if details.Source != statsig.SourceDataAdapter {
		t.Fatalf("follower started from %v", details.Source)
	}
	calls := func() int64 {
		var n int64
		for _, line := range strings.Split(rdb.Info(context.Background(), "commandstats").Val(), "\r\n") {
			for _, cmd := range []string{"hget", "hmget"} {
				if v, ok := strings.CutPrefix(line, "cmdstat_"+cmd+":calls="); ok {
					var c int64
					fmt.Sscan(strings.SplitN(v, ",", 2)[0], &c)
					n += c
				}
			}
		}
		return n
	}
	first := calls()
	await(t, "20 polls", func() bool { return calls() >= first+20 })
	follower.Shutdown()
	if got := px.FromServer(); got > 3*size {
		t.Fatalf("the follower read %d bytes over 20 polls of an unchanged %d-byte config; want about one config", got, size)
	}
}

// TestStickyWritesOffTheRequest: a new visitor's page reading 5 sticky
// experiments waits for one Redis round trip, its Load: the saves are
// held back by the network (a proxy holding them) and the page neither
// waits for them nor loses them.
func TestStickyWritesOffTheRequest(t *testing.T) {
	r := startRedis(t)
	px := startProxy(t, r.Addr, 0)
	rdb := redis.NewClient(&redis.Options{Addr: px.Addr, ContextTimeoutEnabled: true})
	t.Cleanup(func() { rdb.Close() })
	store := newStore(t, rdb, redisstore.Options{Timeout: 2 * time.Second, Cooldown: time.Hour})
	c := localClient(t, experimentsConfig(5, statsigtest.UnitUserID, equalWeights...), store)
	names := []string{expName, expName + "_2", expName + "_3", expName + "_4", expName + "_5"}
	u := user(1)

	values := c.GetUserPersistedValues(u, "userID") // the one round trip
	px.Hold()
	for _, name := range names {
		c.GetExperimentWithOptions(u, name, &statsig.GetExperimentOptions{DisableLogExposures: true, PersistedValues: values})
	}
	st := store.Stats()
	px.Release()
	if st.Failures != 0 || st.Skipped != 0 || st.Saves != 5 {
		t.Fatalf("the page's saves waited for Redis: %+v", st)
	}
	flush(t, store)
	if got := page(c, u, "userID", names...); len(got) != 5 {
		t.Fatal("no groups")
	}
	if n := len(r.Client(t).HKeys(context.Background(), "statsig:sticky:"+u.UserID+":userID").Val()); n != 5 {
		t.Fatalf("%d of 5 saves stored", n)
	}
}

// BenchmarkSlowRedisPage: a new visitor's page reading 5 sticky
// experiments with a Redis 40 ms away (a delaying proxy).
//
//	go test -run '^$' -bench SlowRedisPage -benchtime 10x ./redisstore
func BenchmarkSlowRedisPage(b *testing.B) {
	r := startRedis(b)
	px := startProxy(b, r.Addr, 40*time.Millisecond)
	rdb := redis.NewClient(&redis.Options{Addr: px.Addr, ContextTimeoutEnabled: true})
	b.Cleanup(func() { rdb.Close() })
	store := newStore(b, rdb, redisstore.Options{Timeout: time.Second})
	c := localClient(b, experimentsConfig(5, statsigtest.UnitUserID, equalWeights...), store)
	names := []string{expName, expName + "_2", expName + "_3", expName + "_4", expName + "_5"}
	page(c, user(0), "userID", names...) // connections made
	b.ReportAllocs()
	b.ResetTimer()
	var worst time.Duration
	for i := 0; i < b.N; i++ {
		start := time.Now()
		page(c, user(1000+i), "userID", names...)
		worst = max(worst, time.Since(start))
	}
	b.StopTimer()
	b.ReportMetric(float64(worst.Milliseconds()), "worst-ms")
}

// TestOlderPendingWriteNeverWins: two clients share a Store and Set
// versions out of order while Redis is paused: the newer one ends up in
// Redis.
func TestOlderPendingWriteNeverWins(t *testing.T) {
	r := startRedis(t)
	rdb := r.Client(t)
	store := newStore(t, rdb, redisstore.Options{ConfigTimeout: 200 * time.Millisecond, Cooldown: 50 * time.Millisecond})
	a := store.DataAdapter()
	r.Pause(t)
	a.Set(statsig.CONFIG_SPECS_KEY, `{"has_updates":true,"time":200}`)
	a.Set(statsig.CONFIG_SPECS_KEY, `{"has_updates":true,"time":100}`)
	await(t, "the write of 200 to time out", func() bool { return store.Stats().ConfigFailures >= 1 })
	r.Resume(t)
	await(t, "a config in Redis", func() bool {
		return rdb.HExists(context.Background(), "statsig:"+statsig.CONFIG_SPECS_KEY, "time").Val()
	})
	a.Shutdown()
	if got := rdb.HGet(context.Background(), "statsig:"+statsig.CONFIG_SPECS_KEY, "time").Val(); got != "200" {
		t.Fatalf("stored time %s; want 200, the newer Set", got)
	}
}

// TestWriterEndsAtShutdown: a Set that arrives after Shutdown, with Redis
// down, is tried once; no writer goes on retrying.
func TestWriterEndsAtShutdown(t *testing.T) {
	r := startRedis(t)
	rdb := r.Client(t)
	store := newStore(t, rdb, redisstore.Options{ConfigTimeout: 100 * time.Millisecond, Cooldown: 10 * time.Millisecond})
	a := store.DataAdapter()
	a.Set(statsig.CONFIG_SPECS_KEY, `{"time":1}`)
	a.Shutdown()
	r.Kill()
	a.Set(statsig.CONFIG_SPECS_KEY, `{"time":2}`) // late, from a poll under way
	await(t, "the late write to fail", func() bool { return store.Stats().ConfigFailures >= 1 })
	if redisstore.ConfigWriterRunning(store) {
		t.Fatal("a config writer runs after Shutdown")
	}
}

// lineCounter is a slog handler that counts records by message.
type lineCounter struct {
	mu sync.Mutex
	n  map[string]int
}

func (l *lineCounter) Enabled(context.Context, slog.Level) bool { return true }
func (l *lineCounter) Handle(_ context.Context, r slog.Record) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.n[r.Message]++
	return nil
}
func (l *lineCounter) WithAttrs([]slog.Attr) slog.Handler { return l }
func (l *lineCounter) WithGroup(string) slog.Handler      { return l }

func (l *lineCounter) total() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, c := range l.n {
		n += c
	}
	return n
}

// TestErrorRepliesRateLimited: Redis answering every call with an error
// (WRONGTYPE, OOM) is logged a few times, not once per call.
func TestErrorRepliesRateLimited(t *testing.T) {
	r := startRedis(t)
	rdb := r.Client(t)
	ctx := context.Background()
	lines := &lineCounter{n: map[string]int{}}
	// A Timeout no loaded host reaches: the calls must fail by Redis's
	// answer, not time out and fail fast.
	store := newStore(t, rdb, redisstore.Options{Logger: slog.New(lines), Timeout: 5 * time.Second})
	p := store.UserPersistentStorage()
	rdb.Set(ctx, "statsig:sticky:s:userID", "a string", 0)
	rdb.ConfigSet(ctx, "maxmemory", "1")
	rdb.ConfigSet(ctx, "maxmemory-policy", "noeviction")
	const calls = 1000
	for i := 0; i < calls; i++ {
		p.Load("s:userID")                                            // WRONGTYPE
		p.Save(fmt.Sprintf("u%d:userID", i), "exp", sticky("B", "b")) // OOM
	}
	flush(t, store)
	st := store.Stats()
	if st.Failures < calls+1 {
		t.Fatalf("Failures = %d; want at least %d (%+v)", st.Failures, calls+1, st)
	}
	if n := lines.total(); n > 10 {
		t.Fatalf("%d log lines for %d failed calls: %v", n, st.Failures, lines.n)
	}
}

// TestStickyUnitMismatchWarns: loading the values of one id type while
// the experiment buckets on another saves values nobody reads; the Store
// says so, once.
func TestStickyUnitMismatchWarns(t *testing.T) {
	r := startRedis(t)
	lines := &lineCounter{n: map[string]int{}}
	store := newStore(t, r.Client(t), redisstore.Options{Logger: slog.New(lines)})
	c := localClient(t, experimentConfig(statsigtest.UnitStableID, equalWeights...), store)
	for i := 0; i < 20; i++ {
		stickyGroupOf(c, user(i), "userID")
	}
	warned := 0
	for msg, n := range lines.n {
		if strings.Contains(msg, "id type") {
			warned += n
		}
	}
	if warned != 1 {
		t.Fatalf("%d warnings about the id type; want 1 (log: %v)", warned, lines.n)
	}
}
