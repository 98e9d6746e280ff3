package redisstore_test

import (
	"context"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/labkit/statsigmw/internal/redisserver"
)

// redisServer is a redis-server process of one test (package
// redisserver), with a go-redis client maker.
type redisServer struct{ *redisserver.Server }

// startRedis starts a redis-server for t and stops it when t ends. Without
// redis-server it skips t, or fails it when CI=true.
func startRedis(tb testing.TB) *redisServer {
	tb.Helper()
	return &redisServer{redisserver.Start(tb)}
}

// Client returns a client of the server, closed when tb ends. It has
// ContextTimeoutEnabled unless tweak changes it.
func (s *redisServer) Client(tb testing.TB, tweak ...func(*redis.Options)) *redis.Client {
	tb.Helper()
	opts := &redis.Options{Addr: s.Addr, ContextTimeoutEnabled: true}
	for _, f := range tweak {
		f(opts)
	}
	c := redis.NewClient(opts)
	tb.Cleanup(func() { c.Close() })
	if err := c.Ping(context.Background()).Err(); err != nil {
		tb.Fatalf("redis ping: %v", err)
	}
	return c
}

// await polls cond until it holds, failing tb after 10 seconds: for events
// that happen on other goroutines or processes and cannot be waited on
// directly.
func await(tb testing.TB, what string, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("gave up after 10s waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
