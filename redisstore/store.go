package redisstore

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"reflect"
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
	defaultTTL           = 30 * 24 * time.Hour
	defaultMaxKeyBytes   = 128
)

// Options configure a [Store]. The zero value is valid: every field has a
// default, used when the field is zero.
type Options struct {
	// Prefix starts every Redis key the Store reads or writes, so that
	// several environments (each with its own Statsig server key) share one
	// Redis without seeing each other's config or assignments. Default
	// "statsig:".
	Prefix string

	// PollRedis makes the data adapter the source of config updates: the
	// SDK then polls Redis instead of Statsig, and only reaches Statsig
	// when Redis holds no config at start. Exactly one instance (or a
	// separate job) must run with PollRedis false, or the fleet serves the
	// last config written forever.
	//
	// Default false: every instance polls Statsig itself and writes what it
	// gets to Redis, and Redis serves instances that start while Statsig is
	// unreachable. That default adds availability without adding a single
	// point of failure: no instance's freshness depends on another being
	// alive.
	PollRedis bool

	// Timeout bounds each Redis call of the persistent storage, which runs
	// inside the request that evaluates an experiment: when Redis is slow
	// or down, the call gives up after Timeout and the SDK serves the live
	// assignment. A dead Redis costs Timeout too, not a quick refusal:
	// go-redis retries refused connections. It also bounds how long the
	// data adapter's Set holds the SDK's config lock (see
	// [Store.DataAdapter]). Default 50ms.
	Timeout time.Duration

	// ConfigTimeout bounds each Redis call of the data adapter, which moves
	// the whole config (up to megabytes) outside any request. An instance
	// that starts while Redis is down waits this long before it asks
	// Statsig. Default 1s.
	ConfigTimeout time.Duration

	// Cooldown is how long the Store fails fast after a call failed to
	// reach Redis, so that a request waits for a broken Redis at most once
	// and a dead Redis sees one probe per Cooldown instead of one per
	// request. A config write that failed is retried every Cooldown.
	// Default 1s.
	Cooldown time.Duration

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

	// Logger receives failures to reach Redis and undecodable values.
	// Default slog.Default().
	Logger *slog.Logger
}

// Stats counts what a [Store] did since it was made. The sticky counters
// are about the persistent storage, Config* about the data adapter.
type Stats struct {
	Loads   uint64 // persistent-storage Load calls
	Saves   uint64 // persistent-storage Save calls
	Deletes uint64 // persistent-storage Delete calls

	// Failures counts persistent-storage calls that were sent to Redis and
	// failed or timed out; each is logged.
	Failures uint64
	// Skipped counts persistent-storage calls not sent because a call had
	// failed less than Cooldown before.
	Skipped uint64
	// Rejected counts persistent-storage calls for a key with an empty unit
	// id, which would put every id-less user in one shared record.
	Rejected uint64
	// Corrupt counts stored sticky values that did not decode and were
	// ignored.
	Corrupt uint64

	// ConfigFailures counts data-adapter reads and write attempts that
	// failed, timed out, or were skipped within Cooldown of a failure.
	ConfigFailures uint64
}

// Store keeps Statsig config specs and sticky assignments in Redis. It
// offers them to the SDK as a [statsig.IDataAdapter] and a
// [statsig.IUserPersistentStorage]:
//
//	opts.DataAdapter = store.DataAdapter()
//	opts.UserPersistentStorage = store.UserPersistentStorage()
//
// A Store is safe for concurrent use. It does not own the Redis client:
// close the client after shutting down the statsig clients that use the
// Store.
type Store struct {
	rdb     redis.UniversalClient
	opts    Options
	log     *slog.Logger
	direct  bool // the client honours context deadlines itself
	breaker breaker
	config  *configAdapter
	sticky  *stickyStorage

	loads, saves, deletes       atomic.Uint64
	failures, skipped, rejected atomic.Uint64
	corrupt, configFailures     atomic.Uint64
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
	s.breaker.cooldown = int64(opts.Cooldown)
	s.config = newConfigAdapter(s)
	s.sticky = &stickyStorage{s: s}
	return s, nil
}

// DataAdapter returns the Store's [statsig.IDataAdapter], for
// statsig.Options.DataAdapter. It stores the config specs under
// Prefix+"statsig.cache" (a hash of the spec's time and value) and the id
// lists under Prefix+"statsig.id_lists" and Prefix+"statsig.id_lists::NAME"
// (strings), none with an expiry.
//
// A config write never replaces a newer config: instances that poll Statsig
// at different moments cannot move Redis back to an older version. Writes
// run on a goroutine of the Store, and Set waits for them at most Timeout,
// because the SDK calls Set while it holds the lock that every evaluation
// takes: a hung Redis must not stall evaluations. Shutdown waits for the
// writes still under way, each bounded by ConfigTimeout.
//
// With a data adapter the SDK ignores statsig.Options.BootstrapValues, and
// reads the adapter instead of Statsig at start when the adapter has a
// config.
func (s *Store) DataAdapter() statsig.IDataAdapter { return s.config }

// UserPersistentStorage returns the Store's
// [statsig.IUserPersistentStorage], for
// statsig.Options.UserPersistentStorage. The SDK applies sticky values only
// to calls that pass them (GetExperimentWithOptions and GetLayerWithOptions
// with PersistedValues from Client.GetUserPersistedValues), and calls Delete
// for every evaluation of a config or layer made without them, each a Redis
// round trip.
//
// Each key is one Redis hash, Prefix+"sticky:"+key (or
// Prefix+"sticky#"+hex(SHA-256(key)) for a key longer than MaxKeyBytes),
// whose fields are config names and whose values are the SDK's JSON of
// [statsig.StickyValues] (the schema Statsig's SDKs share). A Save sets the
// hash's expiry to TTL, and a Load extends it to TTL when less than 15/16
// of it remains.
//
// Every call is bounded by Timeout and fails open: Load reports nothing
// found, Save and Delete do nothing; the failure is logged and counted in
// [Store.Stats].
func (s *Store) UserPersistentStorage() statsig.IUserPersistentStorage { return s.sticky }

// Stats returns the Store's counters.
func (s *Store) Stats() Stats {
	return Stats{
		Loads:          s.loads.Load(),
		Saves:          s.saves.Load(),
		Deletes:        s.deletes.Load(),
		Failures:       s.failures.Load(),
		Skipped:        s.skipped.Load(),
		Rejected:       s.rejected.Load(),
		Corrupt:        s.corrupt.Load(),
		ConfigFailures: s.configFailures.Load(),
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

// call runs fn within timeout unless the breaker is open, and updates the
// breaker: a failure that is not Redis answering with an error opens it.
func (s *Store) call(timeout time.Duration, fn func(ctx context.Context) error) error {
	if !s.breaker.allow() {
		return errSkipped
	}
	err := s.do(timeout, fn)
	var reply redis.Error
	if err == nil || errors.Is(err, redis.Nil) || errors.As(err, &reply) {
		// Redis answered: it is up, and at most this call is at fault.
		s.breaker.success()
	} else {
		s.breaker.failure()
	}
	return err
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

// breaker makes the Store fail fast for a cooldown after a
// failure, letting one call at a time probe Redis once the cooldown ends.
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
