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
	h := NewHasher()
	k := h.Key("visitor-1", "exp")
	if _, found := c.Acquire(k, clk.now()); found {
		t.Fatal("new key found")
	}
	c.Set(k, 7)
	if o, found := c.Acquire(k, clk.now()); !found || o != 7 {
		t.Fatalf("Acquire = %d, %v; want 7, true", o, found)
	}
	clk.advance(59 * time.Second)
	if _, found := c.Acquire(k, clk.now()); !found {
		t.Fatal("forgotten within the window")
	}
	clk.advance(2 * time.Second)
	if _, found := c.Acquire(k, clk.now()); found {
		t.Fatal("remembered after the window")
	}
	if o, found := c.Acquire(k, clk.now()); !found || o != Pending {
		t.Fatalf("after a lapsed Acquire: %d, %v; want Pending, true", o, found)
	}
}

func TestSwap(t *testing.T) {
	c := NewCache(100, time.Hour)
	k := NewHasher().Key("v", "exp")
	c.Acquire(k, time.Now())
	c.Set(k, 1)
	if c.Swap(k, 2, 3, time.Now()) {
		t.Error("Swap from a stale outcome succeeded")
	}
	var wins atomic.Int32
	var wg sync.WaitGroup
	for i := 0; i < 50; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if c.Swap(k, 1, 2, time.Now()) {
				wins.Add(1)
			}
		}()
	}
	wg.Wait()
	if wins.Load() != 1 {
		t.Errorf("%d of 50 concurrent Swaps won, want 1", wins.Load())
	}
}

func TestAcquireConcurrent(t *testing.T) {
	c := NewCache(1000, time.Hour)
	h := NewHasher()
	var firsts atomic.Int32
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 200; i++ {
				if _, found := c.Acquire(h.Key(fmt.Sprint(i)), time.Now()); !found {
					firsts.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	if firsts.Load() != 200 {
		t.Errorf("%d first acquisitions of 200 keys by 8 goroutines, want 200", firsts.Load())
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
	c.Acquire(ks[0], time.Now())
	c.Acquire(ks[1], time.Now()) // evicts ks[0]
	if _, found := c.Acquire(ks[0], time.Now()); found {
		t.Error("a full shard kept its oldest key")
	}
	// With two slots, the recently used key survives.
	c2 := NewCache(2*shards, time.Hour)
	c2.Acquire(ks[0], time.Now())
	c2.Acquire(ks[1], time.Now())
	c2.Acquire(ks[0], time.Now()) // touch
	c2.Acquire(ks[2], time.Now()) // evicts ks[1]
	if _, found := c2.Acquire(ks[0], time.Now()); !found {
		t.Error("the recently used key was evicted")
	}
	if _, found := c2.Acquire(ks[1], time.Now()); found {
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
	if k := h.Key("visitor"); h.Extend(k, "exp") == h.Extend(k, "exp2") || h.Extend(k, "exp") == h.Extend(h.Key("visitor2"), "exp") {
		t.Error("Extend gave one key for different input")
	}
	if h.Outcome("", "") == Pending {
		t.Error("an outcome is Pending")
	}
	// Every (unit, config) pair of a grid combines to its own key, the
	// same each time.
	seen := map[Key]string{}
	for u := 0; u < 2000; u++ {
		uk := h.Key(fmt.Sprint("visitor-", u), "stableID", fmt.Sprint("visitor-", u))
		for c := 0; c < 20; c++ {
			ck := h.Key("experiment", fmt.Sprint("exp-", c))
			k, pair := Combine(uk, ck), fmt.Sprint(u, "/", c)
			if other, dup := seen[k]; dup {
				t.Fatalf("pairs %s and %s combine to one key", other, pair)
			}
			seen[k] = pair
			if Combine(uk, ck) != k {
				t.Fatal("Combine is not deterministic")
			}
		}
	}
}

// TestMemoryBound inserts a million distinct visitors into a cache of
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
		k := h.Key(fmt.Sprintf("visitor-%d", i), "button_color_v3")
		if _, found := c.Acquire(k, time.Now()); !found {
			c.Set(k, uint64(i)|1)
		}
	}
	after := heap()
	runtime.KeepAlive(c)
	perEntry := float64(made-before) / float64(c.Size())
	t.Logf("cache of %d: %d bytes when made (%.0f bytes per entry); after %d visitors: %d bytes", c.Size(), made-before, perEntry, visitors, after-before)
	if after > made && after-made > (made-before)/10 {
		t.Errorf("heap grew by %d bytes over %d visitors, more than a tenth of the cache's %d", after-made, visitors, made-before)
	}
	if perEntry > 200 {
		t.Errorf("%.0f bytes per entry, want at most 200", perEntry)
	}
}

func BenchmarkAcquire(b *testing.B) {
	c := NewCache(100_000, time.Hour)
	h := NewHasher()
	k := h.Key("visitor", "exp")
	c.Acquire(k, time.Now())
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		c.Acquire(k, time.Now())
	}
}

// TestAgainstModel runs random acquisitions against a plain LRU model of
// each shard, so that the index's deletions and the recency list are
// checked together.
func TestAgainstModel(t *testing.T) {
	const perShard = 4
	c := NewCache(perShard*shards, time.Hour)
	h := NewHasher()
	model := map[uint64][]Key{} // shard -> keys, most recent first
	rng := uint64(1)
	for op := 0; op < 200_000; op++ {
		rng ^= rng << 13
		rng ^= rng >> 7
		rng ^= rng << 17
		k := h.Key(fmt.Sprint(rng % 2000))
		sh := k[0] % shards
		keys := model[sh]
		at := -1
		for i, mk := range keys {
			if mk == k {
				at = i
			}
		}
		_, found := c.Acquire(k, time.Now())
		if found != (at >= 0) {
			t.Fatalf("op %d: found %v, model says %v", op, found, at >= 0)
		}
		if at >= 0 {
			keys = append(keys[:at], keys[at+1:]...)
		}
		keys = append([]Key{k}, keys...)
		if len(keys) > perShard {
			keys = keys[:perShard]
		}
		model[sh] = keys
	}
}
