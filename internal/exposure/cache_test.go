package exposure

import (
	"fmt"
	"runtime"
	"slices"
	"sort"
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

// keysOfOneSet returns n keys that share the set of the first.
func keysOfOneSet(c *Cache, h Hasher, n int) []Key {
	var ks []Key
	for i := 0; len(ks) < n; i++ {
		k := h.Key(fmt.Sprint(i))
		if len(ks) == 0 || c.setOf(k) == c.setOf(ks[0]) {
			ks = append(ks, k)
		}
	}
	return ks
}

// TestEviction: a full set makes room by dropping an expired key first,
// then the key exposed longest ago among those never observed again, so
// that returning visitors outlive visitors seen once.
func TestEviction(t *testing.T) {
	now := time.Unix(1e9, 0)
	t.Run("seen once goes first", func(t *testing.T) {
		c := NewCache(ways, time.Hour) // one set
		ks := keysOfOneSet(c, NewHasher(), ways+2)
		for i, k := range ks[:ways] {
			c.Observe(k, 1, now.Add(time.Duration(i)*time.Second))
		}
		c.Observe(ks[0], 1, now.Add(time.Minute)) // returning: used
		c.Observe(ks[2], 1, now.Add(time.Minute)) // returning: used
		c.Observe(ks[ways], 1, now.Add(time.Minute))
		// ks[1], exposed before ks[3] and not seen since, made room.
		for _, i := range []int{0, 2, 3, ways} {
			if c.Observe(ks[i], 1, now.Add(2*time.Minute)) {
				t.Errorf("key %d was evicted", i)
			}
		}
		if !c.Observe(ks[1], 1, now.Add(2*time.Minute)) {
			t.Error("key 1 was kept")
		}
	})
	t.Run("all used", func(t *testing.T) {
		c := NewCache(ways, time.Hour)
		ks := keysOfOneSet(c, NewHasher(), ways+1)
		for i, k := range ks[:ways] {
			c.Observe(k, 1, now.Add(time.Duration(ways-i)*time.Second)) // ks[ways-1] exposed first
			c.Observe(k, 1, now.Add(time.Minute))
		}
		c.Observe(ks[ways], 1, now.Add(time.Minute))
		if !c.Observe(ks[ways-1], 1, now.Add(time.Minute)) {
			t.Error("the key exposed longest ago was kept")
		}
	})
	t.Run("expired first", func(t *testing.T) {
		c := NewCache(ways, time.Hour)
		ks := keysOfOneSet(c, NewHasher(), ways+1)
		c.Observe(ks[0], 1, now)
		for _, k := range ks[1:ways] {
			c.Observe(k, 1, now.Add(50*time.Minute))
		}
		c.Observe(ks[0], 1, now.Add(30*time.Minute)) // used, but its window ends first
		c.Observe(ks[ways], 1, now.Add(61*time.Minute))
		for i := 1; i < ways; i++ {
			if c.Observe(ks[i], 1, now.Add(62*time.Minute)) {
				t.Errorf("key %d was evicted; the expired key 0 should have been", i)
			}
		}
	})
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

// BenchmarkObserve observes the keys of n visitors in rotation in a cache
// of 100,000: at 20,000 every observation is a returning visitor within the
// window; at 1,000,000 almost every one is a miss that evicts; new is a key
// never seen before at every observation.
func BenchmarkObserve(b *testing.B) {
	for _, n := range []int{20_000, 1_000_000, 0} {
		name := fmt.Sprint("visitors=", n)
		if n == 0 {
			name = "visitors=new"
		}
		b.Run(name, func(b *testing.B) {
			c := NewCache(100_000, time.Hour)
			h := NewHasher()
			keys := make([]Key, max(n, 1<<20))
			for i := range keys {
				keys[i] = h.Key(fmt.Sprint("visitor-", i), "exp")
			}
			if n > 0 {
				keys = keys[:n]
				for _, k := range keys[:min(n, 200_000)] {
					c.Observe(k, 1, time.Now())
				}
			}
			now := time.Now()
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				k := keys[i%len(keys)]
				if n == 0 {
					k += Key(i/len(keys)) * 0x9e3779b97f4a7c15 // a new key every time
				}
				c.Observe(k, 1, now)
			}
		})
	}
}

// TestAgainstModel runs random observations, at a clock that moves
// forward by random steps, against a model of each set written plainly: a
// slice of entries searched in full, the victim chosen by sorting.
func TestAgainstModel(t *testing.T) {
	const window = 100 // seconds
	c := NewCache(4*ways, window*time.Second)
	h := NewHasher()
	type slot struct {
		k       Key
		o       uint64
		expires int64
		used    bool
	}
	model := map[uint64][]slot{} // set -> entries
	rng := uint64(1)
	next := func() uint64 {
		rng ^= rng << 13
		rng ^= rng >> 7
		rng ^= rng << 17
		return rng
	}
	var now int64 = 1 << 30
	for op := 0; op < 300_000; op++ {
		now += int64(next() % 4)
		k, o := h.Key(fmt.Sprint(next()%40)), next()>>60%2*2 // the cache keeps 31 bits: not the lowest
		si := c.setOf(k)
		slots := model[si]
		var want bool
		at := -1
		for i := range slots {
			if slots[i].k == k {
				at = i
			}
		}
		expired := func(s slot) bool { return s.expires <= now }
		switch {
		case at >= 0 && now < slots[at].expires && slots[at].o == o:
			slots[at].used = true
		case at >= 0:
			want = true
			slots[at] = slot{k, o, now + window, true}
		case len(slots) < ways && !slices.ContainsFunc(slots, expired):
			want = true
			slots = append(slots, slot{k, o, now + window, false})
		default:
			want = true
			order := make([]int, len(slots))
			for i := range order {
				order[i] = i
			}
			rank := func(s slot) int { // expired, then not used, then used
				switch {
				case expired(s):
					return 0
				case !s.used:
					return 1
				}
				return 2
			}
			sort.SliceStable(order, func(a, b int) bool {
				sa, sb := slots[order[a]], slots[order[b]]
				if rank(sa) != rank(sb) {
					return rank(sa) < rank(sb)
				}
				return rank(sa) > 0 && sa.expires < sb.expires
			})
			v := order[0]
			if rank(slots[v]) == 2 {
				for i := range slots {
					slots[i].used = false
				}
			}
			slots[v] = slot{k, o, now + window, false}
		}
		model[si] = slots
		if due := c.Observe(k, o, time.Unix(now, 0)); due != want {
			t.Fatalf("op %d: due %v, model says %v", op, due, want)
		}
	}
}
