// Package exposure de-duplicates exposure events across requests.
//
// A [Cache] remembers, for a bounded number of keys (a unit, a config and,
// for layers, a parameter), the outcome last exposed and until when. The
// caller logs an exposure only when the key is new, expired or its outcome
// changed. Memory is fixed when the cache is made: the least recently used
// key makes room for a new one, and nothing is ever cleared wholesale.
package exposure

import (
	"encoding/binary"
	"hash/maphash"
	"sync"
	"time"
	"unsafe"
)

// Key identifies what an exposure is about: a 128-bit hash of the unit's ids,
// the config's kind and name, and for a layer the parameter. 128 bits make a
// collision, which would suppress a first exposure, negligible (about 2^-90
// for a million live keys).
type Key [2]uint64

// Hasher builds Keys and outcomes. Its zero value is not usable; use
// [NewHasher]. It is safe for concurrent use.
type Hasher struct{ s0, s1 maphash.Seed }

// NewHasher returns a Hasher with fresh random seeds.
func NewHasher() Hasher { return Hasher{maphash.MakeSeed(), maphash.MakeSeed()} }

// Key hashes the given strings. Each is prefixed with its length, so
// ("ab","c") and ("a","bc") differ.
func (h Hasher) Key(parts ...string) Key { return h.sum(nil, parts) }

// Extend hashes the strings that follow a key already made, such as the key
// of a unit followed by the name of a config: Extend(Key(a...), b...)
// identifies (a, b) as Key(a..., b...) would, with a shorter input.
func (h Hasher) Extend(k Key, parts ...string) Key {
	var prefix [16]byte
	binary.LittleEndian.PutUint64(prefix[:8], k[0])
	binary.LittleEndian.PutUint64(prefix[8:], k[1])
	return h.sum(prefix[:], parts)
}

// sum is the two 64-bit hashes, one per seed, of prefix and parts. The input
// is laid out once, on the stack when it is short, and hashed in one call
// per seed: a streaming maphash.Hash costs several times as much here.
func (h Hasher) sum(prefix []byte, parts []string) Key {
	var buf [256]byte
	b := encode(append(buf[:0], prefix...), parts)
	return Key{maphash.Bytes(h.s0, b), maphash.Bytes(h.s1, b)}
}

func encode(b []byte, parts []string) []byte {
	for _, p := range parts {
		b = binary.LittleEndian.AppendUint32(b, uint32(len(p)))
		b = append(b, p...)
	}
	return b
}

// Outcome hashes the strings that describe an outcome (rule, group, value).
func (h Hasher) Outcome(parts ...string) uint64 {
	var buf [256]byte
	return maphash.Bytes(h.s0, encode(buf[:0], parts))
}

const shards = 64

// Cache is a fixed-size, sharded LRU of keys with the outcome last exposed
// and when its window ends. It is safe for concurrent use.
type Cache struct {
	window time.Duration
	shards [shards]shard
}

type shard struct {
	mu    sync.Mutex
	index []int32 // open addressing, linear probing: entry index + 1, 0 when empty
	ents  []entry
	head  int32 // most recently used, -1 when empty
	free  int32 // next never-used slot
}

type entry struct {
	key        Key
	outcome    uint64
	expires    int64 // unix nanoseconds
	prev, next int32
}

// EntryBytes is the memory one remembered key takes: its entry and two
// slots of the index.
const EntryBytes = int(unsafe.Sizeof(entry{})) + 2*4

// NewCache returns a cache of at least size keys (rounded up to a multiple of
// the shard count) that remembers an exposure for window. The clock is the
// caller's: it passes the time to Observe.
func NewCache(size int, window time.Duration) *Cache {
	per := (size + shards - 1) / shards
	if per < 1 {
		per = 1
	}
	c := &Cache{window: window}
	for i := range c.shards {
		s := &c.shards[i]
		n := 1
		for n < 2*per {
			n <<= 1
		}
		s.index = make([]int32, n)
		s.ents = make([]entry, per)
		s.head = -1
	}
	return c
}

// Size returns how many keys the cache holds at most.
func (c *Cache) Size() int { return len(c.shards[0].ents) * shards }

func (c *Cache) shard(k Key) *shard { return &c.shards[k[0]%shards] }

// Observe records that outcome of k was read at time at, and reports
// whether its exposure is due: k is new, its window has passed, or its
// outcome changed. A due exposure starts a new window. It is one step under
// one lock, with nothing for the caller to settle or release afterwards: of
// concurrent callers with the same key and outcome, exactly one is told the
// exposure is due.
func (c *Cache) Observe(k Key, outcome uint64, at time.Time) (due bool) {
	now := at.UnixNano()
	s := c.shard(k)
	s.mu.Lock()
	defer s.mu.Unlock()
	if i, ok := s.find(k); ok {
		e := &s.ents[i]
		s.touch(i)
		if now < e.expires && e.outcome == outcome {
			return false
		}
		e.outcome, e.expires = outcome, now+int64(c.window)
		return true
	}
	i := s.alloc()
	s.ents[i] = entry{key: k, outcome: outcome, expires: now + int64(c.window), prev: -1, next: -1}
	s.insert(k, i)
	s.pushFront(i)
	return true
}

// alloc returns a free slot, evicting the least recently used key when full.
func (s *shard) alloc() int32 {
	if int(s.free) < len(s.ents) {
		s.free++
		return s.free - 1
	}
	tail := s.ents[s.head].prev // the list is circular: head.prev is the tail
	s.unlink(tail)
	s.remove(s.ents[tail].key)
	return tail
}

// find returns the entry of k.
func (s *shard) find(k Key) (int32, bool) {
	mask := uint64(len(s.index) - 1)
	for p := k[1] & mask; ; p = (p + 1) & mask {
		v := s.index[p]
		if v == 0 {
			return 0, false
		}
		if s.ents[v-1].key == k {
			return v - 1, true
		}
	}
}

// insert adds k, which is not in the index, for entry i. The index is at
// most half full, so a free slot is always found.
func (s *shard) insert(k Key, i int32) {
	mask := uint64(len(s.index) - 1)
	p := k[1] & mask
	for s.index[p] != 0 {
		p = (p + 1) & mask
	}
	s.index[p] = i + 1
}

// remove deletes k from the index, shifting back the entries after it that
// probed past its slot, so that no tombstone is left.
func (s *shard) remove(k Key) {
	mask := uint64(len(s.index) - 1)
	p := k[1] & mask
	for s.ents[s.index[p]-1].key != k {
		p = (p + 1) & mask
	}
	for q := (p + 1) & mask; s.index[q] != 0; q = (q + 1) & mask {
		home := s.ents[s.index[q]-1].key[1] & mask
		// Move q's entry into the hole at p unless its home lies in (p, q].
		if (q-home)&mask >= (q-p)&mask {
			s.index[p] = s.index[q]
			p = q
		}
	}
	s.index[p] = 0
}

func (s *shard) pushFront(i int32) {
	if s.head < 0 {
		s.ents[i].prev, s.ents[i].next = i, i
		s.head = i
		return
	}
	h := s.head
	t := s.ents[h].prev
	s.ents[i].prev, s.ents[i].next = t, h
	s.ents[t].next = i
	s.ents[h].prev = i
	s.head = i
}

func (s *shard) unlink(i int32) {
	e := &s.ents[i]
	if e.next == i { // the only element
		s.head = -1
		return
	}
	s.ents[e.prev].next = e.next
	s.ents[e.next].prev = e.prev
	if s.head == i {
		s.head = e.next
	}
}

func (s *shard) touch(i int32) {
	if s.head == i {
		return
	}
	s.unlink(i)
	s.pushFront(i)
}
