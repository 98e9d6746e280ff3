package redisstore_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/labkit/statsigmw/redisstore"
	"github.com/labkit/statsigmw/statsigtest"
	"github.com/redis/go-redis/v9"
	statsig "github.com/statsig-io/go-sdk"
)

// localClient returns a client that evaluates cfg with no network, with
// store's persistent storage (nil store: none).
func localClient(tb testing.TB, cfg statsigtest.Config, store *redisstore.Store) *statsig.Client {
	tb.Helper()
	specs, err := cfg.JSON()
	if err != nil {
		tb.Fatal(err)
	}
	opts := &statsig.Options{
		LocalMode:        true,
		BootstrapValues:  string(specs),
		UAParserOptions:  statsig.UAParserOptions{Disabled: true},
		IPCountryOptions: statsig.IPCountryOptions{Disabled: true},
	}
	if store != nil {
		opts.UserPersistentStorage = store.UserPersistentStorage()
	}
	c, _ := newClient(tb, opts)
	return c
}

// TestStickyAcrossAllocationChange: after the allocation changes, units
// assigned before keep their group on another instance, and new units
// follow the new allocation.
func TestStickyAcrossAllocationChange(t *testing.T) {
	for _, unit := range []string{statsigtest.UnitUserID, statsigtest.UnitStableID} {
		for _, change := range []struct {
			name    string
			weights []float64
		}{
			{"weights moved", []float64{70, 10, 10, 10}},
			{"shrunk to one group", []float64{0, 0, 0, 100}},
		} {
			t.Run(string(unit)+"/"+change.name, func(t *testing.T) {
				r := startRedis(t)
				rdb := r.Client(t)
				beforeStore, afterStore := newStore(t, rdb, redisstore.Options{}), newStore(t, rdb, redisstore.Options{})
				before := localClient(t, experimentConfig(unit, equalWeights...), beforeStore)
				after := localClient(t, experimentConfig(unit, change.weights...), afterStore)
				// The live allocation, from a client without the store: an
				// evaluation without persisted values deletes them.
				live := localClient(t, experimentConfig(unit, change.weights...), nil)

				assigned := make([]string, users)
				for i := range assigned {
					assigned[i] = stickyGroupOf(before, user(i), string(unit))
				}
				flush(t, beforeStore)
				moved := 0
				for i, want := range assigned {
					u := user(i)
					if g, _ := groupOf(live, u); g != want {
						moved++
					}
					values := after.GetUserPersistedValues(u, string(unit))
					e := after.GetExperimentWithOptions(u, expName, &statsig.GetExperimentOptions{PersistedValues: values})
					if e.GroupName != want || e.GetString(param, "") != lower(want) {
						t.Fatalf("user %d: group %q color %q after the change; want %q as before", i, e.GroupName, e.GetString(param, ""), want)
					}
				}
				if moved < users/4 {
					t.Fatalf("the change moved %d of %d users; the test needs a change that moves many", moved, users)
				}
				for i := 1000; i < 1000+users; i++ {
					u := user(i)
					want, _ := groupOf(live, u)
					if got := stickyGroupOf(after, u, string(unit)); got != want {
						t.Fatalf("new user %d: group %q; want %q of the new allocation", i, got, want)
					}
					flush(t, afterStore)
					if got := stickyGroupOf(before, u, string(unit)); got != want {
						t.Fatalf("new user %d on the old instance: group %q; want %q saved by the new one", i, got, want)
					}
				}
			})
		}
	}
}

// TestPlainEvaluationDropsStickiness pins a behaviour of the SDK that
// callers must know: on a client with persistent storage, evaluating an
// experiment without persisted values deletes the unit's sticky value, so
// the next sticky read follows the current allocation.
func TestPlainEvaluationDropsStickiness(t *testing.T) {
	r := startRedis(t)
	rdb := r.Client(t)
	store := newStore(t, rdb, redisstore.Options{})
	before := localClient(t, experimentConfig(statsigtest.UnitUserID, equalWeights...), store)
	after := localClient(t, experimentConfig(statsigtest.UnitUserID, 0, 0, 0, 100), store)

	i := 0
	for ; stickyGroupOf(before, user(i), "userID") == "Orange"; i++ {
	}
	flush(t, store)
	u := user(i)
	if g := stickyGroupOf(after, u, "userID"); g == "Orange" {
		t.Fatal("not sticky to begin with")
	}
	deletes := store.Stats().Deletes
	groupOf(after, u) // no persisted values
	flush(t, store)
	if store.Stats().Deletes != deletes+1 {
		t.Fatal("the SDK did not call Delete")
	}
	if g := stickyGroupOf(after, u, "userID"); g != "Orange" {
		t.Fatalf("group %q after a plain evaluation; want Orange of the current allocation", g)
	}
}

func sticky(group string, param string) statsig.StickyValues {
	return statsig.StickyValues{
		RuleID:    "rule-" + group,
		GroupName: group,
		JsonValue: map[string]interface{}{"color": param},
		Time:      1700000000000,
		SecondaryExposures: []statsig.SecondaryExposure{
			{Gate: "g", GateValue: "true", RuleID: "r"},
		},
	}
}

// jsonEqual compares values as JSON, the form they are stored in.
func jsonEqual(a, b interface{}) bool {
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	return string(ja) == string(jb)
}

func TestStickyRoundTrip(t *testing.T) {
	r := startRedis(t)
	rdb := r.Client(t)
	store := newStore(t, rdb, redisstore.Options{Prefix: "p:"})
	p := store.UserPersistentStorage()
	ctx := context.Background()

	if v, ok := p.Load("nobody:userID"); ok || v != nil {
		t.Fatalf("Load of an unknown key = %v, %v; want nil, false", v, ok)
	}
	a, b := sticky("Blue", "blue"), sticky("Red", "red")
	p.Save("u1:userID", "exp_a", a)
	p.Save("u1:userID", "exp_b", b)
	p.Save("u1:stableID", "exp_a", b)
	flush(t, store)
	got, ok := p.Load("u1:userID")
	want := statsig.UserPersistedValues{"exp_a": a, "exp_b": b}
	if !ok || !jsonEqual(got, want) {
		t.Fatalf("Load = %v, %v; want %v", got, ok, want)
	}
	if fields := rdb.HKeys(ctx, "p:sticky:u1:userID").Val(); len(fields) != 2 {
		t.Fatalf("hash fields %v; want exp_a and exp_b", fields)
	}
	p.Delete("u1:userID", "exp_a")
	flush(t, store)
	if got, _ := p.Load("u1:userID"); !jsonEqual(got, statsig.UserPersistedValues{"exp_b": b}) {
		t.Fatalf("after Delete: %v", got)
	}
	p.Delete("u1:userID", "exp_b")
	flush(t, store)
	if n := rdb.Exists(ctx, "p:sticky:u1:userID").Val(); n != 0 {
		t.Fatal("the hash outlived its last field")
	}
	if got, _ := p.Load("u1:stableID"); !jsonEqual(got, statsig.UserPersistedValues{"exp_a": b}) {
		t.Fatalf("another id type's values: %v", got)
	}
	st := store.Stats()
	if st.Loads != 4 || st.Saves != 3 || st.Deletes != 2 || st.Failures != 0 {
		t.Fatalf("Stats = %+v", st)
	}
}

func TestStickyTTL(t *testing.T) {
	r := startRedis(t)
	rdb := r.Client(t)
	const ttl = time.Hour
	store := newStore(t, rdb, redisstore.Options{TTL: ttl})
	p := store.UserPersistentStorage()
	ctx := context.Background()
	const key = "statsig:sticky:u:userID"
	pttl := func() time.Duration { flush(t, store); return rdb.PTTL(ctx, key).Val() }
	fresh := func(d time.Duration) bool { return d > ttl-time.Minute && d <= ttl }

	p.Save("u:userID", "exp", sticky("Blue", "blue"))
	if d := pttl(); !fresh(d) {
		t.Fatalf("expiry after Save %v; want %v", d, ttl)
	}
	// An old record: a read brings it back to the full TTL.
	rdb.PExpire(ctx, key, 10*time.Minute)
	if _, ok := p.Load("u:userID"); !ok {
		t.Fatal("Load found nothing")
	}
	if d := pttl(); !fresh(d) {
		t.Fatalf("expiry after reading an old record %v; want %v", d, ttl)
	}
	// A recently refreshed record (within TTL/16): reads do not write.
	rdb.PExpire(ctx, key, ttl-2*time.Minute)
	p.Load("u:userID")
	if d := pttl(); d > ttl-2*time.Minute {
		t.Fatalf("expiry after reading a fresh record %v; want it untouched", d)
	}
	// A Save always sets the full TTL.
	p.Save("u:userID", "exp2", sticky("Red", "red"))
	if d := pttl(); !fresh(d) {
		t.Fatalf("expiry after a second Save %v; want %v", d, ttl)
	}
}

func TestStickyKeys(t *testing.T) {
	r := startRedis(t)
	rdb := r.Client(t)
	const maxKey = 64
	store := newStore(t, rdb, redisstore.Options{Prefix: "k:", MaxKeyBytes: maxKey})
	p := store.UserPersistentStorage()
	ctx := context.Background()

	long := strings.Repeat("x", 10000)
	atMax := strings.Repeat("y", maxKey-len(":userID")) + ":userID"
	keys := []string{
		long + "a:userID",
		long + "b:userID", // differs from the first after the bound
		atMax,
		"ünïcode\x00\xff:stableID",
		"a:b:c:userID", // the unit id may hold colons
	}
	for i, k := range keys {
		p.Save(k, "exp", sticky(fmt.Sprint("G", i), "c"))
	}
	flush(t, store)
	for i, k := range keys {
		got, ok := p.Load(k)
		if !ok || got["exp"].GroupName != fmt.Sprint("G", i) {
			t.Fatalf("key %d (%d bytes): Load = %v, %v; want group G%d", i, len(k), got, ok, i)
		}
	}
	stored := rdb.Keys(ctx, "*").Val()
	if len(stored) != len(keys) {
		t.Fatalf("Redis holds %d keys; want %d", len(stored), len(keys))
	}
	hashed := 0
	for _, k := range stored {
		if len(k) > len("k:sticky:")+maxKey {
			t.Fatalf("key of %d bytes stored: %.40q...", len(k), k)
		}
		if strings.HasPrefix(k, "k:sticky#") {
			hashed++
		}
	}
	if hashed != 2 {
		t.Fatalf("%d keys hashed; want the 2 over-long ones", hashed)
	}
	if rdb.Exists(ctx, "k:sticky:"+atMax).Val() != 1 {
		t.Fatal("a key of exactly MaxKeyBytes was not stored as it is")
	}

	// Keys without a unit id would put every id-less user in one record.
	before := store.Stats().Rejected
	for _, k := range []string{":userID", "", "nocolon", "unit:"} {
		p.Save(k, "exp", sticky("Blue", "blue"))
		if v, ok := p.Load(k); ok || v != nil {
			t.Fatalf("Load(%q) = %v, %v; want nil, false", k, v, ok)
		}
		p.Delete(k, "exp")
	}
	flush(t, store)
	if got := store.Stats().Rejected - before; got != 12 {
		t.Fatalf("Rejected grew by %d; want 12", got)
	}
	if n := len(rdb.Keys(ctx, "*").Val()); n != len(keys) {
		t.Fatalf("rejected keys were stored: %d keys", n)
	}
}

func TestStickyCorruptValues(t *testing.T) {
	r := startRedis(t)
	rdb := r.Client(t)
	ctx := context.Background()
	store := newStore(t, rdb, redisstore.Options{})
	p := store.UserPersistentStorage()
	good := sticky("Blue", "blue")
	p.Save("u:userID", "good", good)
	flush(t, store)
	const key = "statsig:sticky:u:userID"
	rdb.HSet(ctx, key, "garbage", "{not json", "null", "null", "empty", "{}", "wrong type", `{"group_name":7}`)

	got, ok := p.Load("u:userID")
	if !ok || !jsonEqual(got, statsig.UserPersistedValues{"good": good}) {
		t.Fatalf("Load = %v, %v; want only the good value", got, ok)
	}
	if n := store.Stats().Corrupt; n != 4 {
		t.Fatalf("Corrupt = %d; want 4", n)
	}
	// Repaired: the undecodable values are deleted, so that the SDK's next
	// save (which never replaces a stored value) can store a good one.
	flush(t, store)
	if fields := rdb.HKeys(ctx, key).Val(); len(fields) != 1 || fields[0] != "good" {
		t.Fatalf("fields after the repair %v; want only the good one", fields)
	}
	p.Save("u:userID", "garbage", sticky("Red", "red"))
	flush(t, store)
	if got, _ := p.Load("u:userID"); got["garbage"].GroupName != "Red" {
		t.Fatalf("a save after the repair stored %v; want group Red", got["garbage"])
	}
	// A repair never deletes a value written after the Load that found the
	// bad one.
	rdb.HSet(ctx, key, "late", "{bad")
	p.Load("u:userID")
	rdb.HSet(ctx, key, "late", `{"rule_id":"r","group_name":"Late"}`)
	flush(t, store)
	if got, _ := p.Load("u:userID"); got["late"].GroupName != "Late" {
		t.Fatalf("the repair deleted a value written after the Load: %v", got)
	}

	// A key of another type is Redis answering with an error: a failure of
	// this call only.
	rdb.Set(ctx, "statsig:sticky:s:userID", "a string", 0)
	if _, ok := p.Load("s:userID"); ok {
		t.Fatal("Load of a string key found values")
	}
	if got, ok := p.Load("u:userID"); !ok || len(got) != 3 {
		t.Fatalf("the next Load = %v, %v; want the 3 good values: a WRONGTYPE reply must not trip the breaker", got, ok)
	}
	if st := store.Stats(); st.Failures != 1 || st.Skipped != 0 {
		t.Fatalf("Failures %d, Skipped %d; want 1, 0", st.Failures, st.Skipped)
	}
}

// TestStickyConcurrent: many goroutines save different experiments of the
// same units; none is lost (one hash field per experiment).
func TestStickyConcurrent(t *testing.T) {
	r := startRedis(t)
	store := newStore(t, r.Client(t), redisstore.Options{Timeout: 10 * time.Second})
	p := store.UserPersistentStorage()
	const workers, units = 8, 20
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			exp := fmt.Sprint("exp", w)
			for u := 0; u < units; u++ {
				key := fmt.Sprintf("unit%d:userID", u)
				p.Save(key, exp, sticky(fmt.Sprint("G", w), "c"))
				p.Save(key, "scratch", sticky("S", "c"))
				p.Load(key)
				p.Delete(key, "scratch")
			}
		}(w)
	}
	wg.Wait()
	flush(t, store)
	for u := 0; u < units; u++ {
		got, _ := p.Load(fmt.Sprintf("unit%d:userID", u))
		if len(got) != workers {
			t.Fatalf("unit %d holds %d experiments; want %d", u, len(got), workers)
		}
		for w := 0; w < workers; w++ {
			if g := got[fmt.Sprint("exp", w)].GroupName; g != fmt.Sprint("G", w) {
				t.Fatalf("unit %d exp%d: group %q", u, w, g)
			}
		}
	}
}

// TestStickyRedisFailure: with Redis dead or hung, and a client whose own
// timeouts are an hour, every call returns after Timeout, the SDK serves
// the live assignment, and calls within Cooldown of a failure are skipped
// without waiting. Once Redis is back, calls succeed again.
func TestStickyRedisFailure(t *testing.T) {
	for _, tc := range []struct {
		name          string
		hang          bool
		clientTimeout bool
	}{
		{"killed", false, true},
		{"hung", true, true},
		{"hung, client ignores context deadlines", true, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := startRedis(t)
			rdb := r.Client(t, func(o *redis.Options) {
				o.ContextTimeoutEnabled = tc.clientTimeout
				o.DialTimeout, o.ReadTimeout, o.WriteTimeout, o.PoolTimeout = time.Hour, time.Hour, time.Hour, time.Hour
			})
			const timeout = 100 * time.Millisecond
			open := newStore(t, rdb, redisstore.Options{Timeout: timeout, Cooldown: time.Hour})
			p := open.UserPersistentStorage()
			p.Save("u:userID", "exp", sticky("Blue", "blue"))
			flush(t, open)
			if _, ok := p.Load("u:userID"); !ok {
				t.Fatal("Load before the failure found nothing")
			}

			if tc.hang {
				r.Pause(t)
				defer r.Resume(t)
			} else {
				r.Kill()
			}
			// The bound names the failure: without the Store's timeout the
			// call would wait an hour.
			start := time.Now()
			v, ok := p.Load("u:userID")
			if took := time.Since(start); took > 50*timeout {
				t.Fatalf("Load took %v with Timeout %v", took, timeout)
			}
			if ok || v != nil {
				t.Fatalf("Load = %v, %v; want nil, false", v, ok)
			}
			p.Save("u:userID", "exp", sticky("Red", "red"))
			p.Delete("u:userID", "exp")
			flush(t, open) // the writes are skipped, in one batch or two
			p.Load("u:userID")
			if st := open.Stats(); st.Failures != 1 || st.Skipped < 2 || st.Lost != 2 {
				t.Fatalf("Failures %d, Skipped %d, Lost %d; want 1 failure, then the writes and the Load skipped, the 2 writes lost",
					st.Failures, st.Skipped, st.Lost)
			}

			// The SDK serves the live group.
			c := localClient(t, experimentConfig(statsigtest.UnitUserID, equalWeights...), open)
			live, _ := groupOf(c, user(7))
			if got := stickyGroupOf(c, user(7), "userID"); got == "" || got != live {
				t.Fatalf("group %q with Redis down; want the live %q", got, live)
			}

			if !tc.hang {
				return
			}
			r.Resume(t)
			probing := newStore(t, rdb, redisstore.Options{Timeout: timeout, Cooldown: 10 * time.Millisecond})
			await(t, "a Load to succeed after Redis resumed", func() bool {
				v, ok := probing.UserPersistentStorage().Load("u:userID")
				return ok && v["exp"].GroupName == "Blue"
			})
		})
	}
}

func TestNewRejectsBadOptions(t *testing.T) {
	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1"})
	defer rdb.Close()
	for _, tc := range []struct {
		name string
		opts redisstore.Options
	}{
		{"negative Timeout", redisstore.Options{Timeout: -1}},
		{"negative ConfigTimeout", redisstore.Options{ConfigTimeout: -time.Second}},
		{"negative Cooldown", redisstore.Options{Cooldown: -time.Second}},
		{"negative TTL", redisstore.Options{TTL: -time.Hour}},
		{"TTL below 1ms", redisstore.Options{TTL: time.Microsecond}},
		{"negative MaxKeyBytes", redisstore.Options{MaxKeyBytes: -1}},
	} {
		if s, err := redisstore.New(rdb, tc.opts); err == nil || s != nil {
			t.Errorf("%s: New = %v, %v; want an error", tc.name, s, err)
		} else if !strings.HasPrefix(err.Error(), "redisstore: ") {
			t.Errorf("%s: error %q lacks the package name", tc.name, err)
		}
	}
	if _, err := redisstore.New(nil, redisstore.Options{}); err == nil {
		t.Error("New(nil) succeeded")
	}
	var typed *redis.Client
	if _, err := redisstore.New(typed, redisstore.Options{}); err == nil {
		t.Error("New with a nil *redis.Client succeeded")
	}
	if _, err := redisstore.New(rdb, redisstore.Options{}); err != nil {
		t.Errorf("New with zero Options: %v", err)
	}
}
