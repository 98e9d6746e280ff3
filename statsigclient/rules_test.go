package statsigclient_test

import (
	"encoding/json"
	"sync"
	"testing"
	"time"

	statsig "github.com/statsig-io/go-sdk"

	"github.com/labkit/statsigmw/internal/rules"
	"github.com/labkit/statsigmw/statsigclient"
	"github.com/labkit/statsigmw/statsigtest"
)

// memAdapter is a data adapter in memory that the SDK polls for configs.
// Each read of the config specs is sent on reads, if it has room.
type memAdapter struct {
	mu    sync.Mutex
	data  map[string]string
	reads chan string
}

func (a *memAdapter) Get(key string) string {
	a.mu.Lock()
	defer a.mu.Unlock()
	if key == statsig.CONFIG_SPECS_KEY {
		select {
		case a.reads <- a.data[key]:
		default:
		}
	}
	return a.data[key]
}

func (a *memAdapter) Set(key, value string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.data[key] = value
}

func (a *memAdapter) Initialize()                                {}
func (a *memAdapter) Shutdown()                                  {}
func (a *memAdapter) ShouldBeUsedForQueryingUpdates(string) bool { return true }

// specsAt is cfg's rule set with the given time.
func specsAt(t *testing.T, cfg statsigtest.Config, at int64) string {
	var doc map[string]any
	if err := json.Unmarshal([]byte(mustJSON(t, cfg)), &doc); err != nil {
		t.Fatal(err)
	}
	doc["time"] = at
	b, _ := json.Marshal(doc)
	return string(b)
}

// armed evaluates the experiment as the middleware does, between Begin and
// End, and returns the tracker's current epoch afterwards.
func armed(tr *rules.Tracker, sdk *statsig.Client) *rules.Epoch {
	tk := tr.Begin()
	c := sdk.GetExperimentWithExposureLoggingDisabled(testUser, "exp")
	tr.End(tk, c.EvaluationDetails.ConfigSyncTime)
	return tr.Current()
}

// TestRuleTracking: the middleware's tracker sees every rule set the SDK
// loads, from bootstrap values, a data adapter and the network, and is off
// for a client with evaluation callbacks.
func TestRuleTracking(t *testing.T) {
	t.Run("bootstrap", func(t *testing.T) {
		c := newClient(t, statsigclient.Config{Options: &statsig.Options{
			LocalMode: true, BootstrapValues: specsAt(t, testConfig, 100)}})
		if e := armed(rules.Of(c), c.SDK()); e == nil || e.Time() != 100 || !e.Pure(false, "exp") {
			t.Fatalf("epoch %+v, want the bootstrap's (time 100) with exp pure", e)
		}
	})
	t.Run("adapter", func(t *testing.T) {
		a := &memAdapter{data: map[string]string{statsig.CONFIG_SPECS_KEY: specsAt(t, testConfig, 100)}, reads: make(chan string)}
		c := newClient(t, statsigclient.Config{Options: &statsig.Options{
			LocalMode: true, DataAdapter: a, ConfigSyncInterval: 5 * time.Millisecond}})
		tr := rules.Of(c)
		if e := armed(tr, c.SDK()); e == nil || e.Time() != 100 {
			t.Fatalf("epoch %+v, want the adapter's (time 100)", e)
		}
		next := specsAt(t, testConfig, 200)
		a.Set(statsig.CONFIG_SPECS_KEY, next)
		// The SDK loads what it read before it reads again, in one goroutine:
		// after two reads of the new set, it has loaded it.
		for n := 0; n < 2; {
			if <-a.reads == next {
				n++
			}
		}
		if e := armed(tr, c.SDK()); e == nil || e.Time() != 200 {
			t.Fatalf("epoch %+v after the adapter's new set, want time 200", e)
		}
	})
	t.Run("network", func(t *testing.T) {
		srv := newServer(t)
		cc := srv.ClientConfig()
		calls := make(chan int64, 4)
		cc.Options.RulesUpdatedCallback = func(_ string, at int64) { calls <- at }
		c := newClient(t, cc)
		at := <-calls // the caller's callback still runs
		rules.Of(c).Wait()
		if e := armed(rules.Of(c), c.SDK()); e == nil || e.Time() != at {
			t.Fatalf("epoch %+v, want the download's (time %d)", e, at)
		}
	})
	t.Run("callbacks", func(t *testing.T) {
		c := newClient(t, statsigclient.Config{Options: &statsig.Options{
			LocalMode: true, BootstrapValues: specsAt(t, testConfig, 100),
			EvaluationCallbacks: statsig.EvaluationCallbacks{GateEvaluationCallback: func(string, bool, *statsig.ExposureEvent) {}},
		}})
		armed(rules.Of(c), c.SDK())
		if e := armed(rules.Of(c), c.SDK()); e != nil {
			t.Fatalf("a client with evaluation callbacks has epoch %+v", e)
		}
	})
}
