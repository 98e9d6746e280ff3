package statsigtest

import (
	"net/http"
	"testing"
	"time"

	statsig "github.com/statsig-io/go-sdk"
)

// Options returns statsig.Options wired to the server, for a client made
// with statsig.NewClientWithOptions(Key, opts) or [Server.NewClient]. The
// caller may change any field before creating the client. They set:
//
//   - API to the server's URL, so every request (sdk_exception included)
//     goes to it;
//   - InitTimeout to 3s, so a faulty server cannot block a test for long;
//   - LoggingInterval to one hour and LoggingMaxBufferSize to one million:
//     events are sent when the client shuts down, which makes
//     [Server.FlushAndShutdown] exact (the SDK has no other synchronous
//     flush). Lower them to test flushing under load;
//   - the UA parser and IP-country lookup off, which keeps a client at a
//     few milliseconds and kilobytes instead of ~40 ms and ~16 MiB;
//   - the SDK's diagnostics events off;
//   - Transport to one that tracks the server's in-flight event batches.
//
// Each call returns a new value.
func (s *Server) Options() *statsig.Options {
	return &statsig.Options{
		API:                  s.URL,
		InitTimeout:          3 * time.Second,
		LoggingInterval:      time.Hour,
		LoggingMaxBufferSize: 1 << 20,
		UAParserOptions:      statsig.UAParserOptions{Disabled: true},
		IPCountryOptions:     statsig.IPCountryOptions{Disabled: true},
		StatsigLoggerOptions: statsig.StatsigLoggerOptions{
			DisableInitDiagnostics: true,
			DisableSyncDiagnostics: true,
			DisableApiDiagnostics:  true,
		},
		Transport: &trackingTransport{s: s, base: s.transport()},
	}
}

// NewClient returns a client of the server and the SDK's account of its
// initialisation; opts nil means [Server.Options]. A client is returned even
// when initialisation failed (details.Success is false), as the SDK does, so
// that tests can exercise failure; its evaluations then return defaults.
// The caller must call Shutdown on the client (or [Server.FlushAndShutdown]).
func (s *Server) NewClient(opts *statsig.Options) (*statsig.Client, statsig.InitializeDetails) {
	if opts == nil {
		opts = s.Options()
	}
	return statsig.NewClientWithDetails(Key, opts)
}

// Client returns a client of the server with [Server.Options], failing tb if
// it does not initialise, and shuts it down when the test ends.
func (s *Server) Client(tb testing.TB) *statsig.Client {
	tb.Helper()
	c, details := s.NewClient(nil)
	tb.Cleanup(c.Shutdown)
	if !details.Success {
		tb.Fatalf("statsigtest: client did not initialise: %v", details.Error)
	}
	return c
}

// FlushAndShutdown shuts c down, which makes the SDK send every event it
// buffered, and then waits (at most 10 seconds) for the batches the SDK was
// sending on other goroutines, which its Shutdown does not wait for. After it
// returns, [Server.Events], [Server.Exposures] and [Server.CustomEvents] hold
// everything c logged, as long as the log_event endpoint has no fault.
// c cannot be used afterwards.
//
// With [Server.Options] as they are, a client sends nothing before it shuts
// down, and the result is exact. A client with a lower LoggingInterval or
// LoggingMaxBufferSize sends batches on goroutines of its own, which the SDK
// gives no way to track before they reach the network: FlushAndShutdown then
// waits until no batch has started for a quarter of a second.
func (s *Server) FlushAndShutdown(c *statsig.Client) {
	sentBefore := s.lastSend.Load() != 0
	c.Shutdown()
	settle := 20 * time.Millisecond
	if sentBefore {
		settle = 250 * time.Millisecond
	}
	shutdownAt := time.Now()
	deadline := shutdownAt.Add(10 * time.Second)
	for time.Now().Before(deadline) {
		quietSince := shutdownAt
		if last := time.Unix(0, s.lastSend.Load()); last.After(quietSince) {
			quietSince = last
		}
		if s.inflight.Load() == 0 && time.Since(quietSince) >= settle {
			return
		}
		time.Sleep(time.Millisecond)
	}
}

// transport returns the server's base transport, created once.
func (s *Server) transport() *http.Transport {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.base == nil {
		s.base = http.DefaultTransport.(*http.Transport).Clone()
	}
	return s.base
}

// trackingTransport counts the log_event requests under way, so that
// FlushAndShutdown can wait for batches the SDK sends on other goroutines.
type trackingTransport struct {
	s    *Server
	base http.RoundTripper
}

func (t *trackingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if endpointOf(r.URL.Path) != LogEvent {
		return t.base.RoundTrip(r)
	}
	t.s.inflight.Add(1)
	defer t.s.inflight.Add(-1)
	t.s.lastSend.Store(time.Now().UnixNano())
	// The server records a batch before it answers, so the batch is recorded
	// by the time RoundTrip returns.
	return t.base.RoundTrip(r)
}
