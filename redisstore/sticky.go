package redisstore

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"strings"

	"github.com/redis/go-redis/v9"
	statsig "github.com/statsig-io/go-sdk"
)

// saveScript sets one field and the hash's expiry in one step, so that no
// hash is ever left without an expiry.
var saveScript = redis.NewScript(`
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return 1`)

// stickyStorage is the Store's statsig.IUserPersistentStorage.
type stickyStorage struct{ s *Store }

var _ statsig.IUserPersistentStorage = (*stickyStorage)(nil)

// Load returns the sticky values stored for key, or (nil, false) when there
// are none or Redis could not be read in time.
func (p *stickyStorage) Load(key string) (statsig.UserPersistedValues, bool) {
	s := p.s
	s.loads.Add(1)
	rkey, ok := s.stickyKey(key)
	if !ok {
		return nil, false
	}
	var fields map[string]string
	if !s.stickyCall("load", func(ctx context.Context) error {
		// One round trip reads the values and their expiry; a second one,
		// at most once per TTL/16 for an active unit, extends the expiry.
		// (A Lua script doing both measured slower than this pipeline.)
		var all *redis.MapStringStringCmd
		var pttl *redis.DurationCmd
		_, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
			all = p.HGetAll(ctx, rkey)
			pttl = p.PTTL(ctx, rkey)
			return nil
		})
		if err != nil {
			return err
		}
		fields = all.Val()
		if len(fields) > 0 && pttl.Val() < s.opts.TTL-s.opts.TTL/16 {
			// Best effort: the values read are good either way.
			s.rdb.PExpire(ctx, rkey, s.opts.TTL)
		}
		return nil
	}) {
		return nil, false
	}
	values, corrupt := decodeSticky(fields)
	if corrupt > 0 {
		s.corrupt.Add(uint64(corrupt))
		s.log.Warn("redisstore: ignored undecodable sticky values", "count", corrupt)
	}
	if len(values) == 0 {
		return nil, false
	}
	return values, true
}

// Save stores data as the sticky value of configName for key.
func (p *stickyStorage) Save(key string, configName string, data statsig.StickyValues) {
	s := p.s
	s.saves.Add(1)
	rkey, ok := s.stickyKey(key)
	if !ok {
		return
	}
	value, err := json.Marshal(data)
	if err != nil {
		// Only a JsonValue holding what JSON cannot represent (NaN, a
		// channel) gets here; the SDK never builds one.
		s.failures.Add(1)
		s.log.Error("redisstore: sticky value does not encode", "config", configName, "err", err)
		return
	}
	s.stickyCall("save", func(ctx context.Context) error {
		return saveScript.Run(ctx, s.rdb, []string{rkey}, configName, value, s.opts.TTL.Milliseconds()).Err()
	})
}

// Delete removes the sticky value of configName for key.
func (p *stickyStorage) Delete(key string, configName string) {
	s := p.s
	s.deletes.Add(1)
	rkey, ok := s.stickyKey(key)
	if !ok {
		return
	}
	s.stickyCall("delete", func(ctx context.Context) error {
		return s.rdb.HDel(ctx, rkey, configName).Err()
	})
}

// stickyCall runs fn as a call of the persistent storage and reports
// whether it succeeded, counting and logging failures.
func (s *Store) stickyCall(op string, fn func(ctx context.Context) error) bool {
	err := s.call(s.opts.Timeout, fn)
	switch {
	case err == nil:
		return true
	case err == errSkipped:
		s.skipped.Add(1)
	default:
		s.failures.Add(1)
		s.log.Error("redisstore: sticky "+op+" failed; serving live assignments", "err", err, "timeout", s.opts.Timeout)
	}
	return false
}

// stickyKey maps the SDK's persistent-storage key ("unitID:idType") to a
// Redis key of bounded size. It refuses a key whose unit id is empty: all
// users without that id would share one record.
func (s *Store) stickyKey(key string) (string, bool) {
	rkey, ok := stickyKey(s.opts.Prefix, key, s.opts.MaxKeyBytes)
	if !ok {
		s.rejected.Add(1)
	}
	return rkey, ok
}

func stickyKey(prefix, key string, maxBytes int) (string, bool) {
	i := strings.LastIndexByte(key, ':')
	if i <= 0 || i == len(key)-1 {
		return "", false
	}
	if len(key) <= maxBytes {
		return prefix + "sticky:" + key, true
	}
	// A separate namespace: no raw key can name a hashed one.
	sum := sha256.Sum256([]byte(key))
	return prefix + "sticky#" + hex.EncodeToString(sum[:]), true
}

// decodeSticky turns a unit's hash (config name to JSON) into sticky
// values, skipping values that do not decode; it returns how many it
// skipped.
func decodeSticky(fields map[string]string) (statsig.UserPersistedValues, int) {
	if len(fields) == 0 {
		return nil, 0
	}
	corrupt := 0
	values := make(statsig.UserPersistedValues, len(fields))
	for name, raw := range fields {
		var v statsig.StickyValues
		// The SDK saves only experiment groups, which have a rule id; a
		// value without one ("null", "{}") would pin the unit to defaults.
		if json.Unmarshal([]byte(raw), &v) != nil || v.RuleID == "" {
			corrupt++
			continue
		}
		values[name] = v
	}
	return values, corrupt
}
