package redisstore

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"log/slog"
	"strings"
	"sync"

	"github.com/redis/go-redis/v9"
	statsig "github.com/statsig-io/go-sdk"
)

// saveScript sets one field unless it is there, and the hash's expiry, in
// one step, so that no hash is ever left without an expiry. It returns 1
// when it stored the value, 0 when it kept the one there.
var saveScript = redis.NewScript(`
local n = redis.call('HSETNX', KEYS[1], ARGV[1], ARGV[2])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return n`)

// repairScript deletes a field that still holds the undecodable value a
// Load found, and nothing a writer has stored since.
var repairScript = redis.NewScript(`
if redis.call('HGET', KEYS[1], ARGV[1]) == ARGV[2] then
  return redis.call('HDEL', KEYS[1], ARGV[1])
end
return 0`)

// Sticky write queue bounds: how many writes may wait, and how many one
// round trip carries.
const (
	maxQueuedWrites = 10000
	maxBatch        = 256
)

// Messages logged by the persistent storage (each rate-limited).
const (
	msgLoadFailed  = "redisstore: sticky load failed; serving live assignments"
	msgWriteFailed = "redisstore: sticky writes failed; the visitors keep their live assignments for now"
	msgWriteReply  = "redisstore: Redis refused sticky writes"
	msgQueueFull   = "redisstore: too many sticky writes waiting; dropped"
	msgCorrupt     = "redisstore: ignored undecodable sticky values; deleting them"
)

// stickyStorage is the Store's statsig.IUserPersistentStorage.
type stickyStorage struct {
	s *Store
	w writer

	mu     sync.RWMutex
	loaded map[string]bool // id types Loads asked for
	warned map[string]bool // id types warned about
}

var _ statsig.IUserPersistentStorage = (*stickyStorage)(nil)

func newStickyStorage(s *Store) *stickyStorage {
	p := &stickyStorage{s: s, loaded: map[string]bool{}, warned: map[string]bool{}}
	p.w.s = s
	return p
}

// maxIDTypes bounds the id types remembered for the unit warning.
const maxIDTypes = 64

// Load returns the sticky values stored for key, or (nil, false) when there
// are none or Redis could not be read in time. It is one round trip.
func (p *stickyStorage) Load(key string) (statsig.UserPersistedValues, bool) {
	s := p.s
	s.loads.Add(1)
	rkey, ok := s.stickyKey(key)
	if !ok {
		return nil, false
	}
	p.noteLoad(idType(key))
	var fields map[string]string
	var pttl *redis.DurationCmd
	err := s.call(&s.stickyBreaker, s.opts.Timeout, func(ctx context.Context) error {
		var all *redis.MapStringStringCmd
		_, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
			all = p.HGetAll(ctx, rkey)
			pttl = p.PTTL(ctx, rkey)
			return nil
		})
		fields = all.Val()
		return err
	})
	if err != nil {
		p.failed(err, msgLoadFailed)
		return nil, false
	}
	values, corrupt := decodeSticky(fields)
	var ops []writeOp
	if len(fields) > 0 && pttl.Val() < s.opts.TTL-s.opts.TTL/16 {
		// At most once per TTL/16 for an active unit; off the request.
		ops = append(ops, writeOp{kind: opExpire, key: rkey})
	}
	if len(corrupt) > 0 {
		s.corrupt.Add(uint64(len(corrupt)))
		s.logRated(slog.LevelWarn, msgCorrupt, "key", rkey, "fields", len(corrupt))
		for _, name := range corrupt {
			ops = append(ops, writeOp{kind: opRepair, key: rkey, field: name, value: fields[name]})
		}
	}
	if len(ops) > 0 {
		p.w.enqueue(ops...)
	}
	if len(values) == 0 {
		return nil, false
	}
	return values, true
}

// Save queues data as the sticky value of configName for key, stored
// unless a value is there already.
func (p *stickyStorage) Save(key string, configName string, data statsig.StickyValues) {
	s := p.s
	s.saves.Add(1)
	rkey, ok := s.stickyKey(key)
	if !ok {
		return
	}
	p.checkUnit(idType(key), configName)
	value, err := json.Marshal(data)
	if err != nil {
		// Only a JsonValue holding what JSON cannot represent (NaN, a
		// channel) gets here; the SDK never builds one.
		s.failures.Add(1)
		s.log.Error("redisstore: sticky value does not encode", "config", configName, "err", err)
		return
	}
	p.w.enqueue(writeOp{kind: opSave, key: rkey, field: configName, value: string(value)})
}

// Delete queues the removal of the sticky value of configName for key.
func (p *stickyStorage) Delete(key string, configName string) {
	s := p.s
	s.deletes.Add(1)
	rkey, ok := s.stickyKey(key)
	if !ok {
		return
	}
	p.w.enqueue(writeOp{kind: opDelete, key: rkey, field: configName})
}

// failed counts and logs a persistent-storage call that did not succeed.
func (p *stickyStorage) failed(err error, msg string) {
	s := p.s
	if err == errSkipped {
		s.skipped.Add(1)
		return
	}
	s.failures.Add(1)
	s.logRated(slog.LevelError, msg, "err", err, "timeout", s.opts.Timeout)
}

// idType returns the id type of an SDK key ("unitID:idType").
func idType(key string) string { return key[strings.LastIndexByte(key, ':')+1:] }

func (p *stickyStorage) noteLoad(t string) {
	p.mu.RLock()
	known := p.loaded[t]
	p.mu.RUnlock()
	if known {
		return
	}
	p.mu.Lock()
	if len(p.loaded) < maxIDTypes {
		p.loaded[t] = true
	}
	p.mu.Unlock()
}

// checkUnit warns once per id type when the SDK saves under an id type no
// Load has asked for: the values it saves are never read.
func (p *stickyStorage) checkUnit(t, configName string) {
	p.mu.RLock()
	fine := p.loaded[t] || p.warned[t] || len(p.loaded) >= maxIDTypes
	p.mu.RUnlock()
	if fine {
		return
	}
	p.mu.Lock()
	if p.loaded[t] || p.warned[t] || len(p.warned) >= maxIDTypes {
		p.mu.Unlock()
		return
	}
	p.warned[t] = true
	loaded := make([]string, 0, len(p.loaded))
	for k := range p.loaded {
		loaded = append(loaded, k)
	}
	p.mu.Unlock()
	p.s.log.Warn("redisstore: the SDK saves sticky values under an id type that no Load reads, so they never stick; "+
		"load the values of the experiment's unit (statsigmw Config.StickyUnit)",
		"saved_id_type", t, "loaded_id_types", loaded, "config", configName)
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
// values, skipping values that do not decode; it returns the names of the
// fields it skipped.
func decodeSticky(fields map[string]string) (statsig.UserPersistedValues, []string) {
	if len(fields) == 0 {
		return nil, nil
	}
	var corrupt []string
	values := make(statsig.UserPersistedValues, len(fields))
	for name, raw := range fields {
		var v statsig.StickyValues
		// The SDK saves only experiment groups, which have a rule id; a
		// value without one ("null", "{}") would pin the unit to defaults.
		if json.Unmarshal([]byte(raw), &v) != nil || v.RuleID == "" {
			corrupt = append(corrupt, name)
			continue
		}
		values[name] = v
	}
	return values, corrupt
}

// Kinds of sticky writes.
const (
	opSave = iota
	opDelete
	opExpire
	opRepair
)

type writeOp struct {
	kind              int
	key, field, value string
}

// writer writes the queued sticky writes in order, off the request path:
// a goroutine, started when writes wait and ending when none do, sends
// them in batches of one pipeline each.
type writer struct {
	s *Store

	mu      sync.Mutex
	queue   []writeOp
	running bool
	idle    chan struct{} // closed when the running goroutine ends
}

func (w *writer) enqueue(ops ...writeOp) {
	w.mu.Lock()
	if len(w.queue)+len(ops) > maxQueuedWrites {
		w.mu.Unlock()
		w.s.lost.Add(uint64(len(ops)))
		w.s.logRated(slog.LevelError, msgQueueFull, "waiting", maxQueuedWrites)
		return
	}
	w.queue = append(w.queue, ops...)
	if !w.running {
		w.running = true
		w.idle = make(chan struct{})
		go w.run(w.idle)
	}
	w.mu.Unlock()
}

func (w *writer) run(idle chan struct{}) {
	for {
		w.mu.Lock()
		n := min(len(w.queue), maxBatch)
		if n == 0 {
			w.running = false
			w.queue = nil
			close(idle)
			w.mu.Unlock()
			return
		}
		batch := make([]writeOp, n)
		copy(batch, w.queue)
		w.queue = w.queue[n:]
		w.mu.Unlock()
		w.write(batch)
	}
}

// flush waits for the writer to go idle, or for ctx.
func (w *writer) flush(ctx context.Context) error {
	w.mu.Lock()
	if !w.running {
		w.mu.Unlock()
		return nil
	}
	idle := w.idle
	w.mu.Unlock()
	select {
	case <-idle:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// write sends batch in one round trip and accounts for the outcome.
func (w *writer) write(batch []writeOp) {
	s := w.s
	ttl := s.opts.TTL.Milliseconds()
	var cmds []redis.Cmder
	err := s.call(&s.stickyBreaker, s.opts.ConfigTimeout, func(ctx context.Context) error {
		var err error
		cmds, err = s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
			for _, op := range batch {
				switch op.kind {
				case opSave:
					// The script text, not its SHA: a pipeline cannot
					// fall back from NOSCRIPT, and Redis caches it.
					saveScript.Eval(ctx, p, []string{op.key}, op.field, op.value, ttl)
				case opDelete:
					p.HDel(ctx, op.key, op.field)
				case opExpire:
					p.PExpire(ctx, op.key, s.opts.TTL)
				case opRepair:
					repairScript.Eval(ctx, p, []string{op.key}, op.field, op.value)
				}
			}
			return nil
		})
		return err
	})
	if err != nil && !answered(err) {
		s.lost.Add(uint64(len(batch)))
		if err == errSkipped {
			s.skipped.Add(1)
		} else {
			s.failures.Add(1)
			s.logRated(slog.LevelError, msgWriteFailed, "err", err, "writes", len(batch), "timeout", s.opts.ConfigTimeout)
		}
		return
	}
	var refused int
	var firstErr error
	for i, c := range cmds {
		if c.Err() != nil {
			refused++
			if firstErr == nil {
				firstErr = c.Err()
			}
			continue
		}
		if batch[i].kind == opSave {
			if n, _ := c.(*redis.Cmd).Int64(); n == 0 {
				s.kept.Add(1)
			}
		}
	}
	if refused > 0 {
		s.failures.Add(uint64(refused))
		s.lost.Add(uint64(refused))
		s.logRated(slog.LevelError, msgWriteReply, "err", firstErr, "writes", refused)
	}
}
