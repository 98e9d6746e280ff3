package exposure

import (
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

type clock struct{ t atomic.Int64 }

func (c *clock) now() time.Time          { return time.Unix(0, c.t.Load()) }
func (c *clock) advance(d time.Duration) { c.t.Add(int64(d)) }

func TestWindow(t *testing.T) {
	var clk clock
	c := NewCache(100, time.Minute)
	k := NewHasher().Key("visitor-1", "exp")
	steps := []struct {
		advance time.Duration
		outcome uint64
		due     bool
	}{
		{0, 7, true},                 // new
		{0, 7, false},                // same outcome, in the window
		{59 * time.Second, 7, false}, // still in it
		{2 * time.Second, 7, true},   // the window passed: a new one starts
		{0, 7, false},
		{time.Second, 8, true}, // the outcome changed
		{0, 8, false},
		{0, 7, true}, // and changed back
	}
	for i, st := range steps {
		clk.advance(st.advance)
		if due := c.Observe(k, st.outcome, clk.now()); due != st.due {
			t.Fatalf("step %d: Observe(outcome %d) = %v, want %v", i, st.outcome, due, st.due)
		}
	}
}

// TestObserveConcurrent: of many goroutines observing the same keys and
// outcomes, exactly one is told each exposure is due.
func TestObserveConcurrent(t *testing.T) {
	c := NewCache(1000, time.Hour)
	h := NewHasher()
	var due atomic.Int32
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 200; i++ {
				if c.Observe(h.Key(fmt.Sprint(i)), 1, time.Now()) {
					due.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	if due.Load() != 200 {
		t.Errorf("%d exposures due for 200 keys observed by 8 goroutines, want 200", due.Load())
	}
}

func TestEvictsLeastRecentlyUsed(t *testing.T) {
	c := NewCache(shards, time.Hour) // one key per shard
	h := NewHasher()
	// Find three keys of one shard.
	var ks []Key
	for i := 0; len(ks) < 3; i++ {
		k := h.Key(fmt.Sprint(i))
		if k[0]%shards == 0 {
			ks = append(ks, k)
		}
	}
	now := time.Now()
	c.Observe(ks[0], 1, now)
	c.Observe(ks[1], 1, now) // evicts ks[0]
	if !c.Observe(ks[0], 1, now) {
		t.Error("a full shard kept its oldest key")
	}
	// With two slots, the recently used key survives.
	c2 := NewCache(2*shards, time.Hour)
	c2.Observe(ks[0], 1, now)
	c2.Observe(ks[1], 1, now)
	c2.Observe(ks[0], 1, now) // touch
	c2.Observe(ks[2], 1, now) // evicts ks[1]
	if c2.Observe(ks[0], 1, now) {
		t.Error("the recently used key was evicted")
	}
	if !c2.Observe(ks[1], 1, now) {
		t.Error("the least recently used key was kept")
	}
}

func TestKeysAreDistinct(t *testing.T) {
	h := NewHasher()
	if h.Key("ab", "c") == h.Key("a", "bc") {
		t.Error(`Key("ab","c") == Key("a","bc")`)
	}
	if h.Key("a\x00b", "c") == h.Key("a", "b", "c") {
		t.Error(`an id with a zero byte makes the key of other ids`)
	}
	// Every (unit, config, parameter) of a grid extends to its own key, the
	// same each time.
	seen := map[Key]string{}
	for u := 0; u < 2000; u++ {
		uk := h.Key(fmt.Sprint("visitor-", u), "stableID", fmt.Sprint("visitor-", u))
		for c := 0; c < 10; c++ {
			for _, param := range []string{"", "p"} {
				k, what := h.Extend(uk, "experiment", fmt.Sprint("exp-", c), param), fmt.Sprint(u, "/", c, "/", param)
				if other, dup := seen[k]; dup {
					t.Fatalf("%s and %s extend to one key", other, what)
				}
				seen[k] = what
				if h.Extend(uk, "experiment", fmt.Sprint("exp-", c), param) != k {
					t.Fatal("Extend is not deterministic")
				}
			}
		}
	}
}

// TestMemoryBound observes a million distinct visitors in a cache of
// 100,000 and checks that the heap does not grow past what the cache took
// when it was made. It reports the bytes per entry.
func TestMemoryBound(t *testing.T) {
	size, visitors := 100_000, 1_000_000
	if raceEnabled { // the race detector makes each insertion some 20 times slower
		visitors = 300_000
	}
	heap := func() uint64 {
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		return ms.HeapAlloc
	}
	before := heap()
	c := NewCache(size, time.Hour)
	h := NewHasher()
	made := heap()
	for i := 0; i < visitors; i++ {
		c.Observe(h.Key(fmt.Sprintf("visitor-%d", i), "button_color_v3"), uint64(i), time.Now())
	}
	after := heap()
	runtime.KeepAlive(c)
	perEntry := float64(made-before) / float64(c.Size())
	t.Logf("cache of %d: %d bytes when made (%.0f bytes per entry, EntryBytes %d); after %d visitors: %d bytes", c.Size(), made-before, perEntry, EntryBytes, visitors, after-before)
	if after > made && after-made > (made-before)/10 {
		t.Errorf("heap grew by %d bytes over %d visitors, more than a tenth of the cache's %d", after-made, visitors, made-before)
	}
	if perEntry > float64(2*EntryBytes) {
		t.Errorf("%.0f bytes per entry, want at most twice EntryBytes (%d)", perEntry, EntryBytes)
	}
}

// BenchmarkObserve observes keys of 20,000 visitors in rotation: returning
// visitors in a cache that holds them all.
func BenchmarkObserve(b *testing.B) {
	c := NewCache(100_000, time.Hour)
	h := NewHasher()
	keys := make([]Key, 20_000)
	for i := range keys {
		keys[i] = h.Key(fmt.Sprint("visitor-", i), "exp")
		c.Observe(keys[i], 1, time.Now())
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		c.Observe(keys[i%len(keys)], 1, time.Now())
	}
}

// TestAgainstModel runs random observations against a plain LRU model of
// each shard, so that the index's deletions and the recency list are
// checked together.
func TestAgainstModel(t *testing.T) {
	const perShard = 4
	c := NewCache(perShard*shards, time.Hour)
	h := NewHasher()
	type slot struct {
		k Key
		o uint64
	}
	model := map[uint64][]slot{} // shard -> keys, most recent first
	rng := uint64(1)
	now := time.Now()
	for op := 0; op < 200_000; op++ {
		rng ^= rng << 13
		rng ^= rng >> 7
		rng ^= rng << 17
		k, o := h.Key(fmt.Sprint(rng%2000)), rng>>60%2
		sh := k[0] % shards
		keys := model[sh]
		at := -1
		for i, mk := range keys {
			if mk.k == k {
				at = i
			}
		}
		want := at < 0 || keys[at].o != o
		if due := c.Observe(k, o, now); due != want {
			t.Fatalf("op %d: due %v, model says %v", op, due, want)
		}
		if at >= 0 {
			keys = append(keys[:at], keys[at+1:]...)
		}
		keys = append([]slot{{k, o}}, keys...)
		if len(keys) > perShard {
			keys = keys[:perShard]
		}
		model[sh] = keys
	}
}
