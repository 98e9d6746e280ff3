package exposure

import (
	"encoding/binary"
	"hash/maphash"
)

// Key identifies what an exposure is about: a 64-bit keyed hash of the
// unit's ids, the config's kind and name, and for a layer the parameter. A
// new key is compared with the 8 keys of its set only, so a collision,
// which would suppress a first exposure, has a chance of 2^-61 a lookup.
type Key uint64

// Hasher builds Keys and outcomes. Its zero value is not usable; use
// [NewHasher]. It is safe for concurrent use.
type Hasher struct{ seed maphash.Seed }

// NewHasher returns a Hasher with a fresh random seed.
func NewHasher() Hasher { return Hasher{maphash.MakeSeed()} }

// Key hashes the given strings. Each is prefixed with its length, so
// ("ab","c") and ("a","bc") differ.
func (h Hasher) Key(parts ...string) Key { return h.sum(nil, parts) }

// Extend hashes the strings that follow a key already made, such as the key
// of a unit followed by the name of a config: Extend(Key(a...), b...)
// identifies (a, b) as Key(a..., b...) would, with a shorter input.
func (h Hasher) Extend(k Key, parts ...string) Key {
	var prefix [8]byte
	binary.LittleEndian.PutUint64(prefix[:], uint64(k))
	return h.sum(prefix[:], parts)
}

// sum is the hash of prefix and parts. The input is laid out once, on the
// stack when it is short, and hashed in one call: a streaming maphash.Hash
// costs several times as much here.
func (h Hasher) sum(prefix []byte, parts []string) Key {
	var buf [256]byte
	return Key(maphash.Bytes(h.seed, encode(append(buf[:0], prefix...), parts)))
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
	return maphash.Bytes(h.seed, encode(buf[:0], parts))
}
