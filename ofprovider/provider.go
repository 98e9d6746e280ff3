package ofprovider

import (
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/open-feature/go-sdk/openfeature"

	"github.com/labkit/statsigmw/statsigclient"
)

// Name is the provider's name in its OpenFeature metadata and events.
const Name = "statsigmw"

// readyCheck is how often a provider whose client had no configs at Init
// asks the client again: the client offers no notification.
const readyCheck = 500 * time.Millisecond

// Config configures a [Provider]. The zero value is valid.
type Config struct {
	// Logger receives the provider's warnings: an event that Track could
	// not record. Nil means slog.Default() at the time of each message.
	Logger *slog.Logger
}

// Provider is an OpenFeature provider backed by a statsigmw request scope.
// Create one with [New]; it is safe for concurrent use.
type Provider struct {
	client *statsigclient.Client
	logger *slog.Logger
	events chan openfeature.Event

	mu   sync.Mutex
	stop chan struct{} // closed by Shutdown to end the readiness watch; nil when none was started
	wg   sync.WaitGroup
}

var (
	_ openfeature.FeatureProvider = (*Provider)(nil)
	_ openfeature.StateHandler    = (*Provider)(nil)
	_ openfeature.EventHandler    = (*Provider)(nil)
	_ openfeature.Tracker         = (*Provider)(nil)
)

// New returns a provider that evaluates with client outside a request
// scope and asks it whether it has configs. It does not take ownership of
// client: shut the client down with its own Shutdown.
func New(client *statsigclient.Client, cfg Config) (*Provider, error) {
	if client == nil {
		return nil, errors.New("ofprovider: nil client")
	}
	return &Provider{client: client, logger: cfg.Logger, events: make(chan openfeature.Event, 1)}, nil
}

// Metadata returns the provider's name, [Name].
func (p *Provider) Metadata() openfeature.Metadata { return openfeature.Metadata{Name: Name} }

// Hooks returns no hooks.
func (p *Provider) Hooks() []openfeature.Hook { return nil }

// Init returns nil when the client has configs. Otherwise it returns an
// *openfeature.ProviderInitError with the code PROVIDER_NOT_READY, which
// puts the provider in the ERROR state, and watches the client: once it
// has configs the provider emits PROVIDER_READY. Init does not block.
func (p *Provider) Init(openfeature.EvaluationContext) error {
	if p.client.Initialized() {
		return nil
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.stop == nil {
		p.stop = make(chan struct{})
		p.wg.Add(1)
		go p.watch(p.stop)
	}
	return &openfeature.ProviderInitError{
		ErrorCode: openfeature.ProviderNotReadyCode,
		Message:   "the Statsig client has no configs yet; evaluations return defaults until it downloads them",
	}
}

// watch emits PROVIDER_READY once the client has configs, unless stop is
// closed first.
func (p *Provider) watch(stop chan struct{}) {
	defer p.wg.Done()
	t := time.NewTicker(readyCheck)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
			if p.client.Initialized() {
				p.emit(openfeature.Event{ProviderName: Name, EventType: openfeature.ProviderReady,
					ProviderEventDetails: openfeature.ProviderEventDetails{Message: "the Statsig client has configs"}})
				return
			}
		}
	}
}

// emit hands ev to the event channel without blocking: the channel holds
// one event, and an event finding it full is the same as the one waiting.
func (p *Provider) emit(ev openfeature.Event) {
	select {
	case p.events <- ev:
	default:
	}
}

// Shutdown stops the provider's watch of the client, if any, and returns
// the provider to its state before Init. It does not shut the client down.
func (p *Provider) Shutdown() {
	p.mu.Lock()
	stop := p.stop
	p.stop = nil
	p.mu.Unlock()
	if stop != nil {
		close(stop)
	}
	p.wg.Wait()
}

// EventChannel returns the channel of the provider's events: only
// PROVIDER_READY, after an Init that found the client without configs.
func (p *Provider) EventChannel() <-chan openfeature.Event { return p.events }

func (p *Provider) log() *slog.Logger {
	if p.logger != nil {
		return p.logger
	}
	return slog.Default()
}
