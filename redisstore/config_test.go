package redisstore_test

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/labkit/statsigmw/redisstore"
	"github.com/labkit/statsigmw/statsigtest"
	statsig "github.com/statsig-io/go-sdk"
)

const users = 200

// TestColdStartFromRedis: an instance that starts while Statsig refuses
// connections serves the real groups that a healthy instance wrote to
// Redis; without the store, or under another prefix, it serves defaults.
func TestColdStartFromRedis(t *testing.T) {
	r := startRedis(t)
	rdb := r.Client(t)
	store := newStore(t, rdb, redisstore.Options{Prefix: "env-a:"})
	srv := startBackend(t, experimentConfig(statsigtest.UnitUserID, equalWeights...))

	healthy, details := newClient(t, clientOptions(srv, store))
	if !details.Success || details.Source != statsig.SourceNetwork {
		t.Fatalf("healthy instance: success %v, source %v; want true, %v", details.Success, details.Source, statsig.SourceNetwork)
	}
	want := make([]string, users)
	seen := map[string]int{}
	for i := range want {
		g, color := groupOf(healthy, user(i))
		if color != lower(g) {
			t.Fatalf("user %d: group %q with color %q", i, g, color)
		}
		want[i] = g
		seen[g]++
	}
	if len(seen) != len(groupNames) {
		t.Fatalf("healthy instance assigned %v; want all of %v", seen, groupNames)
	}
	healthy.Shutdown() // waits for the adapter's writes

	stored, err := rdb.HGet(context.Background(), "env-a:"+statsig.CONFIG_SPECS_KEY, "value").Result()
	if err != nil || !strings.Contains(stored, expName) {
		t.Fatalf("Redis holds %.80q, %v; want specs naming %q", stored, err, expName)
	}
	if got := store.DataAdapter().Get(statsig.CONFIG_SPECS_KEY); got != stored {
		t.Fatalf("adapter Get returned %d bytes, Redis holds %d", len(got), len(stored))
	}

	srv.Close() // Statsig now refuses connections

	t.Run("from Redis", func(t *testing.T) {
		c, details := newClient(t, clientOptions(srv, store))
		if !details.Success || details.Source != statsig.SourceDataAdapter {
			t.Fatalf("success %v, source %v; want true, %v", details.Success, details.Source, statsig.SourceDataAdapter)
		}
		for i, w := range want {
			if g, color := groupOf(c, user(i)); g != w || color != lower(w) {
				t.Fatalf("user %d: group %q color %q; want %q as the healthy instance", i, g, color, w)
			}
		}
	})
	t.Run("without store", func(t *testing.T) {
		c, _ := newClient(t, clientOptions(srv, nil))
		if g, color := groupOf(c, user(0)); g != "" || color != "" {
			t.Fatalf("group %q color %q; want defaults", g, color)
		}
	})
	t.Run("other prefix", func(t *testing.T) {
		other := newStore(t, rdb, redisstore.Options{Prefix: "env-b:"})
		c, _ := newClient(t, clientOptions(srv, other))
		if g, _ := groupOf(c, user(0)); g != "" {
			t.Fatalf("group %q; want defaults: env-b must not see env-a's config", g)
		}
	})
}

// TestPollRedis: with PollRedis an instance that cannot reach Statsig
// follows the config that another instance writes; without it, it keeps
// polling Statsig and stays on what it started with.
func TestPollRedis(t *testing.T) {
	r := startRedis(t)
	rdb := r.Client(t)
	srv := startBackend(t, experimentConfig(statsigtest.UnitUserID, equalWeights...))

	writerOpts := clientOptions(srv, newStore(t, rdb, redisstore.Options{}))
	writerOpts.ConfigSyncInterval = 20 * time.Millisecond
	writer, details := newClient(t, writerOpts)
	if !details.Success {
		t.Fatalf("writer did not initialise: %v", details.Error)
	}

	follower := func(poll bool) *statsig.Client {
		opts := clientOptions(srv, newStore(t, rdb, redisstore.Options{PollRedis: poll}))
		opts.API = refusedURL(t)
		opts.ConfigSyncInterval = 20 * time.Millisecond
		c, details := newClient(t, opts)
		if details.Source != statsig.SourceDataAdapter {
			t.Fatalf("follower (PollRedis %v) started from %v; want %v", poll, details.Source, statsig.SourceDataAdapter)
		}
		return c
	}
	await(t, "the writer's config in Redis", func() bool {
		return rdb.Exists(context.Background(), "statsig:"+statsig.CONFIG_SPECS_KEY).Val() == 1
	})
	polling, notPolling := follower(true), follower(false)
	for _, c := range []*statsig.Client{polling, notPolling} {
		if g, _ := groupOf(c, user(0)); g == "" {
			t.Fatal("follower serves defaults; want the experiment from Redis")
		}
	}

	// The experiment now gives everyone Orange.
	if err := srv.SetConfig(experimentConfig(statsigtest.UnitUserID, 0, 0, 0, 100)); err != nil {
		t.Fatal(err)
	}
	allOrange := func(c *statsig.Client) bool {
		for i := 0; i < 50; i++ {
			if g, _ := groupOf(c, user(i)); g != "Orange" {
				return false
			}
		}
		return true
	}
	await(t, "the writer to see the new allocation", func() bool { return allOrange(writer) })
	await(t, "the PollRedis follower to see the new allocation", func() bool { return allOrange(polling) })
	if allOrange(notPolling) {
		t.Fatal("a follower without PollRedis followed Redis")
	}
}

// TestConfigWritesNeverGoBack: a config write older than what Redis holds
// is dropped, from the same store or another one.
func TestConfigWritesNeverGoBack(t *testing.T) {
	r := startRedis(t)
	rdb := r.Client(t)
	a := newStore(t, rdb, redisstore.Options{}).DataAdapter()
	b := newStore(t, rdb, redisstore.Options{}).DataAdapter()
	specs := func(time int, tag string) string {
		return `{"has_updates":true,"time":` + strconv.Itoa(time) + `,"tag":"` + tag + `"}`
	}
	steps := []struct {
		adapter statsig.IDataAdapter
		value   string
		want    string
	}{
		{a, "not json", "not json"}, // an empty store takes anything
		{a, specs(200, "v200"), specs(200, "v200")},
		{b, specs(100, "v100"), specs(200, "v200")},
		{a, specs(200, "v200 again"), specs(200, "v200")},
		{b, specs(300, "v300"), specs(300, "v300")},
		{a, "not json", specs(300, "v300")},
	}
	for i, s := range steps {
		s.adapter.Set(statsig.CONFIG_SPECS_KEY, s.value)
		s.adapter.Shutdown() // waits for the write
		for _, reader := range []statsig.IDataAdapter{a, b} {
			if got := reader.Get(statsig.CONFIG_SPECS_KEY); got != s.want {
				t.Fatalf("step %d: Get = %q; want %q", i, got, s.want)
			}
		}
	}

	// Other keys (the id lists) are plain values, last write wins.
	a.Set(statsig.ID_LISTS_KEY, `{"list":{}}`)
	a.Set(statsig.ID_LISTS_KEY+"::list", "+a\n")
	a.Set(statsig.ID_LISTS_KEY+"::list", "+a\n+b\n")
	a.Shutdown()
	if got := b.Get(statsig.ID_LISTS_KEY + "::list"); got != "+a\n+b\n" {
		t.Fatalf("id list = %q; want the last write", got)
	}
	if got := b.Get(statsig.ID_LISTS_KEY); got != `{"list":{}}` {
		t.Fatalf("id lists = %q", got)
	}
	if got := b.Get("statsig.missing"); got != "" {
		t.Fatalf("missing key = %q; want empty", got)
	}
}

// TestHungRedisDoesNotStallEvaluations: the SDK writes new config to the
// adapter while holding the lock every evaluation takes. With Redis hung
// and a config write that would wait an hour, evaluations still see the new
// config.
func TestHungRedisDoesNotStallEvaluations(t *testing.T) {
	r := startRedis(t)
	rdb := r.Client(t)
	store := newStore(t, rdb, redisstore.Options{ConfigTimeout: time.Hour})
	srv := startBackend(t, experimentConfig(statsigtest.UnitUserID, equalWeights...))
	opts := clientOptions(srv, store)
	opts.ConfigSyncInterval = 20 * time.Millisecond
	c, details := newClient(t, opts)
	if !details.Success {
		t.Fatalf("client did not initialise: %v", details.Error)
	}

	r.Pause(t)
	resumed := false
	resume := func() {
		if !resumed {
			resumed = true
			r.Resume(t)
		}
	}
	defer resume() // before the client's Shutdown, which waits for the write

	if err := srv.SetConfig(experimentConfig(statsigtest.UnitUserID, 0, 0, 0, 100)); err != nil {
		t.Fatal(err)
	}
	seen := make(chan struct{})
	go func() {
		defer close(seen)
		for {
			if g, _ := groupOf(c, user(1)); g == "Orange" {
				return
			}
			time.Sleep(5 * time.Millisecond)
		}
	}()
	select {
	case <-seen:
	case <-time.After(10 * time.Second):
		resume() // frees the evaluation goroutine
		<-seen
		t.Fatal("evaluations stalled while the config write waited for Redis")
	}
	if n := store.Stats().ConfigFailures; n != 0 {
		t.Fatalf("ConfigFailures = %d before the write's timeout", n)
	}
}

// TestConfigRedisDown: with Redis dead the adapter reads nothing and counts
// the failures, and the SDK initialises from Statsig as if it had no
// adapter, after waiting ConfigTimeout once.
func TestConfigRedisDown(t *testing.T) {
	r := startRedis(t)
	rdb := r.Client(t)
	store := newStore(t, rdb, redisstore.Options{ConfigTimeout: 200 * time.Millisecond})
	r.Kill()

	srv := startBackend(t, experimentConfig(statsigtest.UnitUserID, equalWeights...))
	opts := clientOptions(srv, store)
	opts.InitTimeout = time.Minute
	c, details := newClient(t, opts)
	if !details.Success || details.Source != statsig.SourceNetwork {
		t.Fatalf("success %v, source %v; want true, %v", details.Success, details.Source, statsig.SourceNetwork)
	}
	if g, _ := groupOf(c, user(0)); g == "" {
		t.Fatal("defaults served with Redis down and Statsig up")
	}
	c.Shutdown() // tries the pending writes once more, and returns
	// Reads of specs and id lists, and at least two tries of each write.
	if n := store.Stats().ConfigFailures; n < 4 {
		t.Fatalf("ConfigFailures = %d; want at least 4", n)
	}
}

// TestConfigWriteRetried: a config write that fails while Redis hangs is
// retried until Redis holds it, with no further Set.
func TestConfigWriteRetried(t *testing.T) {
	r := startRedis(t)
	rdb := r.Client(t)
	store := newStore(t, rdb, redisstore.Options{ConfigTimeout: 100 * time.Millisecond, Cooldown: 50 * time.Millisecond})
	a := store.DataAdapter()
	const specs = `{"has_updates":true,"time":5}`

	r.Pause(t)
	a.Set(statsig.CONFIG_SPECS_KEY, specs)
	await(t, "a failed write", func() bool { return store.Stats().ConfigFailures >= 1 })
	r.Resume(t)
	await(t, "the retried write in Redis", func() bool {
		return rdb.HGet(context.Background(), "statsig:"+statsig.CONFIG_SPECS_KEY, "time").Val() == "5"
	})
	a.Shutdown()
	if got := a.Get(statsig.CONFIG_SPECS_KEY); got != specs {
		t.Fatalf("Get = %q; want %q", got, specs)
	}
}

// TestShutdownEndsRetries: Shutdown interrupts the wait between retries of
// a failed write, tries the write once more, and returns.
func TestShutdownEndsRetries(t *testing.T) {
	r := startRedis(t)
	rdb := r.Client(t)
	store := newStore(t, rdb, redisstore.Options{ConfigTimeout: 100 * time.Millisecond, Cooldown: time.Hour})
	a := store.DataAdapter()
	r.Kill()

	a.Set(statsig.CONFIG_SPECS_KEY, `{"time":1}`)
	await(t, "the first try to fail", func() bool { return store.Stats().ConfigFailures == 1 })
	a.Shutdown() // would wait an hour for the next retry without its stop
	if n := store.Stats().ConfigFailures; n != 2 {
		t.Fatalf("ConfigFailures = %d after Shutdown; want 2 (one last try)", n)
	}
}
