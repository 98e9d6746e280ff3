package statsigtest

import (
	"context"
	"sync"
	"testing"
	"time"

	statsig "github.com/statsig-io/go-sdk"

	"github.com/labkit/statsigmw/statsigclient"
)

// flushTimeout bounds Flush and the shutdown at the end of a test: generous,
// as a healthy flush takes milliseconds.
const flushTimeout = 10 * time.Second

// ClientConfig returns a configuration for [statsigclient.New] wired to the
// server. Its Options, a new value at each call that the caller may change,
// set:
//
//   - API to the server's URL, so every request (sdk_exception included)
//     goes to it;
//   - LoggingInterval to one hour and LoggingMaxBufferSize to one million:
//     events are sent when the client shuts down (see [Server.Flush]).
//     Lower them to test flushing under load;
//   - the UA parser and IP-country lookup off, which keeps a client at a
//     few milliseconds and kilobytes instead of ~40 ms and ~16 MiB;
//   - the SDK's diagnostics events off.
//
// Its InitTimeout is 3 s, so that a faulty server cannot block a test for
// long.
func (s *Server) ClientConfig() statsigclient.Config {
	return statsigclient.Config{
		Secret: secret,
		Options: &statsig.Options{
			API:                  s.URL,
			LoggingInterval:      time.Hour,
			LoggingMaxBufferSize: 1 << 20,
			UAParserOptions:      statsig.UAParserOptions{Disabled: true},
			IPCountryOptions:     statsig.IPCountryOptions{Disabled: true},
			StatsigLoggerOptions: statsig.StatsigLoggerOptions{
				DisableInitDiagnostics: true,
				DisableSyncDiagnostics: true,
				DisableApiDiagnostics:  true,
			},
		},
		InitTimeout: 3 * time.Second,
	}
}

// NewClient returns a client of the server made with [Server.ClientConfig],
// failing tb if it cannot be created or does not initialise. Hand it to
// statsigmw.New as production code would, and call [Server.Flush] before
// reading events.
//
// A client not flushed is shut down by [Server.Close] or when the test
// ends, whichever comes first. If its events reach the server only then,
// after the test read events, tb fails with a hint to call Flush.
func (s *Server) NewClient(tb testing.TB) *statsigclient.Client {
	tb.Helper()
	c, err := statsigclient.New(s.ClientConfig())
	if err != nil {
		tb.Fatalf("statsigtest: %v", err)
	}
	o := &ownedClient{c: c, tb: tb}
	s.mu.Lock()
	s.clients = append(s.clients, o)
	s.mu.Unlock()
	tb.Cleanup(func() { s.finish(o) })
	if !c.Initialized() {
		tb.Fatalf("statsigtest: client did not initialise")
	}
	return c
}

// ownedClient is a client made by NewClient, shut down once: by Flush,
// Close or the test's cleanup.
type ownedClient struct {
	c    *statsigclient.Client
	tb   testing.TB
	once sync.Once
}

// finish shuts o's client down unless that was done, and fails its test if
// events reached the server only then, after the test read events.
func (s *Server) finish(o *ownedClient) {
	o.once.Do(func() {
		before := s.eventCount()
		ctx, cancel := context.WithTimeout(context.Background(), flushTimeout)
		defer cancel()
		_ = o.c.Shutdown(ctx)
		if late := s.eventCount() - before; late > 0 && s.read.Load() {
			o.tb.Errorf("statsigtest: %d events reached the server when the client shut down at the end of the test, after the test read events: call Flush before reading events", late)
		}
	})
}

// Flush shuts c down through [statsigclient.Client.Shutdown], which
// delivers every event c buffered, failing tb if any was not delivered.
// Afterwards [Server.Events] and [Server.Exposures] hold everything c logged
// (when c is a client of s), and c cannot be used. Flush must be called
// from the goroutine running the test.
func (s *Server) Flush(tb testing.TB, c *statsigclient.Client) {
	tb.Helper()
	s.mu.Lock()
	var o *ownedClient
	for _, oc := range s.clients {
		if oc.c == c {
			o = oc
		}
	}
	s.mu.Unlock()
	var err error
	shutdown := func() {
		ctx, cancel := context.WithTimeout(context.Background(), flushTimeout)
		defer cancel()
		err = c.Shutdown(ctx)
	}
	if o != nil {
		o.once.Do(shutdown)
	} else {
		shutdown() // not made by NewClient, or shut down already: a second Shutdown is safe
	}
	if err != nil {
		tb.Fatalf("statsigtest: Flush: %v", err)
	}
}

func (s *Server) eventCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.events)
}
