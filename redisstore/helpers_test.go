package redisstore_test

import (
	"context"
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/labkit/statsigmw/internal/leakcheck"
	"github.com/labkit/statsigmw/redisstore"
	"github.com/labkit/statsigmw/statsigtest"
	"github.com/redis/go-redis/v9"
	statsig "github.com/statsig-io/go-sdk"
)

func TestMain(m *testing.M) { leakcheck.Main(m) }

// The experiment the tests evaluate: four groups whose "color" parameter is
// the group's name in lower case.
const (
	expName = "checkout_button"
	param   = "color"
)

var groupNames = []string{"Blue", "Green", "Red", "Orange"}

// experimentConfig returns a backend config with the experiment bucketed on
// unit, the groups weighted as given (percent, in the order of groupNames;
// a zero weight drops the group).
func experimentConfig(unit string, weights ...float64) statsigtest.Config {
	exp := statsigtest.ExperimentSpec{
		Name:     expName,
		Unit:     unit,
		Defaults: map[string]any{param: "default"},
	}
	for i, w := range weights {
		if w == 0 {
			continue
		}
		exp.Groups = append(exp.Groups, statsigtest.Group{
			Name:   groupNames[i],
			Weight: w,
			Params: map[string]any{param: lower(groupNames[i])},
		})
	}
	return statsigtest.Config{Experiments: []statsigtest.ExperimentSpec{exp}}
}

var equalWeights = []float64{25, 25, 25, 25}

func lower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}

// startBackend starts a Statsig-compatible backend serving cfg, closed when
// tb ends.
func startBackend(tb testing.TB, cfg statsigtest.Config) *statsigtest.Server {
	tb.Helper()
	srv := statsigtest.NewServer(cfg)
	tb.Cleanup(srv.Close)
	return srv
}

// clientOptions returns options of a client of srv using store's hooks
// (nil store: none).
func clientOptions(srv *statsigtest.Server, store *redisstore.Store) *statsig.Options {
	opts := srv.ClientConfig().Options
	if store != nil {
		opts.DataAdapter = store.DataAdapter()
		opts.UserPersistentStorage = store.UserPersistentStorage()
	}
	return opts
}

// newClient returns an initialised client with opts, shut down when tb
// ends unless the test shuts it down first.
func newClient(tb testing.TB, opts *statsig.Options) (*statsig.Client, statsig.InitializeDetails) {
	tb.Helper()
	c, details := statsig.NewClientWithDetails("secret-statsigtest", opts)
	tb.Cleanup(c.Shutdown) // a second Shutdown is safe
	return c, details
}

// refusedURL returns the URL of a loopback port nothing listens on: a
// Statsig that refuses connections.
func refusedURL(tb testing.TB) string {
	tb.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	url := "http://" + l.Addr().String()
	l.Close()
	return url
}

// user returns the i-th test user, its id also its stableID.
func user(i int) statsig.User {
	id := fmt.Sprintf("user-%04d", i)
	return statsig.User{UserID: id, CustomIDs: map[string]string{"stableID": id}}
}

// groupOf returns the group c assigns to u without stickiness, and its
// color parameter.
func groupOf(c *statsig.Client, u statsig.User) (group, color string) {
	e := c.GetExperimentWithExposureLoggingDisabled(u, expName)
	return e.GroupName, e.GetString(param, "")
}

// stickyGroupOf evaluates the experiment for u with the values persisted
// for unit, as a sticky-aware caller does.
func stickyGroupOf(c *statsig.Client, u statsig.User, unit string) string {
	values := c.GetUserPersistedValues(u, unit)
	e := c.GetExperimentWithOptions(u, expName, &statsig.GetExperimentOptions{
		DisableLogExposures: true,
		PersistedValues:     values,
	})
	return e.GroupName
}

// newStore returns a Store on the client, failing tb on an error. Its
// sticky writes are flushed when tb ends, before the client is closed.
func newStore(tb testing.TB, rdb redis.UniversalClient, opts redisstore.Options) *redisstore.Store {
	tb.Helper()
	s, err := redisstore.New(rdb, opts)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { s.Flush(context.Background()) })
	return s
}

// flush waits for the stores' sticky writes, failing tb after 10 seconds.
func flush(tb testing.TB, stores ...*redisstore.Store) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, s := range stores {
		if err := s.Flush(ctx); err != nil {
			tb.Fatalf("Flush: %v", err)
		}
	}
}
