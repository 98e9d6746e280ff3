package redisstore

import (
	"context"
	"encoding/json"
	"errors"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
	statsig "github.com/statsig-io/go-sdk"
)

// setSpecsScript writes the config specs ARGV[2] of time ARGV[1] unless the
// hash already holds specs at least as new.
var setSpecsScript = redis.NewScript(`
local t = tonumber(redis.call('HGET', KEYS[1], 'time') or '-1')
if tonumber(ARGV[1]) > t then
  redis.call('HSET', KEYS[1], 'time', ARGV[1], 'value', ARGV[2])
  return 1
end
return 0`)

// configAdapter is the Store's statsig.IDataAdapter.
type configAdapter struct {
	s *Store

	mu      sync.Mutex
	idle    *sync.Cond    // signalled when the writer stops
	pending []*write      // in the order of their first Set; one per key
	running bool          // a writer goroutine is draining pending
	stop    chan struct{} // closed by Shutdown to end retries
}

// write is a value waiting to be written. Set replaces value in place and
// bumps seq; done is closed once the latest value is written or dropped.
type write struct {
	key, value string
	seq        int
	done       chan struct{}
}

var _ statsig.IDataAdapter = (*configAdapter)(nil)

func newConfigAdapter(s *Store) *configAdapter {
	a := &configAdapter{s: s, stop: make(chan struct{})}
	a.idle = sync.NewCond(&a.mu)
	return a
}

// Initialize does nothing: the Redis client connects on first use.
func (a *configAdapter) Initialize() {}

// Shutdown ends the retries of failed writes: it waits while each pending
// value is tried once more, and drops those that fail. It does not close the Redis client, which
// belongs to the caller. The adapter can be used again afterwards.
func (a *configAdapter) Shutdown() {
	a.mu.Lock()
	defer a.mu.Unlock()
	if !a.running {
		return
	}
	close(a.stop)
	for a.running {
		a.idle.Wait()
	}
	a.stop = make(chan struct{})
}

// ShouldBeUsedForQueryingUpdates reports Options.PollRedis for every key.
func (a *configAdapter) ShouldBeUsedForQueryingUpdates(string) bool { return a.s.opts.PollRedis }

// Get returns the value stored for key, or "" when there is none or Redis
// could not be read within ConfigTimeout.
func (a *configAdapter) Get(key string) string {
	s := a.s
	rkey := s.opts.Prefix + key
	var value string
	err := s.call(s.opts.ConfigTimeout, func(ctx context.Context) error {
		var err error
		if key == statsig.CONFIG_SPECS_KEY {
			value, err = s.rdb.HGet(ctx, rkey, "value").Result()
		} else {
			value, err = s.rdb.Get(ctx, rkey).Result()
		}
		return err
	})
	if err != nil {
		if !errors.Is(err, redis.Nil) {
			s.configFailures.Add(1)
			s.log.Error("redisstore: config read failed", "key", rkey, "err", err)
		}
		return ""
	}
	return value
}

// Set stores value under key. The write runs on the adapter's goroutine,
// which retries it every Cooldown until it succeeds; Set waits for it at
// most Timeout (see Store.DataAdapter). A later Set of the same key
// replaces a value not yet written.
func (a *configAdapter) Set(key string, value string) {
	a.mu.Lock()
	var w *write
	for _, p := range a.pending {
		if p.key == key {
			w = p
			w.value = value
			w.seq++
			break
		}
	}
	if w == nil {
		w = &write{key: key, value: value, done: make(chan struct{})}
		a.pending = append(a.pending, w)
	}
	if !a.running {
		a.running = true
		go a.drain(a.stop)
	}
	a.mu.Unlock()

	t := time.NewTimer(a.s.opts.Timeout)
	defer t.Stop()
	select {
	case <-w.done:
	case <-t.C:
	}
}

// drain writes the pending values in order until none is left, retrying a
// failed write every Cooldown until stop is closed; after that it tries
// each once.
func (a *configAdapter) drain(stop chan struct{}) {
	var retry *time.Timer
	for {
		a.mu.Lock()
		if len(a.pending) == 0 {
			a.running = false
			a.idle.Broadcast()
			a.mu.Unlock()
			return
		}
		w := a.pending[0]
		key, value, seq := w.key, w.value, w.seq
		a.mu.Unlock()

		err := a.write(key, value)

		a.mu.Lock()
		stopped := isClosed(stop)
		if err == nil && w.seq == seq || stopped {
			// Written, or tried once since Shutdown: done with it.
			close(w.done)
			a.pending[0] = nil
			a.pending = a.pending[1:]
		}
		retrySame := err != nil && w.seq == seq && !stopped
		a.mu.Unlock()

		if retrySame {
			if retry == nil {
				retry = time.NewTimer(a.s.opts.Cooldown)
			} else {
				retry.Reset(a.s.opts.Cooldown)
			}
			select {
			case <-retry.C:
			case <-stop:
			}
		}
	}
}

func isClosed(c chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}

// write stores one value, the config specs only when newer than Redis's.
func (a *configAdapter) write(key, value string) error {
	s := a.s
	rkey := s.opts.Prefix + key
	err := s.call(s.opts.ConfigTimeout, func(ctx context.Context) error {
		if key != statsig.CONFIG_SPECS_KEY {
			return s.rdb.Set(ctx, rkey, value, 0).Err()
		}
		t := specsTime(value)
		// Every instance writes each new version; all but the first find
		// it there and skip sending megabytes.
		stored, err := s.rdb.HGet(ctx, rkey, "time").Int64()
		if err == nil && stored >= t {
			return nil
		}
		if err != nil && !errors.Is(err, redis.Nil) {
			return err
		}
		return setSpecsScript.Run(ctx, s.rdb, []string{rkey}, t, value).Err()
	})
	if err != nil {
		s.configFailures.Add(1)
		if err != errSkipped {
			s.log.Error("redisstore: config write failed; retrying", "key", rkey, "err", err, "every", s.opts.Cooldown)
		}
	}
	return err
}

// specsTime returns the "time" of a download_config_specs document, or 0
// when it has none or is not JSON: such a value only fills an empty store.
func specsTime(value string) int64 {
	var doc struct {
		Time int64 `json:"time"`
	}
	if json.Unmarshal([]byte(value), &doc) != nil || doc.Time < 0 {
		return 0
	}
	return doc.Time
}
