package statsigmw

import (
	"context"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

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
//
// One read goes down once: an accessor resolves the identity and builds
// the user (both once per request, at the first read), evaluates through
// the request's memo with the SDK's exposure logging off (evaluate.go),
// then decides whether the exposure is due (exposure.go) and, if so, makes
// the SDK's manual exposure call. No step leaves state for a later one to
// settle or release.
type scope struct {
	context.Context // the parent

	m      *Middleware // nil for a scope made by NewContext
	sdk    *statsig.Client
	r      *http.Request  // nil for a scope made by NewContext
	rw     responseWriter // the wrapper Handler passes on; part of the scope to save an allocation
	silent bool           // HEAD: no exposures, no events

	// Identity, resolved by resolve at the first read. Fixed afterwards.
	resolved atomic.Bool
	id       string    // the anonymous visitor id, never empty once resolved
	fields   *idFields // the user's Custom: the source of id, shared
	late     bool      // first read after the header, without a valid cookie: no exposures
	fresh    bool      // id made in this request, and one of the user's ids: see certainlyDue

	// hmu orders the first read against the writing of the header.
	hmu       sync.Mutex
	wrote     bool // the header was written
	dependent bool // the response depends on the visitor: mark it private

	userOnce sync.Once
	user     statsig.User // built by userOnce; read-only afterwards
	unit     exposure.Key // hash of the user's ids, for de-duplication keys

	stickyOnce sync.Once
	persisted  statsig.UserPersistedValues

	mu     sync.Mutex
	inline [1]memoEntry // the first evaluation, without an allocation
	more   []*memoEntry
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

// resolve resolves the visitor at the first read of the request: before
// the header is written, it sets or refreshes the cookie and marks the
// response as the visitor's own.
func (s *scope) resolve() {
	if s.resolved.Load() {
		return
	}
	s.hmu.Lock()
	defer s.hmu.Unlock()
	if s.resolved.Load() {
		return
	}
	m := s.m
	now := time.Now()
	id, fields, setCookie := m.identify(s.r, now)
	switch {
	case !setCookie:
	case !s.wrote:
		s.rw.Header().Add("Set-Cookie", m.setCookie(id, m.secureFor(s.r), now))
	case fields != fieldsCookie:
		// The new id cannot reach the browser: it is this request's alone.
		fields, s.late = fieldsEphemeral, true
		m.late.Add(1)
		m.warnings.once(m, warnKey{kindLate, "late"}, "statsigmw: a visitor without a cookie was first read after the response header was written; read assignments before writing, or the request logs no exposure", "path", s.r.URL.Path)
	}
	s.id, s.fields = id, fields
	s.dependent = !s.wrote
	s.resolved.Store(true)
}

// headerWritten records that the header is being written, and marks it
// private if the response depends on the visitor.
func (s *scope) headerWritten(h http.Header) {
	s.hmu.Lock()
	if !s.wrote {
		s.wrote = true
		if s.dependent {
			markPrivate(h)
		}
	}
	s.hmu.Unlock()
}

// identify resolves the visitor of r. First match wins:
//  1. ?random (when AllowRandom): a new id; set as the cookie in cookie
//     mode with consent.
//  2. With consent, the first cookie of our name holding a valid value;
//     set again when a tenth of its max age has passed.
//  3. Cookie mode with consent: a new id set as the cookie.
//  4. A hash key and a trustworthy client IP: the keyed hash.
//  5. Otherwise an id for this request alone.
func (m *Middleware) identify(r *http.Request, now time.Time) (id string, fields *idFields, setCookie bool) {
	consent := m.cfg.Consent == nil || m.cfg.Consent(r)
	cookieMode := consent && m.cfg.Identity == CookieIdentity
	if m.cfg.AllowRandom && wantsRandom(r.URL) {
		return newVisitorID(), fieldsRandom, cookieMode
	}
	if consent {
		id, set, n := visitorCookie(r.Header, m.cookieName)
		if n > 1 {
			m.duplicates.Add(1)
		}
		if id != "" {
			age := time.Duration(now.UnixNano() - set*int64(time.Second))      // no time: the age since 1970
			return id, fieldsCookie, age >= m.refreshAfter || age < -time.Hour // forged or skewed stamps are reset too
		}
	}
	switch {
	case cookieMode:
		return newVisitorID(), fieldsNew, true
	case m.hasher != nil:
		if ip, ok := m.ips.ClientIP(r); ok {
			return m.hasher.id(ip), fieldsIP, false
		}
	}
	return newVisitorID(), fieldsEphemeral, false
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
	s.resolved.Store(true)
	if client != nil {
		s.sdk = client.SDK()
	}
	s.userOnce.Do(func() { s.user = u })
	return s
}
