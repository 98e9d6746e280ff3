package statsigclient_test

import (
	"context"
	"errors"
	"net/http"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	statsig "github.com/statsig-io/go-sdk"

	"github.com/labkit/statsigmw/statsigclient"
	"github.com/labkit/statsigmw/statsigtest"
)

// clientGoroutines counts the goroutines of the process but those of HTTP
// servers (the in-process backends), which a real backend would not add to
// the process.
func clientGoroutines() int {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	count := 0
	for _, g := range strings.Split(string(buf), "\n\n") {
		if strings.Contains(g, "net/http.(*conn).serve") ||
			strings.Contains(g, "net/http.(*connReader).backgroundRead") ||
			strings.Contains(g, "net/http.(*Server).Serve") {
			continue
		}
		count++
	}
	return count
}

// peakSampler records the most goroutines seen until stopped.
type peakSampler struct {
	stop, done chan struct{}
	peak       int
}

func samplePeak() *peakSampler {
	p := &peakSampler{stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(p.done)
		for {
			p.peak = max(p.peak, clientGoroutines())
			select {
			case <-p.stop:
				return
			case <-time.After(2 * time.Millisecond): // a sampling rate
			}
		}
	}()
	return p
}

func (p *peakSampler) result() int {
	close(p.stop)
	<-p.done
	return p.peak
}

// flood logs loggers*perLogger events from loggers goroutines.
func flood(sdk *statsig.Client, loggers, perLogger int) {
	var wg sync.WaitGroup
	for g := 0; g < loggers; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < perLogger; i++ {
				sdk.LogEvent(statsig.Event{EventName: "flood", User: testUser, Value: strconv.Itoa(i)})
			}
		}()
	}
	wg.Wait()
}

// A flood of events against a hanging backend: the bare SDK holds a
// goroutine and a connection per batch, the client holds what its bounds
// allow. Both run here, one after the other, against the same kind of
// backend. Not parallel: it counts the process's goroutines.
//
// The flood is small and the bounds are tight so that everything is held
// well within the SDK's 3 s HTTP timeout even on a loaded machine: after it,
// held batches fail and the counts no longer say what is held.
func TestFloodBoundsGoroutines(t *testing.T) {
	const (
		loggers, perLogger, buffer = 4, 500, 50 // 40 batches
		batches                    = loggers * perLogger / buffer
		inFlight, queued           = 2, 2
	)

	// The bare SDK, with the same options.
	bareSrv := newServer(t)
	bareSrv.SetFault(statsigtest.EndpointLogEvent, statsigtest.Fault{Hang: true})
	opts := *bareSrv.ClientConfig().Options
	opts.LoggingMaxBufferSize = buffer
	own := http.DefaultTransport.(*http.Transport).Clone()
	opts.Transport = own
	bare, details := statsig.NewClientWithDetails("secret-statsigtest", &opts)
	if !details.Success {
		t.Fatalf("bare client did not initialise: %v", details.Error)
	}
	bareBase := clientGoroutines()
	sampler := samplePeak()
	flood(bare, loggers, perLogger)
	waitFor(t, "every bare batch to reach the backend", func() bool {
		return requestCount(bareSrv, statsigtest.EndpointLogEvent) == batches
	})
	bareHeld, bareRequests := clientGoroutines(), requestCount(bareSrv, statsigtest.EndpointLogEvent)
	barePeak := sampler.result()
	bareSrv.SetFault(statsigtest.EndpointLogEvent, statsigtest.Fault{}) // the held batches fail; the SDK reports each one
	bare.Shutdown()                                                     // its buffer is empty: every event was in a full batch
	waitFor(t, "the bare SDK's goroutines to end", func() bool {
		own.CloseIdleConnections()
		http.DefaultTransport.(*http.Transport).CloseIdleConnections() // the SDK's reports went through it
		return clientGoroutines() <= bareBase
	})

	// The client.
	srv := newServer(t)
	cfg := srv.ClientConfig()
	cfg.Options.LoggingMaxBufferSize = buffer
	cfg.MaxInFlightBatches, cfg.MaxQueuedBatches = inFlight, queued
	c := newClient(t, cfg)
	srv.SetFault(statsigtest.EndpointLogEvent, statsigtest.Fault{Hang: true})
	base := clientGoroutines()
	statsSampler := sampleStats(c, loggers*perLogger+1)
	var busiest statsigclient.Stats
	var busiestMu sync.Mutex
	stopBusiest := make(chan struct{})
	busiestDone := make(chan struct{})
	go func() {
		defer close(busiestDone)
		for {
			s := c.Stats()
			busiestMu.Lock()
			if s.BatchesInFlight+s.BatchesQueued > busiest.BatchesInFlight+busiest.BatchesQueued {
				busiest = s
			}
			busiestMu.Unlock()
			select {
			case <-stopBusiest:
				return
			case <-time.After(100 * time.Microsecond): // a sampling rate
			}
		}
	}()
	sampler = samplePeak()
	flood(c.SDK(), loggers, perLogger)
	waitFor(t, "every batch to reach the transport", func() bool {
		s := c.Stats()
		return s.EventsSent+s.EventsDropped+s.EventsFailed+s.EventsPending == loggers*perLogger
	})
	held := clientGoroutines()
	peak := sampler.result()
	close(stopBusiest)
	<-busiestDone

	// Evaluations go on while every slot is held by the hanging backend.
	evaluated := make(chan string, 1)
	go func() {
		exp := c.SDK().GetExperiment(testUser, "exp")
		evaluated <- exp.GetString("color", "fallback")
	}()
	var color string
	waitFor(t, "an evaluation while the batches are held", func() bool {
		select {
		case color = <-evaluated:
			return true
		default:
			return false
		}
	})
	stillHeld := c.Stats()

	err := shutdown(c, 200*time.Millisecond)
	total := int64(loggers*perLogger + 1) // and the exposure
	waitFor(t, "every event to be accounted for", func() bool {
		s := c.Stats()
		return s.EventsDropped+s.EventsFailed == total && s.EventsPending == 0
	})
	statsSampler.check(t, total)
	stats := c.Stats()
	srv.SetFault(statsigtest.EndpointLogEvent, statsigtest.Fault{})
	waitFor(t, "goroutines to settle after Shutdown", func() bool { return clientGoroutines() <= base+10 })

	t.Logf("bare SDK: baseline %d, peak %d (+%d), all %d batches held (%d requests) %d (+%d)", bareBase, barePeak, barePeak-bareBase, batches, bareRequests, bareHeld, bareHeld-bareBase)
	t.Logf("client: baseline %d, peak %d (+%d), all batches accounted for %d (+%d)", base, peak, peak-base, held, held-base)
	t.Logf("client stats: busiest %+v; while held %+v; final %+v; Shutdown: %v", busiest, stillHeld, stats, err)

	// A batch being sent holds 4 goroutines (the SDK's sender, the HTTP
	// client's timer, the connection's reader and writer), a waiting one 2.
	if limit := base + 4*inFlight + 2*queued + 10; held > limit {
		t.Errorf("client with every batch accounted for: %d goroutines, want at most %d (baseline %d + what the bounds allow)", held, limit, base)
	}
	// The bare SDK holds every batch: the comparison is not vacuous.
	if bareHeld-bareBase < 2*batches {
		t.Errorf("bare SDK held %d goroutines over its baseline with %d batches at the backend, want at least %d", bareHeld-bareBase, batches, 2*batches)
	}
	// During the flood the SDK's goroutines that encode batches come on
	// top, as many as the CPU lets pile up, in both.
	if peak-base >= barePeak-bareBase {
		t.Errorf("client peak %d goroutines over its baseline, want fewer than the bare SDK's %d", peak-base, barePeak-bareBase)
	}
	if busiest.BatchesInFlight > inFlight || busiest.BatchesQueued > queued {
		t.Errorf("busiest moment: %d batches in flight, %d queued; want at most %d and %d", busiest.BatchesInFlight, busiest.BatchesQueued, inFlight, queued)
	}
	if stillHeld.BatchesInFlight != inFlight || color != "blue" {
		t.Errorf("evaluation returned %q with %d batches in flight; want blue while all %d slots are held", color, stillHeld.BatchesInFlight, inFlight)
	}
	if stats.EventsSent != 0 || stats.EventsDropped == 0 {
		t.Errorf("final stats %+v: want none sent and the batches beyond the bounds dropped", stats)
	}
	if got := requestCount(srv, statsigtest.EndpointSDKException); got != 0 {
		t.Errorf("sdk_exception requests = %d, want 0", got)
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Shutdown = %v, want a *ShutdownError at the deadline", err)
	}
}
