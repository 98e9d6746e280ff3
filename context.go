package statsigmw

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"unicode/utf8"

	statsig "github.com/statsig-io/go-sdk"
)

// Errors of LogEvent and Bootstrap that callers may want to branch on.
var (
	// ErrNoScope means the context carries no request scope: the handler
	// does not run under the middleware and was not given one by NewContext.
	ErrNoScope = errors.New("statsigmw: no request scope in the context (is the handler wrapped by the middleware?)")
	// ErrNoClient means the scope has no Statsig client (New or NewContext
	// was given a nil client); nothing can be logged.
	ErrNoClient = errors.New("statsigmw: no Statsig client")
)

// Limits on what LogEvent accepts. Statsig truncates or drops larger
// values; refusing them here makes the loss visible.
const (
	MaxNameLen          = 128  // bytes of an event, experiment, gate or layer name
	MaxEventValueLen    = 1024 // bytes of an event value
	MaxMetadataKeys     = 50   // keys of an event's metadata
	MaxMetadataBytes    = 4096 // bytes of an event's metadata keys and values together
	maxMetadataKeyBytes = 128
)

type scopeKey struct{}

// scope is the per-request assignment scope. All its methods are safe for
// concurrent use by the goroutines a handler starts.
type scope struct {
	m      *Middleware // nil for a scope made by NewContext
	client *statsig.Client
	r      *http.Request

	visitor   Visitor // ID and Source are set before the scope is shared
	secure    bool
	setCookie bool

	userOnce sync.Once
	user     statsig.User // built by userOnce; read-only afterwards

	mu   sync.Mutex
	memo map[memoKey]*memoEntry
}

type memoKind uint8

const (
	kindExperiment memoKind = iota
	kindGate
	kindLayer
)

type memoKey struct {
	kind memoKind
	name string
}

// memoEntry is one evaluation of a request. once guards the evaluation;
// exposed records whether its exposure has been logged.
type memoEntry struct {
	once    sync.Once
	exposed atomic.Bool

	config statsig.DynamicConfig
	gate   bool
	layer  statsig.Layer

	paramMu sync.Mutex
	params  map[string]bool // layer parameters whose exposure was logged
	logFn   func(statsig.Layer, string)
}

func withScope(ctx context.Context, s *scope) context.Context {
	return context.WithValue(ctx, scopeKey{}, s)
}

func scopeFrom(ctx context.Context) *scope {
	if ctx == nil {
		return nil
	}
	s, _ := ctx.Value(scopeKey{}).(*scope)
	return s
}

// NewContext returns a copy of ctx that carries a request scope for user,
// evaluated with client, without the middleware: for handler tests and for
// work outside HTTP (jobs, queues). client may be nil (every accessor then
// returns defaults). The user is copied.
//
// As in the middleware, the user always has both ids, so that experiments on
// either unit never bucket everyone together: an empty
// CustomIDs["stableID"] is set to UserID, an empty UserID to the stableID,
// and a user with neither gets a random id for this scope alone. The
// scope's [Visitor] has the stableID as ID, the UserID as UserID when it
// differs, and an empty Source.
func NewContext(ctx context.Context, client *statsig.Client, user statsig.User) context.Context {
	u := cloneUser(user)
	stable := u.CustomIDs["stableID"]
	switch {
	case stable == "" && u.UserID == "":
		stable = newVisitorID()
		u.UserID = stable
	case stable == "":
		stable = u.UserID
	case u.UserID == "":
		u.UserID = stable
	}
	if u.CustomIDs == nil {
		u.CustomIDs = make(map[string]string, 1)
	}
	u.CustomIDs["stableID"] = stable
	s := &scope{client: client, visitor: Visitor{ID: stable}}
	if u.UserID != stable {
		s.visitor.UserID = u.UserID
	}
	s.userOnce.Do(func() { s.user = u })
	return withScope(ctx, s)
}

func cloneUser(u statsig.User) statsig.User {
	u.Custom = cloneMap(u.Custom)
	u.PrivateAttributes = cloneMap(u.PrivateAttributes)
	u.StatsigEnvironment = cloneMap(u.StatsigEnvironment)
	u.CustomIDs = cloneMap(u.CustomIDs)
	return u
}

func cloneMap[K comparable, V any](m map[K]V) map[K]V {
	if m == nil {
		return nil
	}
	c := make(map[K]V, len(m))
	for k, v := range m {
		c[k] = v
	}
	return c
}

// getUser builds the request's statsig.User on first use.
func (s *scope) getUser() statsig.User {
	s.userOnce.Do(s.buildUser)
	return s.user
}

func (s *scope) buildUser() {
	r, cfg := s.r, &s.m.cfg
	id := s.visitor.ID
	u := statsig.User{
		UserID:    id,
		UserAgent: truncate(r.UserAgent(), maxUserAgentLen),
		Locale:    locale(r.Header.Get("Accept-Language")),
		CustomIDs: map[string]string{"stableID": id},
		Custom:    map[string]any{"id_source": string(s.visitor.Source)},
	}
	if ip, ok := s.m.ips.ClientIP(r); ok {
		ipText := ip.String()
		u.PrivateAttributes = map[string]any{"ip": ipText}
		if cfg.UnsafeSendIP {
			u.IpAddress = ipText
		}
	}
	if cfg.UserID != nil {
		if uid := cfg.UserID(r); uid != "" && len(uid) <= maxUserIDLen {
			u.UserID = uid
		}
	}
	if cfg.User != nil {
		cfg.User(r, &u)
		// The hook may not leave the request without an id: an experiment
		// whose unit is missing buckets everyone together.
		if u.UserID == "" {
			u.UserID = id
		}
		if u.CustomIDs == nil {
			u.CustomIDs = map[string]string{}
		}
		if u.CustomIDs["stableID"] == "" {
			u.CustomIDs["stableID"] = id
		}
	}
	if u.UserID != id {
		s.visitor.UserID = u.UserID
	}
	s.user = u
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	s = s[:n]
	for len(s) > 0 && !utf8.ValidString(s) {
		s = s[:len(s)-1]
	}
	return s
}

// locale returns the first language tag of an Accept-Language header, or ""
// when it is not a plausible tag.
func locale(h string) string {
	tag, _, _ := strings.Cut(h, ",")
	tag, _, _ = strings.Cut(tag, ";")
	tag = strings.TrimSpace(tag)
	if tag == "" || tag == "*" || len(tag) > 35 {
		return ""
	}
	for i := 0; i < len(tag); i++ {
		c := tag[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-') {
			return ""
		}
	}
	return tag
}

// entry returns the memo entry for key, creating it.
func (s *scope) entry(kind memoKind, name string) *memoEntry {
	k := memoKey{kind, name}
	s.mu.Lock()
	e := s.memo[k]
	if e == nil {
		if s.memo == nil {
			s.memo = make(map[memoKey]*memoEntry)
		}
		e = &memoEntry{}
		s.memo[k] = e
	}
	s.mu.Unlock()
	return e
}

// usable reports whether s can evaluate name.
func (s *scope) usable(name string) bool {
	return s != nil && s.client != nil && name != "" && len(name) <= MaxNameLen
}

func (s *scope) experiment(name string, expose bool) statsig.DynamicConfig {
	e := s.entry(kindExperiment, name)
	e.once.Do(func() {
		u := s.getUser()
		if expose {
			e.exposed.Store(true)
			e.config = s.client.GetExperiment(u, name)
		} else {
			e.config = s.client.GetExperimentWithExposureLoggingDisabled(u, name)
		}
	})
	if expose && !e.exposed.Load() && e.exposed.CompareAndSwap(false, true) {
		s.client.ManuallyLogExperimentExposure(s.getUser(), name)
	}
	return e.config
}

func (s *scope) checkGate(name string, expose bool) bool {
	e := s.entry(kindGate, name)
	e.once.Do(func() {
		u := s.getUser()
		if expose {
			e.exposed.Store(true)
			e.gate = s.client.CheckGate(u, name)
		} else {
			e.gate = s.client.CheckGateWithExposureLoggingDisabled(u, name)
		}
	})
	if expose && !e.exposed.Load() && e.exposed.CompareAndSwap(false, true) {
		s.client.ManuallyLogGateExposure(s.getUser(), name)
	}
	return e.gate
}

func (s *scope) getLayer(name string) statsig.Layer {
	e := s.entry(kindLayer, name)
	e.once.Do(func() {
		u := s.getUser()
		e.layer = s.client.GetLayerWithExposureLoggingDisabled(u, name)
		e.logFn = func(_ statsig.Layer, param string) {
			e.paramMu.Lock()
			first := !e.params[param]
			if first {
				if e.params == nil {
					e.params = make(map[string]bool)
				}
				e.params[param] = true
			}
			e.paramMu.Unlock()
			if first {
				s.client.ManuallyLogLayerParameterExposure(u, name, param)
			}
		}
		e.layer.LogExposure = &e.logFn
	})
	return e.layer
}

func emptyConfig(name string) statsig.DynamicConfig {
	return *statsig.NewConfig(name, nil, "", "", nil)
}

// Experiment returns the request user's assignment in experiment name and
// logs its exposure: both at most once per request, however many times and
// from however many goroutines it is called. A handler that never calls it
// causes no exposure. Read parameters with the SDK's getters
// (GetString(key, fallback), ...), which return the fallback for a missing
// parameter.
//
// ok is false, and the config empty (every getter returns its fallback),
// when ctx has no request scope, the scope has no client, or name is empty
// or longer than MaxNameLen. An unknown experiment is evaluated by the SDK
// (ok is true) and returns an empty config too.
func Experiment(ctx context.Context, name string) (cfg statsig.DynamicConfig, ok bool) {
	s := scopeFrom(ctx)
	if !s.usable(name) {
		return emptyConfig(name), false
	}
	return s.experiment(name, true), true
}

// PeekExperiment is Experiment without the exposure: for debugging pages,
// logs and response headers that must not count the visitor as exposed. It
// shares Experiment's per-request memo, so a later Experiment call logs the
// exposure once and returns the same assignment. (That exposure is logged
// with the SDK's manual exposure call, which evaluates again: should the
// config change between the two calls, the exposure names the new
// assignment.)
func PeekExperiment(ctx context.Context, name string) (cfg statsig.DynamicConfig, ok bool) {
	s := scopeFrom(ctx)
	if !s.usable(name) {
		return emptyConfig(name), false
	}
	return s.experiment(name, false), true
}

// Gate reports whether the request user passes feature gate name, and logs
// the gate exposure, at most once per request like [Experiment]. It returns
// false when ctx has no scope or client, or name is invalid.
func Gate(ctx context.Context, name string) bool {
	s := scopeFrom(ctx)
	if !s.usable(name) {
		return false
	}
	return s.checkGate(name, true)
}

// PeekGate is Gate without the exposure, sharing its memo.
func PeekGate(ctx context.Context, name string) bool {
	s := scopeFrom(ctx)
	if !s.usable(name) {
		return false
	}
	return s.checkGate(name, false)
}

// Layer returns the request user's values of layer name. The layer is
// evaluated at most once per request, and each parameter's exposure is
// logged the first time the request reads it with the returned Layer's
// getters (the SDK logs a layer exposure per parameter read, not per
// evaluation). ok is false as for [Experiment].
func Layer(ctx context.Context, name string) (layer statsig.Layer, ok bool) {
	s := scopeFrom(ctx)
	if !s.usable(name) {
		return *statsig.NewLayer(name, nil, "", "", nil, ""), false
	}
	return s.getLayer(name), true
}

// User returns a copy of the request's statsig.User, building it if no
// experiment was read yet. ok is false when ctx has no request scope.
func User(ctx context.Context) (u statsig.User, ok bool) {
	s := scopeFrom(ctx)
	if s == nil {
		return statsig.User{}, false
	}
	return cloneUser(s.getUser()), true
}

// VisitorFrom returns the visitor the middleware resolved for the request,
// with Visitor.UserID filled in (which builds the user, running the
// Config.UserID and Config.User hooks once). ok is false when ctx has no
// request scope.
func VisitorFrom(ctx context.Context) (v Visitor, ok bool) {
	s := scopeFrom(ctx)
	if s == nil {
		return Visitor{}, false
	}
	s.getUser()
	return s.visitor, true
}

// EventOption sets an optional field of an event logged with [LogEvent].
type EventOption func(*statsig.Event)

// WithValue sets the event's value, for example an order id or a price.
func WithValue(v string) EventOption {
	return func(e *statsig.Event) { e.Value = v }
}

// WithNumber sets the event's value to a number, as Statsig's metrics sum
// and average it.
func WithNumber(v float64) EventOption {
	return func(e *statsig.Event) { e.Value = strconv.FormatFloat(v, 'g', -1, 64) }
}

// WithMetadata sets the event's metadata. The map is copied.
func WithMetadata(md map[string]string) EventOption {
	return func(e *statsig.Event) { e.Metadata = cloneMap(md) }
}

// LogEvent records the custom event name for the request's user, with the
// same UserID and stableID as the request's exposures, so that a conversion
// logged on one page is attributed to the group the visitor saw on another.
// The SDK buffers the event and sends it in the background; LogEvent does
// not block on the network.
//
// It returns [ErrNoScope] without a request scope, [ErrNoClient] without a
// client, and an error naming the problem for an empty or over-long name, a
// value over MaxEventValueLen, metadata over MaxMetadataKeys keys or
// MaxMetadataBytes bytes, or text that is not UTF-8. Nothing is logged then.
func LogEvent(ctx context.Context, name string, opts ...EventOption) error {
	s := scopeFrom(ctx)
	if s == nil {
		return ErrNoScope
	}
	ev := statsig.Event{EventName: name}
	for _, o := range opts {
		if o != nil {
			o(&ev)
		}
	}
	if err := validateEvent(&ev); err != nil {
		return err
	}
	if s.client == nil {
		return ErrNoClient
	}
	ev.User = s.getUser()
	s.client.LogEvent(ev)
	return nil
}

func validateEvent(ev *statsig.Event) error {
	switch {
	case ev.EventName == "":
		return errors.New("statsigmw: empty event name")
	case len(ev.EventName) > MaxNameLen:
		return fmt.Errorf("statsigmw: event name %q... is %d bytes, over the limit of %d", truncate(ev.EventName, 32), len(ev.EventName), MaxNameLen)
	case !utf8.ValidString(ev.EventName):
		return fmt.Errorf("statsigmw: event name %q is not UTF-8", ev.EventName)
	case len(ev.Value) > MaxEventValueLen:
		return fmt.Errorf("statsigmw: event %q: value is %d bytes, over the limit of %d", ev.EventName, len(ev.Value), MaxEventValueLen)
	case !utf8.ValidString(ev.Value):
		return fmt.Errorf("statsigmw: event %q: value is not UTF-8", ev.EventName)
	case len(ev.Metadata) > MaxMetadataKeys:
		return fmt.Errorf("statsigmw: event %q: metadata has %d keys, over the limit of %d", ev.EventName, len(ev.Metadata), MaxMetadataKeys)
	}
	size := 0
	for k, v := range ev.Metadata {
		if k == "" || len(k) > maxMetadataKeyBytes || !utf8.ValidString(k) || !utf8.ValidString(v) {
			return fmt.Errorf("statsigmw: event %q: invalid metadata key %q (empty, over %d bytes, or not UTF-8) or value", ev.EventName, truncate(k, 32), maxMetadataKeyBytes)
		}
		size += len(k) + len(v)
	}
	if size > MaxMetadataBytes {
		return fmt.Errorf("statsigmw: event %q: metadata is %d bytes, over the limit of %d", ev.EventName, size, MaxMetadataBytes)
	}
	return nil
}
