// Command example is the Go port of the lab's Flask tasks app, built on
// statsigmw: a page whose colour comes from the button_color_v3 experiment,
// a signup page that logs the conversion, a results page, a small JSON task
// API, a lab login, and the bootstrap document of a browser's Statsig
// client.
//
// With no configuration it runs offline: an in-process Statsig-compatible
// backend (package statsigtest) serves the experiment and receives the
// events, so no account and no network are needed:
//
//	go run ./example
//
// then open http://localhost:8080/, an index of the pages: /tasks,
// /tasks?random=1, /signup, /results, /results.json, /whoami and
// /bootstrap.json. Set
// STATSIG_SERVER_SECRET to use a real Statsig project (and STATSIG_API to
// use another API host), and REDIS_URL to keep the config and sticky
// assignments in Redis. Run with -h for every setting.
//
// SIGINT or SIGTERM stops it: it stops accepting connections, finishes the
// requests under way, flushes the buffered events and exits, within 10
// seconds even when the Statsig backend is failing. A second signal exits at
// once.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"
	statsig "github.com/statsig-io/go-sdk"

	"github.com/labkit/statsigmw"
	"github.com/labkit/statsigmw/redisstore"
	"github.com/labkit/statsigmw/statsigclient"
	"github.com/labkit/statsigmw/statsigtest"
)

// Lifecycle timing.
const (
	// shutdownTimeout bounds the whole shutdown, from the signal to the
	// return of run.
	shutdownTimeout = 10 * time.Second
	// drainTimeout bounds how long in-flight requests may take to finish;
	// the rest of shutdownTimeout is kept for flushing events.
	drainTimeout = 6 * time.Second
	// flushMargin is kept free at the end of shutdownTimeout for closing the
	// backend and returning.
	flushMargin = 300 * time.Millisecond
	// offlineFlushInterval is how often the offline client sends its
	// events, so that /results is live.
	offlineFlushInterval = time.Second
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	go func() {
		<-ctx.Done()
		stop() // a second signal kills the process the default way
	}()
	err := run(ctx, os.Args[1:], os.Getenv, os.Stdout)
	stop()
	switch {
	case errors.Is(err, flag.ErrHelp):
	case err != nil:
		fmt.Fprintln(os.Stderr, "example:", err)
		os.Exit(1)
	}
}

// run is the whole program: it reads the configuration from args and getenv,
// logs to stdout, serves until ctx is done and then shuts down within
// shutdownTimeout. It returns an error for an invalid configuration or a
// failure to listen or serve; an incomplete flush at shutdown is logged,
// not returned.
func run(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	cfg, err := parseConfig(args, getenv, stdout)
	if err != nil {
		return err
	}
	logger := slog.New(slog.NewTextHandler(stdout, nil))
	statsigclient.RouteSDKLogs(logger)

	// The Statsig backend: in-process offline, real otherwise.
	var (
		clientCfg statsigclient.Config
		backend   *statsigtest.Server
		events    eventSource
	)
	if cfg.Offline() {
		backend = statsigtest.NewServer(labConfig())
		defer backend.Close()
		clientCfg, events = offlineClientConfig(backend), backend
		if cfg.API != "" {
			logger.Warn("STATSIG_API is ignored without STATSIG_SERVER_SECRET", "STATSIG_API", cfg.API)
		}
	} else {
		clientCfg = statsigclient.Config{Secret: cfg.Secret, Options: &statsig.Options{API: cfg.API}}
	}
	clientCfg.Logger = logger

	mwCfg := statsigmw.Config{
		Identity:       cfg.Identity,
		HashKey:        cfg.HashKey,
		TrustedProxies: cfg.TrustedProxies,
		Secure:         cfg.Secure,
		Logger:         logger,
	}
	var store *redisstore.Store
	if cfg.Redis != nil {
		rdb := redis.NewClient(cfg.Redis)
		defer rdb.Close() // after the client's Shutdown, which ends the store's writes
		if store, err = openRedis(rdb, cfg, logger); err != nil {
			return err
		}
		clientCfg.Options.DataAdapter = store.DataAdapter()
		clientCfg.Options.UserPersistentStorage = store.UserPersistentStorage()
		// Sticky reads must pass the persisted values, or the SDK deletes
		// them; the lab experiment is bucketed on the user id.
		mwCfg.StickyUnit = stickyUnit
	}

	client, err := statsigclient.New(clientCfg)
	if err != nil {
		return err
	}
	if cfg.DevHashKey {
		logger.Warn("IDENTITY=ip without IDENTITY_HASH_KEY: using the public development key; visitor ids are not pseudonymous. Set IDENTITY_HASH_KEY outside a demo.")
	}
	if cfg.RandomSessionKey {
		logger.Info("SESSION_KEY is not set: lab logins are signed with a random key of this process and end when it stops")
	}

	handler, err := newApp(appConfig{
		Client:        client,
		Middleware:    mwCfg,
		SessionKey:    cfg.SessionKey,
		Events:        events,
		FlushInterval: offlineFlushInterval,
		Logger:        logger,
		FixedGroup:    cfg.FixedGroup,
	})
	if err == nil && cfg.FixedGroup != "" {
		logger.Warn("FIXED_GROUP is set (a load-test baseline): /tasks is served to everyone as group "+cfg.FixedGroup+
			" without the middleware or the SDK; it sets no cookie and logs no exposure", "FIXED_GROUP", cfg.FixedGroup)
	}
	if err == nil {
		var ln net.Listener
		if ln, err = net.Listen("tcp", cfg.Addr); err == nil {
			err = serve(ctx, ln, handler, client, cfg, logger)
		}
	}
	if err != nil {
		// Nothing was served, or serving failed: flush what there is.
		sctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout-drainTimeout)
		defer cancel()
		_ = client.Shutdown(sctx)
	}
	if store != nil {
		st := store.Stats()
		logger.Info("redis store", "sticky_loads", st.Loads, "sticky_saves", st.Saves, "sticky_deletes", st.Deletes,
			"sticky_failures", st.Failures, "sticky_skipped", st.Skipped, "sticky_rejected", st.Rejected,
			"sticky_corrupt", st.Corrupt, "config_failures", st.ConfigFailures)
	}
	return err
}

// The example's Redis settings: the id type of the lab experiment, whose
// assignments are sticky when Redis is configured; the key prefixes of
// online and offline runs; and the bound on each sticky read or write,
// which a request waits at most once when Redis is down.
const (
	stickyUnit         = "userID"
	redisPrefix        = "statsig:"
	redisOfflinePrefix = "statsig-offline:"
	redisStickyTimeout = 50 * time.Millisecond
)

// openRedis returns the Redis store of the example on rdb. Offline it keeps
// its keys apart from those of a real Statsig project, so that the lab's
// config never replaces a real one in a shared Redis. A Redis that does not
// answer at start is logged, not fatal: the store fails open and is tried
// again as requests come.
func openRedis(rdb *redis.Client, cfg config, logger *slog.Logger) (*redisstore.Store, error) {
	prefix := redisPrefix
	if cfg.Offline() {
		prefix = redisOfflinePrefix
	}
	store, err := redisstore.New(rdb, redisstore.Options{Prefix: prefix, Timeout: redisStickyTimeout, Logger: logger})
	if err != nil {
		return nil, err
	}
	pctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if err := rdb.Ping(pctx).Err(); err != nil {
		logger.Warn("Redis does not answer; serving live assignments and the downloaded config until it does",
			"redis", cfg.Redis.Addr, "err", err)
	} else {
		logger.Info("Redis: config cache and sticky assignments", "redis", cfg.Redis.Addr, "db", cfg.Redis.DB, "prefix", prefix)
	}
	return store, nil
}

// offlineClientConfig returns the configuration of the offline client:
// wired to the in-process backend, and sending events every
// offlineFlushInterval (or every 1000 events) so that /results is live.
func offlineClientConfig(backend *statsigtest.Server) statsigclient.Config {
	c := backend.ClientConfig()
	c.Options.LoggingInterval = offlineFlushInterval
	c.Options.LoggingMaxBufferSize = 1000
	return c
}

// pageList names the pages of the app, for the start-up log.
const pageList = "/tasks, /tasks?random=1, /signup, /results, /results.json, /whoami and /bootstrap.json"

// serve serves handler on ln until ctx is done, then shuts the server and
// client down within shutdownTimeout.
func serve(ctx context.Context, ln net.Listener, handler http.Handler, client *statsigclient.Client, cfg config, logger *slog.Logger) error {
	srv := &http.Server{
		Handler:           handler,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       15 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       60 * time.Second,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(ln) }()

	url := "http://" + ln.Addr().String()
	if cfg.Offline() {
		logger.Info("offline: using the in-process Statsig backend (no account, no network); events are flushed every "+
			offlineFlushInterval.String()+", so /results is live", "experiment", experimentName)
	} else {
		logger.Info("using Statsig; results live in the Statsig console", "api", cfg.API, "initialized", client.Initialized())
	}
	logger.Info("listening; open "+url+"/ for an index of "+pageList+"; Ctrl-C stops",
		"url", url+"/", "identity", identityName(cfg.Identity))

	select {
	case err := <-serveErr:
		return fmt.Errorf("serving: %w", err)
	case <-ctx.Done():
	}

	start := time.Now()
	logger.Info("shutting down: finishing requests and flushing events", "timeout", shutdownTimeout)
	drainCtx, cancelDrain := context.WithTimeout(context.Background(), drainTimeout)
	defer cancelDrain()
	if err := srv.Shutdown(drainCtx); err != nil {
		logger.Warn("requests still running at the drain deadline were cut", "err", err)
		_ = srv.Close()
	}
	flushCtx, cancelFlush := context.WithDeadline(context.Background(), start.Add(shutdownTimeout-flushMargin))
	defer cancelFlush()
	if err := client.Shutdown(flushCtx); err != nil {
		logger.Warn("some events were not delivered", "err", err)
	}
	st := client.Stats()
	logger.Info("stopped", "took", time.Since(start).Round(time.Millisecond),
		"events_sent", st.EventsSent, "events_dropped", st.EventsDropped, "events_failed", st.EventsFailed)
	return nil
}
