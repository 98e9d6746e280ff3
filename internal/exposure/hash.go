package exposure

import (
	"encoding/binary"
	"hash/maphash"
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
