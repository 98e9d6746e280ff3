// Package redisstore keeps the state a fleet of Statsig-evaluating
// instances must share in Redis: the config specs, so that an instance
// that starts while Statsig is unreachable serves the last known config
// instead of defaults, and sticky assignments, so that a visitor keeps
// their group when an experiment's allocation changes.
//
// It is a module of its own so that users of the middleware who do not run
// Redis download nothing more. It works with the Statsig Go SDK
// (github.com/statsig-io/go-sdk v1.35.1) through the SDK's two storage
// hooks:
//
//	store, err := redisstore.New(rdb, redisstore.Options{Prefix: "shop:prod:"})
//	opts := &statsig.Options{
//		DataAdapter:           store.DataAdapter(),
//		UserPersistentStorage: store.UserPersistentStorage(),
//	}
//
// How to run Redis for it (persistence, eviction policy, prefixes,
// Cluster) is in docs/redis.md of the repository.
//
// # Config specs
//
// With a data adapter the SDK starts from the config in Redis whenever
// there is one, whether Statsig is reachable or not, and serves it until
// its first sync with Statsig, one config sync interval later (10 s by
// default): an instance may serve a config older than Statsig's for that
// long. By default every instance keeps polling Statsig and writes what it
// gets to Redis; with [Options.PollRedis] one instance polls Statsig and
// the others follow Redis. A config write never replaces a newer config of
// the same project, and every [Options.ConfigCheckInterval] each instance
// that has a config checks Redis's and puts its own back when Redis lost
// it or holds one that is unusable. A hung Redis never holds the SDK's
// config lock longer than [Options.Timeout].
//
// The ID lists are written as the SDK gives them, last writer wins: an
// instance that lags behind can replace a fuller list with its own for
// one ID list sync interval, until a current instance writes again.
// Comparing lists would mean reading each back before writing it; Redis
// serves them only to instances that start without Statsig or run with
// PollRedis, and those follow the next write.
//
// # Sticky assignments
//
// The SDK saves a unit's group when it first evaluates an experiment with
// persisted values, and from then on returns that group, whatever the
// allocation says, until the experiment stops. Persisted values are passed
// per call:
//
//	values := client.GetUserPersistedValues(user, "userID") // the experiment's unit
//	exp := client.GetExperimentWithOptions(user, "checkout_v2",
//		&statsig.GetExperimentOptions{PersistedValues: values})
//
// Each unit is one Redis hash with one field per experiment, expiring
// [Options.TTL] after it was last written or read.
//
// A request waits for Redis at most once per GetUserPersistedValues call:
// the Load is one round trip, bounded by [Options.Timeout], and fails open
// (the visitor gets the live assignment). Saves and deletes are queued and
// written off the request path, a batch per round trip. A save never
// replaces a stored value, so a request whose Load failed cannot replace
// the group it could not read. After a failure the persistent storage
// fails fast for [Options.Cooldown], separately from the data adapter.
// Failures are logged (each kind at most once per 10 seconds) and counted
// ([Store.Stats]).
package redisstore
