package statsigmw

import (
	"context"
	"net/http"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"unicode/utf8"

	statsig "github.com/statsig-io/go-sdk"

	"github.com/labkit/statsigmw/internal/exposure"
	"github.com/labkit/statsigmw/statsigclient"
)

type scopeKey struct{}

// scope is the per-request assignment scope. Its methods are safe for
// concurrent use by the goroutines a handler starts.
//
// A scope is also the request's context: it embeds the context it was made
// from and answers Value(scopeKey{}) itself, which saves the allocation of
// a context.WithValue per request.
type scope struct {
	context.Context // the parent

	m   *Middleware // nil for a scope made by NewContext
	sdk *statsig.Client
	r   *http.Request  // nil for a scope made by NewContext
	rw  responseWriter // the wrapper Handler passes on; part of the scope to save an allocation

	id        string    // the anonymous visitor id, never empty
	fields    *idFields // the user's Custom: the source of id, shared
	secure    bool
	setCookie bool
	silent    bool        // HEAD: no exposures, no events
	shared    bool        // the user's ids are exactly visitor's: UserID and CustomIDs
	used      uint8       // entries of inline in use
	dependent atomic.Bool // the response depends on the visitor

	userOnce sync.Once
	user     statsig.User // built by userOnce; read-only afterwards
	visitor  *visitorIDs  // the shared ids of id: the user's CustomIDs while shared
	attr     *ipAttr      // the client IP's attributes, nil without one
	unit     exposure.Key // hash of the user's ids, for de-duplication keys; built with the user

	stickyOnce sync.Once
	persisted  statsig.UserPersistedValues

	mu     sync.Mutex
	inline [1]memoEntry // the first evaluation, without an allocation
	more   []*memoEntry
}

type memoKind uint8

const (
	kindExperiment memoKind = iota
	kindGate
	kindLayer
)

func (k memoKind) String() string { return kindNames[k] }

// memoEntry is one evaluation of a request. once guards the evaluation;
// exposed records whether the request has dealt with its exposure.
type memoEntry struct {
	kind     memoKind
	known    bool
	wasKnown bool // the Middleware knew the name before this evaluation
	gate     bool
	exposed  atomic.Bool
	once     sync.Once
	name     string
	config   statsig.DynamicConfig
	// The SDK keeps a pointer to the options of an evaluation: in the
	// entry, they cost no allocation of their own.
	opts  statsig.GetExperimentOptions
	layer *layerEntry // layers only
}

// layerEntry is the part of a memo entry only layers need.
type layerEntry struct {
	layer  statsig.Layer
	opts   statsig.GetLayerOptions
	sdkLog *func(statsig.Layer, string) // the SDK's exposure logger of this evaluation
	ourLog func(statsig.Layer, string)  // what the returned Layer calls instead

	mu     sync.Mutex
	params map[string]bool // parameters whose exposure was dealt with
}

// Value returns the scope for scopeKey{} and otherwise asks the parent.
func (s *scope) Value(key any) any {
	if _, ok := key.(scopeKey); ok {
		return s
	}
	return s.Context.Value(key)
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
// work outside HTTP (jobs, queues). The user is copied. A nil client gives a
// scope whose accessors return defaults. Exposures are logged
// once per scope; there is no de-duplication across scopes.
//
// As in the middleware, the user always has both ids, so that experiments on
// either unit never bucket everyone together: an empty
// CustomIDs["stableID"] is set to UserID, an empty UserID to the stableID,
// and a user with neither gets a random id for this scope alone.
func NewContext(ctx context.Context, client *statsigclient.Client, user statsig.User) context.Context {
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
	if _, ok := u.Custom["id_source"]; !ok {
		if u.Custom == nil {
			u.Custom = make(map[string]any, 1)
		}
		u.Custom["id_source"] = sourceContext
	}
	s := &scope{Context: ctx, id: stable}
	if client != nil {
		s.sdk = client.SDK()
	}
	s.userOnce.Do(func() { s.user = u })
	return s
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

// idFields holds a read-only Custom map shared by the users of every
// request, one per source: the SDK never writes to a user's maps (it reads
// them, and drops PrivateAttributes from its copy of a user when it logs an
// event). A Config.ExtendUser hook gets copies. A pointer, so that two
// users' sources compare in one instruction.
type idFields struct{ custom map[string]any }

var (
	fieldsCookie    = sourceFields(sourceCookie)
	fieldsNew       = sourceFields(sourceNew)
	fieldsRandom    = sourceFields(sourceRandom)
	fieldsIP        = sourceFields(sourceIP)
	fieldsEphemeral = sourceFields(sourceEphemeral)
)

func sourceFields(source string) *idFields {
	return &idFields{map[string]any{"id_source": source}}
}

// getUser builds the request's statsig.User on first use, with ctx: the
// context of the first call that needs it.
func (s *scope) getUser(ctx context.Context) *statsig.User {
	s.userOnce.Do(func() { s.buildUser(ctx) })
	return &s.user
}

func (s *scope) buildUser(ctx context.Context) {
	m, r := s.m, s.r
	cfg := &m.cfg
	s.visitor = m.visitors.get(s.id, m.keys)
	s.shared = true
	u := &s.user // built in place: a local copy would escape to the hooks
	*u = statsig.User{
		UserID:    s.id,
		UserAgent: truncate(header(r.Header, "User-Agent"), maxUserAgentLen),
		Locale:    locale(header(r.Header, "Accept-Language")),
		CustomIDs: s.visitor.ids, // shared: a hook gets a copy
		Custom:    s.fields.custom,
	}
	if a := m.clientAttrs(r); a != nil {
		s.attr = a
		u.PrivateAttributes = a.attrs
		if cfg.UnsafeSendIP {
			u.IpAddress = a.text
		}
	}
	if cfg.LoginID != nil || cfg.ExtendUser != nil {
		hr := r
		if ctx != nil && ctx != r.Context() {
			hr = r.WithContext(ctx)
		}
		if cfg.LoginID != nil {
			if uid := cfg.LoginID(hr); uid != "" && len(uid) <= maxLoginIDLen {
				u.UserID = uid
				s.shared = false
			}
		}
		if cfg.ExtendUser != nil {
			hu := *u // the hook edits a copy, with copies of the shared maps
			hu.Custom = cloneMap(hu.Custom)
			hu.PrivateAttributes = cloneMap(hu.PrivateAttributes)
			hu.CustomIDs = cloneMap(hu.CustomIDs)
			s.shared = false
			cfg.ExtendUser(hr, &hu)
			*u = hu
			// No request may leave without its ids.
			if u.UserID == "" {
				u.UserID = s.id
			}
			if u.CustomIDs == nil {
				u.CustomIDs = map[string]string{}
			}
			if u.CustomIDs["stableID"] == "" {
				u.CustomIDs["stableID"] = s.id
			}
		}
	}
	if s.shared {
		s.unit = s.visitor.unit
	} else if m.dedup != nil {
		s.unit = s.unitKey(u)
	}
}

// header returns the first value of a header whose canonical name is key.
func header(h http.Header, key string) string {
	if v := h[key]; len(v) > 0 {
		return v[0]
	}
	return ""
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

// stickyValues returns the user's persisted assignments, loaded at the first
// call of the request, or nil when sticky assignments are off.
func (s *scope) stickyValues(u *statsig.User) statsig.UserPersistedValues {
	if s.m == nil || s.m.cfg.StickyUnit == "" {
		return nil
	}
	s.stickyOnce.Do(func() {
		s.persisted = s.sdk.GetUserPersistedValues(*u, s.m.cfg.StickyUnit)
		if s.persisted == nil {
			s.persisted = statsig.UserPersistedValues{}
		}
	})
	return s.persisted
}

// entry returns the memo entry for (kind, name), creating it.
func (s *scope) entry(kind memoKind, name string) *memoEntry {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := 0; i < int(s.used); i++ {
		if e := &s.inline[i]; e.kind == kind && e.name == name {
			return e
		}
	}
	for _, e := range s.more {
		if e.kind == kind && e.name == name {
			return e
		}
	}
	var e *memoEntry
	if int(s.used) < len(s.inline) {
		e = &s.inline[s.used]
		s.used++
	} else {
		e = &memoEntry{}
		s.more = append(s.more, e)
	}
	e.kind, e.name = kind, name
	return e
}

// key is the de-duplication key of an exposure: every id of the user (a
// superset of the unit the config is evaluated on, so that two visitors
// never share a key), the kind, the name and a layer's parameter.
func (s *scope) key(kind memoKind, name, param string) exposure.Key {
	return s.keyOf(s.m.configKey(kind, name), param)
}

// keyOf is key with the config's key, configKey(kind, name), at hand.
func (s *scope) keyOf(config exposure.Key, param string) exposure.Key {
	k := exposure.Combine(s.unit, config)
	if param != "" {
		k = s.m.keys.Extend(k, param)
	}
	return k
}

// unitKey hashes every id of u, custom ids in order of their type.
func (s *scope) unitKey(u *statsig.User) exposure.Key {
	if len(u.CustomIDs) == 1 {
		for t, id := range u.CustomIDs {
			return s.m.keys.Key(u.UserID, t, id)
		}
	}
	types := make([]string, 0, len(u.CustomIDs))
	for t := range u.CustomIDs {
		types = append(types, t)
	}
	sort.Strings(types)
	parts := make([]string, 0, 1+2*len(types))
	parts = append(parts, u.UserID)
	for _, t := range types {
		parts = append(parts, t, u.CustomIDs[t])
	}
	return s.m.keys.Key(parts...)
}

var kindNames = [...]string{kindExperiment: "experiment", kindGate: "gate", kindLayer: "layer"}

// exposure decides, for an evaluation the SDK made without logging, whether
// the exposure of outcome o must now be logged, and counts the decision.
func (s *scope) shouldLog(k exposure.Key, o uint64) bool {
	m := s.m
	if m == nil || m.dedup == nil {
		if m != nil {
			m.logged.Add(1)
		}
		return true
	}
	prev, found := m.dedup.Acquire(k, m.clock())
	switch {
	case !found:
		m.dedup.Set(k, o)
	case prev == exposure.Pending || prev == o || !m.dedup.Swap(k, prev, o, m.clock()):
		m.suppressed.Add(1)
		return false
	}
	m.logged.Add(1)
	return true
}

// plan decides, before an evaluation, whether the SDK logs its exposure in
// the same call: only for a name the client is known to have, when the
// exposure is due. found and prev are the de-duplication state to settle
// after an evaluation that did not log.
func (s *scope) plan(e *memoEntry) (logNow bool, k exposure.Key, prev uint64, found bool) {
	m := s.m
	if m == nil {
		return false, k, 0, false // NewContext: evaluate, then log if known
	}
	info := m.lookupName(e.kind, e.name)
	if info.state != nameKnown {
		return false, k, 0, false
	}
	e.wasKnown = true
	if m.dedup == nil {
		return true, k, 0, false
	}
	k = s.keyOf(info.key, "")
	prev, found = m.dedup.Acquire(k, m.clock())
	return !found, k, prev, found
}

// settle finishes the exposure decision after the evaluation and reports
// whether the exposure must still be logged by a manual SDK call.
func (s *scope) settle(e *memoEntry, logNow bool, k exposure.Key, prev uint64, found bool, o uint64) bool {
	m := s.m
	if m == nil {
		return true
	}
	switch {
	case logNow:
		m.logged.Add(1)
		if m.dedup != nil {
			m.dedup.Set(k, o)
		}
		return false
	case found:
		if prev == exposure.Pending || prev == o || !m.dedup.Swap(k, prev, o, m.clock()) {
			m.suppressed.Add(1)
			return false
		}
		m.logged.Add(1)
		return true
	}
	// The name was not known before this evaluation.
	if m.dedup == nil {
		m.logged.Add(1)
		return true
	}
	return s.shouldLog(s.key(e.kind, e.name, ""), o)
}

func (s *scope) experiment(ctx context.Context, name string, expose bool) (statsig.DynamicConfig, bool) {
	s.dependent.Store(true)
	e := s.entry(kindExperiment, name)
	e.once.Do(func() {
		u := s.getUser(ctx)
		expose := expose && !s.silent
		var logNow, found bool
		var k exposure.Key
		var prev uint64
		if expose {
			logNow, k, prev, found = s.plan(e)
		}
		if a := s.recallIf(!logNow, kindExperiment, name); a != nil {
			e.config, e.known = a.config, true
			e.config.EvaluationDetails = copyDetails(a.config.EvaluationDetails)
		} else {
			tk := s.begin()
			e.opts = statsig.GetExperimentOptions{DisableLogExposures: !logNow, PersistedValues: s.stickyValues(u)}
			e.config = s.sdk.GetExperimentWithOptions(*u, name, &e.opts)
			e.known = s.learn(e, e.config.EvaluationDetails)
			s.remember(tk, kindExperiment, name, e.config.EvaluationDetails, &e.config, nil)
		}
		if !expose || !e.known {
			if logNow { // a known name that has gone: the SDK logged it
				s.m.logged.Add(1)
			}
			return
		}
		e.exposed.Store(true)
		if s.settle(e, logNow, k, prev, found, s.outcome(e.config.RuleID, e.config.GroupName)) {
			s.logExposure(u, name, e)
		}
	})
	if expose && e.known && !s.silent && !e.exposed.Load() && e.exposed.CompareAndSwap(false, true) {
		// Peeked first: the exposure is due now.
		u := s.getUser(ctx)
		if s.m == nil || s.shouldLog(s.key(kindExperiment, name, ""), s.outcome(e.config.RuleID, e.config.GroupName)) {
			s.logExposure(u, name, e)
		}
	}
	return e.config, e.known
}

// logExposure logs the exposure of an experiment evaluated without logging
// it. The SDK's manual exposure call evaluates again without persisted
// values, which would delete a sticky assignment and log the live group:
// with sticky assignments the exposure is logged by an evaluation with them.
func (s *scope) logExposure(u *statsig.User, name string, e *memoEntry) {
	if e.opts.PersistedValues != nil {
		s.sdk.GetExperimentWithOptions(*u, name, &statsig.GetExperimentOptions{PersistedValues: e.opts.PersistedValues})
		return
	}
	s.sdk.ManuallyLogExperimentExposure(*u, name)
}

func (s *scope) checkGate(ctx context.Context, name string) (bool, bool) {
	s.dependent.Store(true)
	e := s.entry(kindGate, name)
	e.once.Do(func() {
		u := s.getUser(ctx)
		var logNow, found bool
		var k exposure.Key
		var prev uint64
		if !s.silent {
			logNow, k, prev, found = s.plan(e)
		}
		var g statsig.FeatureGate
		if a := s.recallIf(!logNow, kindGate, name); a != nil {
			g, e.known = a.gate, true
		} else {
			tk := s.begin()
			if logNow {
				g = s.sdk.GetGate(*u, name)
			} else {
				g = s.sdk.GetGateWithExposureLoggingDisabled(*u, name)
			}
			e.known = s.learn(e, gateDetails(&g))
			s.remember(tk, kindGate, name, g.EvaluationDetails, nil, &g)
		}
		e.gate = g.Value
		if s.silent || !e.known {
			if logNow {
				s.m.logged.Add(1)
			}
			return
		}
		value := "false"
		if g.Value {
			value = "true"
		}
		if s.settle(e, logNow, k, prev, found, s.outcome(g.RuleID, value)) {
			s.sdk.ManuallyLogGateExposure(*u, name)
		}
	})
	return e.gate, e.known
}

func (s *scope) getLayer(ctx context.Context, name string) (statsig.Layer, bool) {
	s.dependent.Store(true)
	e := s.entry(kindLayer, name)
	e.once.Do(func() {
		u := s.getUser(ctx)
		l := &layerEntry{}
		l.opts = statsig.GetLayerOptions{PersistedValues: s.stickyValues(u)}
		// The SDK's Layer logs an exposure per parameter read, from this
		// very evaluation; it is wrapped to log each parameter once.
		l.layer = s.sdk.GetLayerWithOptions(*u, name, &l.opts)
		// The SDK's Layer carries no evaluation details: a layer it does
		// not know (or cannot evaluate yet) has no rule and no values.
		e.known = l.layer.RuleID != "" || len(l.layer.Value) > 0
		l.sdkLog = l.layer.LogExposure
		l.ourLog = func(v statsig.Layer, param string) { s.layerParam(e, v, param) }
		l.layer.LogExposure = &l.ourLog
		e.layer = l
	})
	return e.layer.layer, e.known
}

func (s *scope) layerParam(e *memoEntry, v statsig.Layer, param string) {
	l := e.layer
	if s.silent || !e.known || l.sdkLog == nil {
		return
	}
	l.mu.Lock()
	first := !l.params[param]
	if first {
		if l.params == nil {
			l.params = make(map[string]bool)
		}
		l.params[param] = true
	}
	l.mu.Unlock()
	if !first {
		return
	}
	if s.m != nil {
		if !s.shouldLog(s.key(kindLayer, e.name, param), s.outcome(l.layer.RuleID, l.layer.AllocatedExperimentName, l.layer.GroupName)) {
			return
		}
	}
	(*l.sdkLog)(v, param)
}

// gateDetails returns g's evaluation details. The SDK gives none to a gate
// it knows that no rule matched (rule "default") or that is disabled
// ("disabled"): that gate is still known.
func gateDetails(g *statsig.FeatureGate) *statsig.EvaluationDetails {
	if g.EvaluationDetails == nil && (g.RuleID == "default" || g.RuleID == "disabled") {
		return knownGateDetails
	}
	return g.EvaluationDetails
}

// knownGateDetails stand for the details the SDK leaves out; read-only.
var knownGateDetails = &statsig.EvaluationDetails{Reason: statsig.ReasonNone}

func (s *scope) learn(e *memoEntry, d *statsig.EvaluationDetails) bool {
	if s.m == nil || e.wasKnown && recognized(d) {
		return recognized(d) // nothing new to learn
	}
	return s.m.learn(e.kind, e.name, d)
}

func (s *scope) outcome(parts ...string) uint64 {
	if s.m == nil {
		return 1
	}
	return s.m.keys.Outcome(parts...)
}

// usable reports whether s can evaluate name.
func (s *scope) usable(name string) bool {
	return s != nil && s.sdk != nil && name != "" && len(name) <= maxNameLen
}

// Experiment returns the request user's assignment in experiment name and
// logs its exposure, both at most once per request however many times and
// from however many goroutines it is called; across requests, an exposure
// already logged within Config.ExposureWindow is not logged again. A handler
// that never calls Experiment causes no exposure. Read parameters with the
// SDK's getters (GetString(key, fallback), ...), which return the fallback
// for a missing parameter.
//
// ok reports whether the client knows the experiment and evaluated it. It is
// false, the config empty (every getter returns its fallback) and no
// exposure logged when ctx has no request scope, name is empty or over 128
// bytes, the client has no configs yet, or it does not know the name (a
// typo: the Middleware logs a warning once per name).
func Experiment(ctx context.Context, name string) (cfg statsig.DynamicConfig, ok bool) {
	s := scopeFrom(ctx)
	if !s.usable(name) {
		return *statsig.NewConfig(name, nil, "", "", nil), false
	}
	return s.experiment(ctx, name, true)
}

// PeekExperiment is [Experiment] without the exposure: for debugging pages,
// logs and response headers that must not count the visitor as exposed. It
// shares Experiment's per-request memo, so a later Experiment call returns
// the same assignment and logs its exposure.
func PeekExperiment(ctx context.Context, name string) (cfg statsig.DynamicConfig, ok bool) {
	s := scopeFrom(ctx)
	if !s.usable(name) {
		return *statsig.NewConfig(name, nil, "", "", nil), false
	}
	return s.experiment(ctx, name, false)
}

// Gate reports whether the request user passes feature gate name and logs
// the gate exposure, at most once per request and de-duplicated across
// requests like [Experiment]. ok is false, and pass false, as for
// Experiment.
func Gate(ctx context.Context, name string) (pass, ok bool) {
	s := scopeFrom(ctx)
	if !s.usable(name) {
		return false, false
	}
	return s.checkGate(ctx, name)
}

// Layer returns the request user's values of layer name. The layer is
// evaluated at most once per request, and each parameter's exposure is
// logged the first time the request reads it with the returned Layer's
// getters (de-duplicated across requests like [Experiment]). ok is false
// as for Experiment; the Layer then logs nothing.
func Layer(ctx context.Context, name string) (layer statsig.Layer, ok bool) {
	s := scopeFrom(ctx)
	if !s.usable(name) {
		return *statsig.NewLayer(name, nil, "", "", nil, ""), false
	}
	return s.getLayer(ctx, name)
}

// User returns a copy of the request's statsig.User, building it if no
// experiment was read yet. Its UserID is the logged-in id or the visitor
// id; CustomIDs["stableID"] is the visitor id; Custom["id_source"] tells
// where the visitor id came from ("cookie", "new", "random", "ip",
// "ephemeral", or "context" for [NewContext]). ok is false when ctx has no
// request scope.
func User(ctx context.Context) (u statsig.User, ok bool) {
	s := scopeFrom(ctx)
	if s == nil {
		return statsig.User{}, false
	}
	s.dependent.Store(true)
	return cloneUser(*s.getUser(ctx)), true
}
