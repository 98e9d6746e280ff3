package statsigclient_test

import (
	"context"
	"net/http"
	"strconv"
	"testing"
	"time"

	statsig "github.com/statsig-io/go-sdk"

	"github.com/labkit/statsigmw/statsigclient"
	"github.com/labkit/statsigmw/statsigtest"
)

// BenchmarkShutdown measures Shutdown of a healthy client with 10 buffered
// events, against the bare SDK's Shutdown in the same run. Only Shutdown is
// timed. Each iteration builds a client, and the SDK leaks a goroutine per
// client (and keeps three more for a minute), which Shutdown's scan of the
// goroutines then counts: run it with a fixed, small -benchtime (such as
// 100x) and one -count per process, interleaving processes, to measure a
// process with one client. The idle=1000 case shows what a process with a
// thousand more goroutines costs.
func BenchmarkShutdown(b *testing.B) {
	srv := statsigtest.NewServer(testConfig)
	defer srv.Close()
	options := func() *statsig.Options {
		opts := *srv.ClientConfig().Options
		// Pollers that end soon after Shutdown.
		opts.ConfigSyncInterval, opts.IDListSyncInterval = 10*time.Millisecond, 10*time.Millisecond
		return &opts
	}
	client := func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			b.StopTimer()
			cfg := srv.ClientConfig()
			cfg.Options = options()
			c, err := statsigclient.New(cfg)
			if err != nil {
				b.Fatal(err)
			}
			logEvents(c, "bench", 10)
			b.StartTimer()
			if err := c.Shutdown(context.Background()); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.Run("statsigclient", client)
	b.Run("statsigclient/idle=1000", func(b *testing.B) {
		stop := make(chan struct{})
		defer close(stop)
		for i := 0; i < 1000; i++ {
			go func() { <-stop }()
		}
		client(b)
	})
	b.Run("sdk", func(b *testing.B) {
		b.ReportAllocs()
		own := http.DefaultTransport.(*http.Transport).Clone()
		defer own.CloseIdleConnections()
		for i := 0; i < b.N; i++ {
			b.StopTimer()
			opts := options()
			opts.Transport = own
			c := statsig.NewClientWithOptions("secret-statsigtest", opts)
			for j := 0; j < 10; j++ {
				c.LogEvent(statsig.Event{EventName: "bench", User: testUser, Value: strconv.Itoa(j)})
			}
			b.StartTimer()
			c.Shutdown()
		}
	})
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
