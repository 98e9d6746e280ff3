package redisstore_test

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/labkit/statsigmw/redisstore"
	"github.com/labkit/statsigmw/statsigtest"
	"github.com/redis/go-redis/v9"
	statsig "github.com/statsig-io/go-sdk"
)

// latencies records the duration of each operation of a benchmark and
// reports their median and 99th percentile.
type latencies []time.Duration

func (l *latencies) time(f func()) {
	start := time.Now()
	f()
	*l = append(*l, time.Since(start))
}

func (l latencies) report(b *testing.B) {
	if len(l) == 0 {
		return
	}
	sort.Slice(l, func(i, j int) bool { return l[i] < l[j] })
	b.ReportMetric(float64(l[len(l)/2].Nanoseconds()), "p50-ns")
	b.ReportMetric(float64(l[len(l)*99/100].Nanoseconds()), "p99-ns")
}

// benchOptions give calls a Timeout far above their latency, so that a
// scheduling stall of the loaded benchmark machine is measured instead of
// failing the call open.
var benchOptions = redisstore.Options{Timeout: time.Second}

// benchClients returns clients of one redis-server: one that honours
// context deadlines (the Store calls it directly) and one that does not
// (the Store waits on another goroutine).
func benchClients(b *testing.B) map[string]*redis.Client {
	r := startRedis(b)
	return map[string]*redis.Client{
		"direct":    r.Client(b),
		"goroutine": r.Client(b, func(o *redis.Options) { o.ContextTimeoutEnabled = false }),
	}
}

// BenchmarkStickyLoad: one Load of a unit with one experiment (hit) or
// none (miss), through the Store, against a plain HGETALL of the same hash
// on the same client.
func BenchmarkStickyLoad(b *testing.B) {
	for _, mode := range []string{"direct", "goroutine"} {
		rdb := benchClients(b)[mode]
		store := newStore(b, rdb, benchOptions)
		p := store.UserPersistentStorage()
		p.Save("hit:userID", expName, sticky("Blue", "blue"))
		flush(b, store)
		b.Run(mode+"/hit", func(b *testing.B) {
			b.ReportAllocs()
			var l latencies
			for i := 0; i < b.N; i++ {
				l.time(func() {
					if _, ok := p.Load("hit:userID"); !ok {
						b.Fatal("miss")
					}
				})
			}
			l.report(b)
		})
		b.Run(mode+"/miss", func(b *testing.B) {
			b.ReportAllocs()
			var l latencies
			for i := 0; i < b.N; i++ {
				l.time(func() { p.Load("miss:userID") })
			}
			l.report(b)
		})
		if mode == "direct" {
			b.Run("baseline-HGETALL", func(b *testing.B) {
				b.ReportAllocs()
				var l latencies
				ctx := context.Background()
				for i := 0; i < b.N; i++ {
					l.time(func() {
						if len(rdb.HGetAll(ctx, "statsig:sticky:hit:userID").Val()) != 1 {
							b.Fatal("miss")
						}
					})
				}
				l.report(b)
			})
		}
	}
}

// BenchmarkStickySave: one Save (field and expiry) through the Store:
// what the request pays (queueing it) and, in ns/op, the writing too.
func BenchmarkStickySave(b *testing.B) {
	for _, mode := range []string{"direct", "goroutine"} {
		store := newStore(b, benchClients(b)[mode], benchOptions)
		p := store.UserPersistentStorage()
		v := sticky("Blue", "blue")
		b.Run(mode, func(b *testing.B) {
			b.ReportAllocs()
			var l latencies
			for i := 0; i < b.N; i++ {
				key := "u" + strconv.Itoa(i%1000) + ":userID"
				l.time(func() { p.Save(key, expName, v) })
			}
			flush(b, store)
			l.report(b)
		})
	}
}

// BenchmarkStickyExperiment: what sticky reads add to one experiment
// evaluation by the SDK, for units already assigned: Load plus
// GetExperimentWithOptions against GetExperiment on a client without
// storage. Four fixed units, one per group, so both sides do the same
// evaluation work.
func BenchmarkStickyExperiment(b *testing.B) {
	r := startRedis(b)
	store := newStore(b, r.Client(b), benchOptions)
	cfg := experimentConfig(statsigtest.UnitUserID, equalWeights...)
	on := localClient(b, cfg, store)
	off := localClient(b, cfg, nil)
	var units []statsig.User
	seen := map[string]bool{}
	for i := 0; len(units) < len(groupNames); i++ {
		u := user(i)
		if g := stickyGroupOf(on, u, "userID"); !seen[g] {
			seen[g] = true
			units = append(units, u)
		}
	}
	flush(b, store)
	b.Run("sticky-off", func(b *testing.B) {
		b.ReportAllocs()
		var l latencies
		for i := 0; i < b.N; i++ {
			u := units[i%len(units)]
			l.time(func() { off.GetExperimentWithExposureLoggingDisabled(u, expName) })
		}
		l.report(b)
	})
	b.Run("sticky-on", func(b *testing.B) {
		b.ReportAllocs()
		var l latencies
		for i := 0; i < b.N; i++ {
			u := units[i%len(units)]
			l.time(func() {
				values := on.GetUserPersistedValues(u, "userID")
				on.GetExperimentWithOptions(u, expName, &statsig.GetExperimentOptions{DisableLogExposures: true, PersistedValues: values})
			})
		}
		l.report(b)
	})
}

// TestMemoryPerVisitor measures what one visitor assigned to one
// experiment costs in Redis, through the real SDK, and bounds it.
func TestMemoryPerVisitor(t *testing.T) {
	r := startRedis(t)
	rdb := r.Client(t)
	ctx := context.Background()
	store := newStore(t, rdb, redisstore.Options{})
	c := localClient(t, experimentConfig(statsigtest.UnitStableID, equalWeights...), store)

	usedMemory := func() int64 {
		for _, line := range strings.Split(rdb.Info(ctx, "memory").Val(), "\r\n") {
			if v, ok := strings.CutPrefix(line, "used_memory:"); ok {
				n, _ := strconv.ParseInt(v, 10, 64)
				return n
			}
		}
		t.Fatal("no used_memory in INFO")
		return 0
	}
	const visitors = 2000
	before := usedMemory()
	var usage int64
	for i := 0; i < visitors; i++ {
		// A cookie-sized id, as the middleware makes.
		id := fmt.Sprintf("0b4e1c1e-7a34-4a53-9f1e-%012d", i)
		u := statsig.User{UserID: id, CustomIDs: map[string]string{"stableID": id}}
		if g := stickyGroupOf(c, u, "stableID"); g == "" {
			t.Fatal("no group assigned")
		}
		flush(t, store)
		usage += rdb.MemoryUsage(ctx, "statsig:sticky:"+id+":stableID").Val()
	}
	perKey := usage / visitors
	perVisitor := (usedMemory() - before) / visitors
	value := rdb.HGet(ctx, "statsig:sticky:0b4e1c1e-7a34-4a53-9f1e-000000000000:stableID", expName).Val()
	t.Logf("one experiment per visitor: MEMORY USAGE %d B per key, used_memory %+d B per visitor; value %d B: %s",
		perKey, perVisitor, len(value), value)
	if perKey > 512 || perVisitor > 768 {
		t.Fatalf("a visitor costs %d B (MEMORY USAGE) and %d B (used_memory); the format grew", perKey, perVisitor)
	}
}
