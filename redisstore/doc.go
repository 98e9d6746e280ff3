// Package redisstore keeps the state a fleet of Statsig-evaluating
// instances must share in Redis: the config specs, so that every instance
// serves the last known config even when it starts while Statsig is
// unreachable, and sticky assignments, so that a visitor keeps their group
// when an experiment's allocation changes.
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
// # Config specs
//
// The data adapter stores what the SDK downloads from Statsig. By default
// every instance keeps polling Statsig and Redis only serves instances that
// start without it; with [Options.PollRedis] one instance polls Statsig and
// the others follow Redis. A config write never replaces a newer one, and a
// hung Redis never holds the SDK's config lock longer than
// [Options.Timeout].
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
// [Options.TTL] after it was last written or read. Reads and writes run in
// the request: each is bounded by [Options.Timeout] and fails open (the
// visitor gets the live assignment), and after a failure the store fails
// fast for [Options.Cooldown], so that a request waits for a broken Redis
// at most once. Failures are logged and counted ([Store.Stats]).
package redisstore
