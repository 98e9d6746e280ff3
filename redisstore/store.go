package redisstore

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
	statsig "github.com/statsig-io/go-sdk"
)

// Defaults of [Options].
const (
	defaultPrefix        = "statsig:"
	defaultTimeout       = 50 * time.Millisecond
	defaultConfigTimeout = time.Second
	defaultCooldown      = time.Second
	defaultCheckInterval = 10 * time.Second
	defaultTTL           = 30 * 24 * time.Hour
	defaultMaxKeyBytes   = 128
)

// logEvery is how often at most the Store logs one kind of failure; the
// next line says how many it left out meanwhile.
const logEvery = 10 * time.Second

// Options configure a [Store]. The zero value is valid: every field has a
// default, used when the field is zero.
type Options struct {
	// Prefix starts every Redis key the Store reads or writes. Give each
	// environment (each Statsig server key) its own, such as
	// "shop:production:" and "shop:staging:": environments that share a
	// prefix overwrite each other's config and assignments. Every command
	// and script of the Store touches one key, so it runs on Redis Cluster
	// as it is; a hash tag in the prefix ("{shop}:") would put every key,
	// each visitor's too, in one slot. Default "statsig:".
	Prefix string

	// PollRedis makes the data adapter the source of config updates: the
	// SDK then polls Redis instead of Statsig, and only reaches Statsig
	// when Redis holds no config at start. Exactly one instance (or a
	// separate job) must run with PollRedis false, or the fleet serves the
	// last config written forever. A poll reads the stored config's time
	// and fetches the config only when the time changed.
	//
	// Default false: every instance polls Statsig itself and writes what it
	// gets to Redis. That default adds availability without adding a single
	// point of failure: no instance's freshness depends on another being
	// alive.
	PollRedis bool

	// Timeout bounds what a request waits for Redis: the persistent
	// storage's Load, the one Redis round trip it makes in the request that
	// reads an experiment. When Redis is slow or down, Load gives up after
	// Timeout and the SDK serves the live assignment. A dead Redis costs
	// Timeout too, not a quick refusal: go-redis retries refused
	// connections. Timeout also bounds how long the data adapter's Set
	// holds the SDK's config lock (see [Store.DataAdapter]). Default 50ms.
	Timeout time.Duration

	// ConfigTimeout bounds each Redis call made off the request path: the
	// data adapter's, which move the whole config (up to megabytes), and
	// each batch of sticky writes (saves, deletes, expiry refreshes). An
	// instance that starts while Redis is down waits this long before it
	// asks Statsig. Default 1s.
	ConfigTimeout time.Duration

	// Cooldown is how long the persistent storage, or the data adapter,
	// fails fast after one of its calls failed to reach Redis, so that a
	// request waits for a broken Redis at most once and a dead Redis sees
	// one probe per Cooldown instead of one per request. The two fail fast
	// separately: config trouble does not turn sticky reads off. A config
	// write that failed is retried every Cooldown. Default 1s.
	Cooldown time.Duration

	// ConfigCheckInterval is how often the data adapter, once the SDK has
	// given it a config, checks the config Redis holds and rewrites it when
	// it is missing (a FLUSHALL, a restart without persistence, an
	// eviction), older than its own, unreadable, dated more than a minute
	// in the future, or another project's. Each check reads a few bytes.
	// Default 10s, the SDK's default config sync interval.
	ConfigCheckInterval time.Duration

	// TTL is how long a unit's sticky values live after their last write
	// or a read that refreshed them; reads refresh the expiry at most once
	// per TTL/16. Default 30 days: a visitor keeps their groups for as long
	// as they come back at least once a month, and one-off visitors, most
	// of the traffic of a public site, stop costing memory a month after
	// their visit. An experiment that must hold its groups for visitors who
	// return less often needs a longer TTL.
	TTL time.Duration

	// MaxKeyBytes bounds the persistent-storage keys: an SDK key
	// ("unitID:idType") longer than this is stored under its SHA-256, so a
	// hostile or huge id cannot make huge Redis keys. Default 128, which
	// keeps e-mail-sized ids readable in Redis.
	MaxKeyBytes int

	// Logger receives failures to reach Redis, error replies and
	// undecodable values, each kind at most once per 10 seconds with the
	// number of repeats left out. Default slog.Default().
	Logger *slog.Logger
}

// Stats counts what a [Store] did since it was made. The sticky counters
// are about the persistent storage, Config* about the data adapter.
type Stats struct {
	Loads   uint64 // persistent-storage Load calls
	Saves   uint64 // persistent-storage Save calls
	Deletes uint64 // persistent-storage Delete calls

	// Failures counts persistent-storage round trips (a Load, or a batch
	// of writes) that were sent to Redis and failed or timed out, and
	// writes that Redis answered with an error.
	Failures uint64
	// Skipped counts Loads and batches of writes not sent because a
	// persistent-storage call had failed less than Cooldown before.
	Skipped uint64
	// Lost counts saves, deletes and expiry refreshes that were not
	// written: their batch failed or was skipped, or too many were
	// waiting.
	Lost uint64
	// Kept counts saves that found a value already stored for the unit and
	// experiment and left it: the request that saved could not read it
	// (Redis failed or was skipped), or another request stored it first.
	Kept uint64
	// Rejected counts persistent-storage calls for a key with an empty unit
	// id, which would put every id-less user in one shared record.
	Rejected uint64
	// Corrupt counts stored sticky values that did not decode and were
	// ignored; each is then deleted, so that the next save can store a
	// good one.
	Corrupt uint64

	// ConfigFailures counts data-adapter reads, checks and write attempts
	// that failed, timed out, or were skipped within Cooldown of a
	// failure.
	ConfigFailures uint64
	// ConfigRewrites counts config writes made because a check found the
	// stored config missing, older than the adapter's, or invalid.
	ConfigRewrites uint64
	// ConfigRefused counts config writes not made because Redis held a
	// newer config of the same project.
	ConfigRefused uint64
	// ConfigInvalid counts stored configs found unusable: a time that does
	// not parse, a time more than a minute in the future, another
	// project's config, or a key of the wrong type. Reads ignore them and
	// writes replace them.
	ConfigInvalid uint64
}

// Store keeps Statsig config specs and sticky assignments in Redis. It
// offers them to the SDK as a [statsig.IDataAdapter] and a
// [statsig.IUserPersistentStorage]:
//
//	opts.DataAdapter = store.DataAdapter()
//	opts.UserPersistentStorage = store.UserPersistentStorage()
//
// A Store is safe for concurrent use. It does not own the Redis client:
// shut down the statsig clients that use the Store (their Shutdown waits
// for the Store's writes, see [Store.Flush]), then close the Redis client.
type Store struct {
	rdb    redis.UniversalClient
	opts   Options
	log    *slog.Logger
	direct bool // the client honours context deadlines itself
	// The persistent storage and the data adapter fail fast separately.
	stickyBreaker, configBreaker breaker
	config                       *configAdapter
	sticky                       *stickyStorage
	logs                         logLimiter

	loads, saves, deletes          atomic.Uint64
	failures, skipped, lost, kept  atomic.Uint64
	rejected, corrupt              atomic.Uint64
	configFailures, configRewrites atomic.Uint64
	configRefused, configInvalid   atomic.Uint64
}

// New returns a Store on client with opts. It reports an error for a nil
// client and for negative durations or sizes. Later changes to opts have no
// effect on the Store.
//
// The client should have ContextTimeoutEnabled set. go-redis otherwise
// ignores context deadlines while it waits for a reply, and the Store then
// enforces its timeouts by running each call on a goroutine of its own and
// waiting for it at most the timeout; the hand-off costs a second
// scheduler wake-up per call, measured at about 1.7 times the latency of a
// loopback Load (BenchmarkStickyLoad, direct against goroutine).
func New(client redis.UniversalClient, opts Options) (*Store, error) {
	if client == nil {
		return nil, errors.New("redisstore: nil Redis client")
	}
	if v := reflect.ValueOf(client); v.Kind() == reflect.Pointer && v.IsNil() {
		return nil, fmt.Errorf("redisstore: nil Redis client of type %T", client)
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{
		{"Timeout", opts.Timeout},
		{"ConfigTimeout", opts.ConfigTimeout},
		{"Cooldown", opts.Cooldown},
		{"ConfigCheckInterval", opts.ConfigCheckInterval},
		{"TTL", opts.TTL},
	} {
		if d.v < 0 {
			return nil, fmt.Errorf("redisstore: negative %s %v", d.name, d.v)
		}
	}
	if opts.TTL != 0 && opts.TTL < time.Millisecond {
		return nil, fmt.Errorf("redisstore: TTL %v is below Redis's resolution of 1ms", opts.TTL)
	}
	if opts.MaxKeyBytes < 0 {
		return nil, fmt.Errorf("redisstore: negative MaxKeyBytes %d", opts.MaxKeyBytes)
	}
	if opts.Prefix == "" {
		opts.Prefix = defaultPrefix
	}
	if opts.Timeout == 0 {
		opts.Timeout = defaultTimeout
	}
	if opts.ConfigTimeout == 0 {
		opts.ConfigTimeout = defaultConfigTimeout
	}
	if opts.Cooldown == 0 {
		opts.Cooldown = defaultCooldown
	}
	if opts.ConfigCheckInterval == 0 {
		opts.ConfigCheckInterval = defaultCheckInterval
	}
	if opts.TTL == 0 {
		opts.TTL = defaultTTL
	}
	if opts.MaxKeyBytes == 0 {
		opts.MaxKeyBytes = defaultMaxKeyBytes
	}
	s := &Store{rdb: client, opts: opts, log: opts.Logger, direct: honoursContext(client)}
	if s.log == nil {
		s.log = slog.Default()
	}
	s.stickyBreaker.cooldown = int64(opts.Cooldown)
	s.configBreaker.cooldown = int64(opts.Cooldown)
	s.config = newConfigAdapter(s)
	s.sticky = newStickyStorage(s)
	return s, nil
}

// DataAdapter returns the Store's [statsig.IDataAdapter], for
// statsig.Options.DataAdapter. It stores the config specs under
// Prefix+"statsig.cache" (a hash of the spec's time, the hash of the SDK
// key it was made for, and the value) and the id lists under
// Prefix+"statsig.id_lists" and Prefix+"statsig.id_lists::NAME" (strings),
// none with an expiry.
//
// A config write never replaces a newer config of the same project:
// instances that poll Statsig at different moments cannot move Redis back
// to an older version. A stored config that is missing, older, unreadable,
// dated in the future or another project's is rewritten within
// ConfigCheckInterval. Writes run on a goroutine of the Store, and Set
// waits for them at most Timeout, because the SDK calls Set while it holds
// the lock that every evaluation takes: a hung Redis must not stall
// evaluations. Shutdown (the SDK calls it from Client.Shutdown) stops the
// checks and retries, and waits for the writes still under way, each
// bounded by ConfigTimeout, and for the sticky writes (see [Store.Flush]).
//
// The id lists are last writer wins: see the package documentation.
//
// With a data adapter the SDK ignores statsig.Options.BootstrapValues, and
// at start it serves the adapter's config whenever there is one, then
// reaches Statsig at its next sync.
func (s *Store) DataAdapter() statsig.IDataAdapter { return s.config }

// UserPersistentStorage returns the Store's
// [statsig.IUserPersistentStorage], for
// statsig.Options.UserPersistentStorage. The SDK applies sticky values only
// to calls that pass them (GetExperimentWithOptions and GetLayerWithOptions
// with PersistedValues from Client.GetUserPersistedValues), and calls Delete
// for every evaluation of a config or layer made without them.
//
// Each key is one Redis hash, Prefix+"sticky:"+key (or
// Prefix+"sticky#"+hex(SHA-256(key)) for a key longer than MaxKeyBytes),
// whose fields are config names and whose values are the SDK's JSON of
// [statsig.StickyValues] (the schema Statsig's SDKs share). A Save sets the
// hash's expiry to TTL, and a Load extends it to TTL when less than 15/16
// of it remains.
//
// Load is one Redis round trip, bounded by Timeout, and fails open:
// it reports nothing found. Save, Delete and the expiry refreshes are
// queued and written off the request path, in order, one pipeline per
// batch, each bounded by ConfigTimeout; a batch that fails is dropped. A Save never replaces a stored value: the SDK saves only when the
// values it was given lack the experiment, which is also what a request
// sees when its Load failed, and the group stored before must survive
// that. Failures are logged and counted in [Store.Stats].
//
// The Store warns once per id type when the SDK saves values under an id
// type that no Load has asked for: the experiment's unit is not the unit
// whose values the caller loads, so its assignments never stick.
func (s *Store) UserPersistentStorage() statsig.IUserPersistentStorage { return s.sticky }

// Flush waits until the sticky writes queued before the call are written
// or given up, or until ctx is done, and then returns ctx's error. Each
// batch of writes is bounded by ConfigTimeout. The data adapter's Shutdown (from
// statsig's Client.Shutdown) flushes too.
func (s *Store) Flush(ctx context.Context) error { return s.sticky.w.flush(ctx) }

// Stats returns the Store's counters.
func (s *Store) Stats() Stats {
	return Stats{
		Loads:          s.loads.Load(),
		Saves:          s.saves.Load(),
		Deletes:        s.deletes.Load(),
		Failures:       s.failures.Load(),
		Skipped:        s.skipped.Load(),
		Lost:           s.lost.Load(),
		Kept:           s.kept.Load(),
		Rejected:       s.rejected.Load(),
		Corrupt:        s.corrupt.Load(),
		ConfigFailures: s.configFailures.Load(),
		ConfigRewrites: s.configRewrites.Load(),
		ConfigRefused:  s.configRefused.Load(),
		ConfigInvalid:  s.configInvalid.Load(),
	}
}

// honoursContext reports whether client applies context deadlines to its
// network reads and writes (go-redis does only with ContextTimeoutEnabled).
func honoursContext(client redis.UniversalClient) bool {
	switch c := client.(type) {
	case *redis.Client:
		return c.Options().ContextTimeoutEnabled
	case *redis.ClusterClient:
		return c.Options().ContextTimeoutEnabled
	case *redis.Ring:
		return c.Options().ContextTimeoutEnabled
	}
	return false
}

// errSkipped is the error of a call not sent because Redis failed less
// than Cooldown ago.
var errSkipped = errors.New("redisstore: Redis failed less than Cooldown ago; call skipped")

// call runs fn within timeout unless b is open, and updates b: only a
// failure to get an answer from Redis opens it. Redis answering with an
// error (OOM, WRONGTYPE) and values that do not parse are faults of one
// call or one key, not of Redis.
func (s *Store) call(b *breaker, timeout time.Duration, fn func(ctx context.Context) error) error {
	if !b.allow() {
		return errSkipped
	}
	err := s.do(timeout, fn)
	if err == nil || answered(err) {
		b.success()
	} else {
		b.failure()
	}
	return err
}

// answered reports whether err is Redis's own answer.
func answered(err error) bool {
	var reply redis.Error
	return errors.Is(err, redis.Nil) || errors.As(err, &reply)
}

// do runs fn with a context that expires after timeout and returns by then
// even when the client ignores the deadline: fn then finishes on its own
// goroutine, bounded by the client's own timeouts.
func (s *Store) do(timeout time.Duration, fn func(ctx context.Context) error) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if s.direct {
		return fn(ctx)
	}
	done := make(chan error, 1)
	go func() { done <- fn(ctx) }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// breaker makes calls fail fast for a cooldown after a failure, letting
// one call at a time probe Redis once the cooldown ends.
type breaker struct {
	cooldown int64        // nanoseconds
	until    atomic.Int64 // Unix ns before which calls fail fast; 0 when healthy
}

// allow reports whether a call may go to Redis now.
func (b *breaker) allow() bool {
	for {
		until := b.until.Load()
		if until == 0 {
			return true
		}
		now := time.Now().UnixNano()
		if now < until {
			return false
		}
		// Cooldown over: the caller that moves the deadline probes, the
		// others keep failing fast until it succeeds or the new one ends.
		if b.until.CompareAndSwap(until, now+b.cooldown) {
			return true
		}
	}
}

func (b *breaker) success() {
	if b.until.Load() != 0 {
		b.until.Store(0)
	}
}

func (b *breaker) failure() { b.until.Store(time.Now().UnixNano() + b.cooldown) }

// logLimiter lets each message through at most once per logEvery. The
// messages are constants of this package, so the map stays small.
type logLimiter struct {
	mu   sync.Mutex
	last map[string]*logState
}

type logState struct {
	at         time.Time
	suppressed int
}

// logRated logs msg at level unless it was logged less than logEvery ago;
// the next line it lets through counts the ones left out.
func (s *Store) logRated(level slog.Level, msg string, args ...any) {
	l := &s.logs
	now := time.Now()
	l.mu.Lock()
	if l.last == nil {
		l.last = make(map[string]*logState)
	}
	st := l.last[msg]
	if st == nil {
		st = &logState{}
		l.last[msg] = st
	} else if now.Sub(st.at) < logEvery {
		st.suppressed++
		l.mu.Unlock()
		return
	}
	suppressed := st.suppressed
	st.at, st.suppressed = now, 0
	l.mu.Unlock()
	if suppressed > 0 {
		args = append(args, "repeats_not_logged", suppressed)
	}
	s.log.Log(context.Background(), level, msg, args...)
}
