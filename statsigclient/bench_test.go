package statsigclient_test

import (
	"context"
	"fmt"
	"net/http"
	"runtime"
	"slices"
	"strconv"
	"testing"
	"time"

	statsig "github.com/statsig-io/go-sdk"

	"github.com/labkit/statsigmw/statsigclient"
	"github.com/labkit/statsigmw/statsigtest"
)

// BenchmarkShutdown measures a healthy Shutdown of a client with 10
// buffered events, in a process with 0, 10,000 and 100,000 parked goroutines
// (blocked on a channel, as a server's idle connections are) and in one
// where another, bare SDK client holds a batch in a transport that is not
// net/http's; and the bare SDK's Shutdown for comparison. Only Shutdown is
// timed; besides ns/op it reports the median and the slowest Shutdown.
// Each iteration builds a client, so run it with a fixed -benchtime, such
// as 200x.
func BenchmarkShutdown(b *testing.B) {
	srv := statsigtest.NewServer(testConfig)
	defer srv.Close()
	options := func() *statsig.Options {
		opts := *srv.ClientConfig().Options
		// Pollers that stay asleep (they see Shutdown only when they wake,
		// and a poll during a timed Shutdown would be counted in it).
		opts.ConfigSyncInterval, opts.IDListSyncInterval = time.Hour, time.Hour
		return &opts
	}
	client := func(b *testing.B) {
		b.ReportAllocs()
		took := make([]time.Duration, 0, b.N)
		for i := 0; i < b.N; i++ {
			b.StopTimer()
			cfg := srv.ClientConfig()
			cfg.Options = options()
			c, err := statsigclient.New(cfg)
			if err != nil {
				b.Fatal(err)
			}
			logEvents(c, "bench", 10)
			runtime.GC() // collect what building the client left, outside the timed part
			b.StartTimer()
			start := time.Now()
			err = c.Shutdown(context.Background())
			took = append(took, time.Since(start))
			if err != nil {
				b.Fatal(err)
			}
		}
		reportSpread(b, took)
	}
	for _, parked := range []int{0, 10_000, 100_000} {
		b.Run(fmt.Sprintf("statsigclient/parked=%d", parked), func(b *testing.B) {
			stop := parkGoroutines(parked)
			defer stop()
			client(b)
		})
	}
	b.Run("statsigclient/other-client-held", func(b *testing.B) {
		otherSrv := statsigtest.NewServer(testConfig)
		defer otherSrv.Close()
		hold := &gateTransport{base: http.DefaultTransport, entered: make(chan struct{}, 1), open: make(chan struct{})}
		opts := options()
		opts.Transport = hold
		opts.LoggingMaxBufferSize = 5
		other := statsig.NewClientWithOptions("secret-statsigtest", opts)
		for i := 0; i < 5; i++ {
			other.LogEvent(statsig.Event{EventName: "other", User: testUser})
		}
		<-hold.entered
		defer other.Shutdown()
		defer close(hold.open)
		client(b)
	})
	bare := func(b *testing.B) {
		b.ReportAllocs()
		own := http.DefaultTransport.(*http.Transport).Clone()
		defer own.CloseIdleConnections()
		took := make([]time.Duration, 0, b.N)
		for i := 0; i < b.N; i++ {
			b.StopTimer()
			opts := options()
			opts.Transport = own
			c := statsig.NewClientWithOptions("secret-statsigtest", opts)
			for j := 0; j < 10; j++ {
				c.LogEvent(statsig.Event{EventName: "bench", User: testUser, Value: strconv.Itoa(j)})
			}
			runtime.GC()
			b.StartTimer()
			start := time.Now()
			c.Shutdown()
			took = append(took, time.Since(start))
		}
		reportSpread(b, took)
	}
	for _, parked := range []int{0, 100_000} {
		b.Run(fmt.Sprintf("sdk/parked=%d", parked), func(b *testing.B) {
			stop := parkGoroutines(parked)
			defer stop()
			bare(b)
		})
	}
	// What the process allocates in a timed millisecond that does nothing,
	// after the same runtime.GC: with many goroutines the runtime itself
	// allocates there, and it counts in every case above.
	for _, parked := range []int{0, 100_000} {
		b.Run(fmt.Sprintf("nothing/parked=%d", parked), func(b *testing.B) {
			stop := parkGoroutines(parked)
			defer stop()
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				runtime.GC()
				b.StartTimer()
				time.Sleep(time.Millisecond)
			}
		})
	}
}

// reportSpread reports the median and the largest of took.
func reportSpread(b *testing.B, took []time.Duration) {
	if len(took) == 0 {
		return
	}
	slices.Sort(took)
	b.ReportMetric(float64(took[len(took)/2].Nanoseconds()), "median-ns")
	b.ReportMetric(float64(took[len(took)-1].Nanoseconds()), "max-ns")
}

// BenchmarkTransport measures what the transport adds to sending one batch
// of 100 events to a local backend (statsig.Client.LogImmediate goes
// through it like the SDK's own batches), against the bare SDK.
func BenchmarkTransport(b *testing.B) {
	srv := statsigtest.NewServer(testConfig)
	defer srv.Close()
	events := make([]statsig.Event, 100)
	for i := range events {
		events[i] = statsig.Event{EventName: "bench", User: testUser, Value: strconv.Itoa(i)}
	}
	run := func(b *testing.B, sdk *statsig.Client) {
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			if _, err := sdk.LogImmediate(events); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.Run("sdk", func(b *testing.B) {
		opts := *srv.ClientConfig().Options
		own := http.DefaultTransport.(*http.Transport).Clone()
		defer own.CloseIdleConnections()
		opts.Transport = own
		sdk := statsig.NewClientWithOptions("secret-statsigtest", &opts)
		defer sdk.Shutdown()
		run(b, sdk)
	})
	b.Run("statsigclient", func(b *testing.B) {
		c, err := statsigclient.New(srv.ClientConfig())
		if err != nil {
			b.Fatal(err)
		}
		defer c.Shutdown(context.Background())
		run(b, c.SDK())
	})
}
