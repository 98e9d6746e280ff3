package redisstore_test

import (
	"context"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/labkit/statsigmw/redisstore"
	"github.com/labkit/statsigmw/statsigtest"
	"github.com/redis/go-redis/v9"
	statsig "github.com/statsig-io/go-sdk"
)

// TestFaultFigures measures what a fleet's visitors see under three
// faults, with the Store's default options; it logs its figures and runs
// only with REDISSTORE_FIGURES=1 (about a minute):
//
//	REDISSTORE_FIGURES=1 go test -run TestFaultFigures -v ./redisstore
//
// SIGSTOP: 400 visitors assigned to two experiments, the allocation moved
// to one group, 4 workers serving pages (Load and both reads) for 3 s
// while Redis is paused 60 ms every 300 ms: the worst page and the stored
// groups that changed. FLUSHALL: the time until the config is back in
// Redis, for an instance polling Statsig every second. Slow Redis: new
// visitors' pages reading 5 sticky experiments through a proxy adding
// 40 ms per round trip.
func TestFaultFigures(t *testing.T) {
	if os.Getenv("REDISSTORE_FIGURES") != "1" {
		t.Skip("set REDISSTORE_FIGURES=1 to measure")
	}
	t.Run("SIGSTOP", func(t *testing.T) {
		r := startRedis(t)
		rdb := r.Client(t)
		store := newStore(t, rdb, redisstore.Options{})
		names := []string{expName, expName + "_2"}
		before := localClient(t, experimentsConfig(2, statsigtest.UnitUserID, equalWeights...), store)
		after := localClient(t, experimentsConfig(2, statsigtest.UnitUserID, 0, 0, 0, 100), store)
		const visitors = 400
		assigned := make([][]string, visitors)
		for i := range assigned {
			assigned[i] = page(before, user(i), "userID", names...)
		}
		flush(t, store)

		stop := make(chan struct{})
		var wg sync.WaitGroup
		var worst atomic.Int64
		var pages atomic.Int64
		for w := 0; w < 4; w++ {
			wg.Add(1)
			go func(w int) {
				defer wg.Done()
				for i := w; ; i = (i + 4) % visitors {
					select {
					case <-stop:
						return
					default:
					}
					start := time.Now()
					page(after, user(i), "userID", names...)
					d := int64(time.Since(start))
					pages.Add(1)
					for {
						old := worst.Load()
						if d <= old || worst.CompareAndSwap(old, d) {
							break
						}
					}
				}
			}(w)
		}
		for end := time.Now().Add(3 * time.Second); time.Now().Before(end); {
			time.Sleep(240 * time.Millisecond)
			r.Pause(t)
			time.Sleep(60 * time.Millisecond)
			r.Resume(t)
		}
		close(stop)
		wg.Wait()
		flush(t, store)
		changed := 0
		for i, want := range assigned {
			got := rdb.HGetAll(context.Background(), "statsig:sticky:"+user(i).UserID+":userID").Val()
			for j, name := range names {
				if v, ok := got[name]; ok && !strings.Contains(v, `"group_name":"`+want[j]+`"`) {
					changed++
				}
			}
		}
		t.Logf("SIGSTOP: %d pages, worst page %v, stored groups changed %d of %d, stats %+v",
			pages.Load(), time.Duration(worst.Load()).Round(time.Millisecond), changed, 2*visitors, store.Stats())
	})

	t.Run("FLUSHALL", func(t *testing.T) {
		r := startRedis(t)
		rdb := r.Client(t)
		store := newStore(t, rdb, redisstore.Options{})
		srv := startBackend(t, experimentConfig(statsigtest.UnitUserID, equalWeights...))
		opts := clientOptions(srv, store)
		opts.ConfigSyncInterval = time.Second
		newClient(t, opts)
		ctx := context.Background()
		key := "statsig:" + statsig.CONFIG_SPECS_KEY
		await(t, "the config in Redis", func() bool { return rdb.Exists(ctx, key).Val() == 1 })
		rdb.FlushAll(ctx)
		start := time.Now()
		deadline := start.Add(30 * time.Second)
		for rdb.Exists(ctx, key).Val() == 0 && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
		if rdb.Exists(ctx, key).Val() == 0 {
			t.Logf("FLUSHALL: config not restored within 30s")
		} else {
			t.Logf("FLUSHALL: config restored after %v", time.Since(start).Round(time.Millisecond))
		}
	})

	t.Run("slow Redis", func(t *testing.T) {
		r := startRedis(t)
		px := startProxy(t, r.Addr, 40*time.Millisecond)
		rdb := redis.NewClient(&redis.Options{Addr: px.Addr, ContextTimeoutEnabled: true})
		t.Cleanup(func() { rdb.Close() })
		store := newStore(t, rdb, redisstore.Options{Timeout: time.Second})
		c := localClient(t, experimentsConfig(5, statsigtest.UnitUserID, equalWeights...), store)
		names := []string{expName, expName + "_2", expName + "_3", expName + "_4", expName + "_5"}
		page(c, user(0), "userID", names...)
		var worst, total time.Duration
		const pages = 20
		for i := 1; i <= pages; i++ {
			start := time.Now()
			page(c, user(1000+i), "userID", names...)
			d := time.Since(start)
			total += d
			worst = max(worst, d)
		}
		flush(t, store)
		t.Logf("slow Redis (40 ms per round trip): new visitor, 5 sticky experiments: mean page %v, worst %v",
			(total / pages).Round(time.Millisecond), worst.Round(time.Millisecond))
	})
}
