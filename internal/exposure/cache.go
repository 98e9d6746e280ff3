// Package exposure de-duplicates exposure events across requests.
//
// A [Cache] remembers, for a bounded number of keys (a unit, a config and,
// for layers, a parameter), the outcome last exposed and until when. The
// caller logs an exposure only when the key is new, expired or its outcome
// changed. Memory is fixed when the cache is made, and nothing is ever
// cleared wholesale.
package exposure

import (
	"math/bits"
	"sync"
	"time"
	"unsafe"
)

// ways is the number of keys a set holds: a key lives in one set, chosen
// by its hash, so that a lookup reads two adjacent cache lines and a miss
// evicts within them, with no index or recency list to maintain. With 8
// ways, a cache holds all its keys while they are a fifth of its size, 99%
// at half and 86% when as many are live as it has entries (4 ways: 96% at
// half).
const ways = 8

// locks is the number of mutexes the sets share, each on a cache line of
// its own.
const locks = 256

// Cache is a fixed-size, set-associative table of keys with the outcome
// last exposed and when its window ends. It is safe for concurrent use.
//
// A key observed again after it was stored is marked as used; a new key
// replaces, in its set, an expired entry, else an empty one, else the entry
// exposed longest ago among those not used since, else (all used: their
// marks are cleared) the entry exposed longest ago. A visitor seen once (a
// bot, a first visit with no second page) makes room before a returning
// one. Windows are kept in whole seconds.
type Cache struct {
	window uint32 // seconds
	sets   []set
	mu     [locks]paddedMutex
}

type set [ways]entry

// entry is 16 bytes: four to a cache line.
type entry struct {
	key     Key
	expires uint32 // Unix seconds when the window ends; 0 for an empty entry
	outcome uint32 // 31 bits of the outcome's hash, and the used mark
}

const used = 1

type paddedMutex struct {
	sync.Mutex
	_ [64 - unsafe.Sizeof(sync.Mutex{})]byte
}

// EntryBytes is the memory one remembered key takes.
const EntryBytes = int(unsafe.Sizeof(entry{}))

// NewCache returns a cache of at least size keys (rounded up to a multiple
// of 8) that remembers an exposure for window, rounded up to a second. The
// clock is the caller's: it passes the time to Observe.
func NewCache(size int, window time.Duration) *Cache {
	n := max((size+ways-1)/ways, 1)
	w := max((window+time.Second-1)/time.Second, 1)
	return &Cache{window: uint32(min(w, 1<<31)), sets: make([]set, n)}
}

// setOf returns the index of k's set: k scaled to the number of sets, which
// need not be a power of two.
func (c *Cache) setOf(k Key) uint64 {
	i, _ := bits.Mul64(uint64(k), uint64(len(c.sets)))
	return i
}

// Size returns how many keys the cache holds at most.
func (c *Cache) Size() int { return len(c.sets) * ways }

// Observe records that outcome of k was read at time at, and reports
// whether its exposure is due: k is new, its window has passed, or its
// outcome changed. A due exposure starts a new window. It is one step under
// one lock, with nothing for the caller to settle or release afterwards: of
// concurrent callers with the same key and outcome, exactly one is told the
// exposure is due.
func (c *Cache) Observe(k Key, outcome uint64, at time.Time) (due bool) {
	now := uint32(max(at.Unix(), 0))
	o := uint32(outcome) &^ used
	i := c.setOf(k)
	mu := &c.mu[i%locks]
	mu.Lock()
	defer mu.Unlock()
	s := &c.sets[i]
	for w := range s {
		if e := &s[w]; e.key == k && e.expires != 0 {
			if now < e.expires && e.outcome&^used == o {
				e.outcome |= used
				return false
			}
			*e = entry{key: k, expires: now + c.window, outcome: o | used}
			return true
		}
	}
	s[victim(s, now)] = entry{key: k, expires: now + c.window, outcome: o}
	return true
}

// victim returns the entry of s that a new key replaces.
func victim(s *set, now uint32) int {
	v, unused, empty := -1, false, -1
	for w := range s {
		e := &s[w]
		switch {
		case e.expires == 0:
			if empty < 0 {
				empty = w
			}
			continue
		case e.expires <= now:
			return w
		}
		u := e.outcome&used == 0
		switch {
		case v < 0, u && !unused, u == unused && e.expires < s[v].expires:
			v, unused = w, u
		}
	}
	if empty >= 0 {
		return empty
	}
	if !unused {
		for w := range s {
			s[w].outcome &^= used
		}
	}
	return v
}
