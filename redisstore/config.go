package redisstore

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
	statsig "github.com/statsig-io/go-sdk"
)

// maxFuture is how far in the future a stored config's time may be before
// it is taken for invalid: Statsig dates a config when it changed, so a
// later time is a clock far off or a value that is not this fleet's.
const maxFuture = time.Minute

// setSpecsScript writes the config specs ARGV[4] of time ARGV[1] and SDK
// key hash ARGV[2] unless the hash holds a valid config at least as new.
// A stored config is invalid when its time does not parse or is after
// ARGV[3], when it was made for another SDK key, or when the key is not a
// hash. It returns 1 when it wrote over a missing or older config, 2 over
// an invalid one, 0 when the same version is there, -1 when a newer one is.
var setSpecsScript = redis.NewScript(`
local kind = redis.call('TYPE', KEYS[1]).ok
if kind ~= 'hash' and kind ~= 'none' then
  redis.call('DEL', KEYS[1])
end
local st = redis.call('HMGET', KEYS[1], 'time', 'sdk_key')
local ours = tonumber(ARGV[1])
local stored = tonumber(st[1] or '')
local foreign = ARGV[2] ~= '' and st[2] and st[2] ~= '' and st[2] ~= ARGV[2]
local result = 1
if kind ~= 'hash' and kind ~= 'none' then
  result = 2
elseif st[1] then
  if stored == nil or stored > tonumber(ARGV[3]) or foreign then
    result = 2
  elseif stored == ours then
    return 0
  elseif stored > ours then
    return -1
  end
end
redis.call('HSET', KEYS[1], 'time', ARGV[1], 'sdk_key', ARGV[2], 'value', ARGV[4])
return result`)

// Messages logged by the data adapter (each rate-limited).
const (
	msgConfigRead    = "redisstore: config read failed"
	msgConfigWrite   = "redisstore: config write failed; retrying"
	msgConfigRefused = "redisstore: config not written: Redis holds a newer one"
	msgConfigInvalid = "redisstore: the stored config is unusable; ignored, and rewritten by any instance that has one"
	msgConfigRewrite = "redisstore: the stored config was missing or older; rewrote it"
)

// specs is a config specs document and what the Store reads of it.
type specs struct {
	value  string
	time   int64  // 0 when the document has none or is not JSON
	sdkKey string // hashed_sdk_key_used, when present
}

func parseSpecs(value string) *specs {
	var doc struct {
		Time   int64  `json:"time"`
		SDKKey string `json:"hashed_sdk_key_used"`
	}
	if json.Unmarshal([]byte(value), &doc) != nil || doc.Time < 0 {
		return &specs{value: value}
	}
	return &specs{value: value, time: doc.Time, sdkKey: doc.SDKKey}
}

// configAdapter is the Store's statsig.IDataAdapter.
type configAdapter struct {
	s *Store

	mu      sync.Mutex
	pending []*write      // in the order of their first Set; one per key
	wake    chan struct{} // tells the writer a write is pending
	running bool          // the writer goroutine runs
	stop    chan struct{} // closed by Shutdown to end the writer
	done    chan struct{} // closed when the writer ends
	closed  bool          // Shutdown without a later Initialize
	latest  *specs        // the newest config specs given to Set
	clients int           // Initialize calls not yet matched by Shutdown
	fresh   bool          // the next Get returns the config whatever its time
	gotTime string        // stored time of the config Get returned last
}

// write is a value waiting to be written. Set replaces value in place (the
// config specs are merged into latest) and bumps seq; done is closed once
// the latest value is written or dropped.
type write struct {
	key, value string
	seq        int
	failed     int // seq+1 of the last try that failed, 0 for none
	done       chan struct{}
}

var _ statsig.IDataAdapter = (*configAdapter)(nil)

func newConfigAdapter(s *Store) *configAdapter {
	return &configAdapter{s: s, wake: make(chan struct{}, 1), fresh: true}
}

// Initialize opens the adapter, again after a Shutdown; the SDK calls it
// when a client starts. The Redis client connects on first use.
func (a *configAdapter) Initialize() {
	a.mu.Lock()
	a.clients++
	a.closed = false
	a.fresh = true
	a.mu.Unlock()
}

// Shutdown, once every client that initialised the adapter has called it,
// ends the config writer: it stops the checks, tries each pending write
// once more, and returns. It also waits for the sticky writes queued so
// far, at most about twice ConfigTimeout. It does not close the Redis client,
// which belongs to the caller. A Set after Shutdown tries its write once.
func (a *configAdapter) Shutdown() {
	a.mu.Lock()
	if a.clients > 0 {
		a.clients--
	}
	if a.clients > 0 {
		a.mu.Unlock()
		return
	}
	a.closed = true
	running, stop, done := a.running, a.stop, a.done
	a.running = false
	a.mu.Unlock()
	if running {
		close(stop)
		<-done
	}
	// The writer ends once its queue is empty; a bound keeps a Shutdown
	// short against clients that go on saving.
	ctx, cancel := context.WithTimeout(context.Background(), 2*a.s.opts.ConfigTimeout)
	defer cancel()
	_ = a.s.Flush(ctx)
}

// ShouldBeUsedForQueryingUpdates reports Options.PollRedis for every key.
func (a *configAdapter) ShouldBeUsedForQueryingUpdates(string) bool { return a.s.opts.PollRedis }

// Get returns the value stored for key, or "" when there is none or Redis
// could not be read within ConfigTimeout. For the config specs it reads
// the stored time first and returns "" (which the SDK ignores) when the
// config is unusable, or, with PollRedis, when it is the one this adapter
// returned last and the adapter serves a single client: the SDK would
// parse it again for nothing. (Clients sharing a Store each need every
// version, so they get it at every poll.)
func (a *configAdapter) Get(key string) string {
	s := a.s
	rkey := s.opts.Prefix + key
	if key != statsig.CONFIG_SPECS_KEY {
		var value string
		err := s.call(&s.configBreaker, s.opts.ConfigTimeout, func(ctx context.Context) error {
			var err error
			value, err = s.rdb.Get(ctx, rkey).Result()
			return err
		})
		if err != nil {
			a.readFailed(rkey, err)
			return ""
		}
		return value
	}

	var head []interface{}
	err := s.call(&s.configBreaker, s.opts.ConfigTimeout, func(ctx context.Context) error {
		var err error
		head, err = s.rdb.HMGet(ctx, rkey, "time", "sdk_key").Result()
		return err
	})
	if err != nil {
		a.readFailed(rkey, err)
		return ""
	}
	storedTime, _ := head[0].(string)
	storedKey, _ := head[1].(string)
	if head[0] == nil {
		return ""
	}
	a.mu.Lock()
	var ours string
	if a.latest != nil {
		ours = a.latest.sdkKey
	}
	a.mu.Unlock()
	if reason := invalidStored(storedTime, storedKey, ours); reason != "" {
		s.configInvalid.Add(1)
		s.logRated(slog.LevelWarn, msgConfigInvalid, "key", rkey, "reason", reason)
		return ""
	}
	a.mu.Lock()
	unchanged := s.opts.PollRedis && !a.fresh && a.clients <= 1 && storedTime == a.gotTime
	a.mu.Unlock()
	if unchanged {
		return ""
	}
	var both []interface{}
	err = s.call(&s.configBreaker, s.opts.ConfigTimeout, func(ctx context.Context) error {
		var err error
		both, err = s.rdb.HMGet(ctx, rkey, "time", "value").Result()
		return err
	})
	if err != nil {
		a.readFailed(rkey, err)
		return ""
	}
	t, _ := both[0].(string)
	value, _ := both[1].(string)
	a.mu.Lock()
	a.gotTime, a.fresh = t, false
	a.mu.Unlock()
	return value
}

func (a *configAdapter) readFailed(rkey string, err error) {
	if errors.Is(err, redis.Nil) {
		return
	}
	a.s.configFailures.Add(1)
	if err != errSkipped {
		a.s.logRated(slog.LevelError, msgConfigRead, "key", rkey, "err", err)
	}
}

// invalidStored says why a stored config of time t and SDK key hash key is
// unusable, given ours (the hash of the newest config Set, or ""), or
// returns "".
func invalidStored(t, key, ours string) string {
	n, err := strconv.ParseInt(t, 10, 64)
	switch {
	case err != nil:
		return "time does not parse"
	case n > time.Now().Add(maxFuture).UnixMilli():
		return "time in the future"
	case ours != "" && key != "" && key != ours:
		return "another SDK key's config"
	}
	return ""
}

// Set stores value under key. The write runs on the adapter's goroutine,
// which retries it every Cooldown until it succeeds; Set waits for it at
// most Timeout (see Store.DataAdapter). A later Set of the same key
// replaces a value not yet written, except that config specs only ever
// move to a newer time. After Shutdown, Set tries its write once.
func (a *configAdapter) Set(key string, value string) {
	a.mu.Lock()
	if a.closed {
		a.mu.Unlock()
		done := make(chan struct{})
		go func() {
			defer close(done)
			if key == statsig.CONFIG_SPECS_KEY {
				a.writeSpecs(parseSpecs(value), false)
			} else {
				a.writeValue(key, value)
			}
		}()
		a.await(done)
		return
	}
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
		a.stop, a.done = make(chan struct{}), make(chan struct{})
		go a.run(a.stop, a.done)
	}
	a.mu.Unlock()
	select {
	case a.wake <- struct{}{}:
	default:
	}
	a.await(w.done)
}

func (a *configAdapter) await(done chan struct{}) {
	t := time.NewTimer(a.s.opts.Timeout)
	defer t.Stop()
	select {
	case <-done:
	case <-t.C:
	}
}

// run is the writer: it writes the pending values, retries failed ones
// every Cooldown, and checks the stored config every ConfigCheckInterval,
// until stop is closed; then it tries each pending value once more.
func (a *configAdapter) run(stop, done chan struct{}) {
	defer close(done)
	check := time.NewTicker(a.s.opts.ConfigCheckInterval)
	defer check.Stop()
	retry := time.NewTimer(a.s.opts.Cooldown)
	retry.Stop()
	defer retry.Stop()
	retrying, armed := false, false
	for {
		failed := a.drain(retrying)
		retrying = false
		if failed && !armed {
			retry.Reset(a.s.opts.Cooldown)
			armed = true
		}
		var retryC <-chan time.Time
		if armed {
			retryC = retry.C
		}
		select {
		case <-stop:
			a.drain(true)
			a.mu.Lock()
			for _, w := range a.pending {
				close(w.done)
			}
			a.pending = nil
			a.mu.Unlock()
			return
		case <-a.wake:
		case <-retryC:
			retrying, armed = true, false
		case <-check.C:
			a.mu.Lock()
			latest := a.latest
			a.mu.Unlock()
			if latest != nil {
				a.writeSpecs(latest, true)
			}
		}
	}
}

// drain tries each pending value once (again when Set replaced it
// meanwhile) and reports whether a write failed. Values whose last try
// failed wait for a retry.
func (a *configAdapter) drain(retry bool) (failed bool) {
	tried := map[*write]int{}
	for {
		a.mu.Lock()
		var w *write
		for _, p := range a.pending {
			if !retry && p.failed == p.seq+1 {
				failed = true
				continue
			}
			if seq, ok := tried[p]; !ok || seq != p.seq {
				w = p
				break
			}
		}
		if w == nil {
			a.mu.Unlock()
			return failed
		}
		key, value, seq := w.key, w.value, w.seq
		a.mu.Unlock()

		var err error
		if key == statsig.CONFIG_SPECS_KEY {
			err = a.writeSpecs(a.merge(value), false)
		} else {
			err = a.writeValue(key, value)
		}
		tried[w] = seq

		a.mu.Lock()
		if err != nil {
			failed = true
			w.failed = seq + 1
		} else if w.seq == seq {
			for i, p := range a.pending {
				if p == w {
					a.pending = append(a.pending[:i], a.pending[i+1:]...)
					break
				}
			}
			close(w.done)
		}
		a.mu.Unlock()
	}
}

// merge makes value the latest config specs when it is newer than the
// latest (or the first), and returns the latest: several clients sharing
// a Store may Set versions out of order.
func (a *configAdapter) merge(value string) *specs {
	sp := parseSpecs(value)
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.latest == nil || sp.time > a.latest.time {
		a.latest = sp
	}
	return a.latest
}

// writeValue stores a plain value (the id lists), last writer wins.
func (a *configAdapter) writeValue(key, value string) error {
	s := a.s
	rkey := s.opts.Prefix + key
	err := s.call(&s.configBreaker, s.opts.ConfigTimeout, func(ctx context.Context) error {
		return s.rdb.Set(ctx, rkey, value, 0).Err()
	})
	if err != nil {
		a.writeFailed(rkey, err)
	}
	return err
}

func (a *configAdapter) writeFailed(rkey string, err error) {
	a.s.configFailures.Add(1)
	if err != errSkipped {
		a.s.logRated(slog.LevelError, msgConfigWrite, "key", rkey, "err", err, "every", a.s.opts.Cooldown)
	}
}

// writeSpecs stores sp unless Redis holds a valid config at least as new.
// It reads the stored time first, so that instances finding the version
// there skip sending megabytes. A check (a periodic write of the latest
// config) counts and logs what it repairs.
func (a *configAdapter) writeSpecs(sp *specs, check bool) error {
	s := a.s
	rkey := s.opts.Prefix + statsig.CONFIG_SPECS_KEY
	var result int64
	err := s.call(&s.configBreaker, s.opts.ConfigTimeout, func(ctx context.Context) error {
		head, err := s.rdb.HMGet(ctx, rkey, "time", "sdk_key").Result()
		var reply redis.Error
		if err != nil && !errors.As(err, &reply) { // WRONGTYPE: the script replaces it
			return err
		}
		if err == nil && head[0] != nil {
			t, _ := head[0].(string)
			key, _ := head[1].(string)
			if invalidStored(t, key, sp.sdkKey) == "" {
				stored, _ := strconv.ParseInt(t, 10, 64)
				if stored == sp.time {
					result = 0
					return nil
				}
				if stored > sp.time {
					result = -1
					return nil
				}
			}
		}
		maxTime := time.Now().Add(maxFuture).UnixMilli()
		result, err = setSpecsScript.Run(ctx, s.rdb, []string{rkey}, sp.time, sp.sdkKey, maxTime, sp.value).Int64()
		return err
	})
	if err != nil {
		a.writeFailed(rkey, err)
		return err
	}
	switch result {
	case -1:
		// A check finding a newer version is the normal lag until this
		// instance's SDK syncs; only a write the SDK asked for is refused.
		if !check {
			s.configRefused.Add(1)
			s.logRated(slog.LevelWarn, msgConfigRefused, "key", rkey, "time", sp.time)
		}
	case 1:
		if check {
			s.configRewrites.Add(1)
			s.logRated(slog.LevelWarn, msgConfigRewrite, "key", rkey, "time", sp.time)
		}
	case 2:
		s.configInvalid.Add(1)
		if check {
			s.configRewrites.Add(1)
		}
		s.logRated(slog.LevelWarn, msgConfigInvalid, "key", rkey, "rewritten_with_time", sp.time)
	}
	return nil
}
