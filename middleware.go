package statsigmw

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	statsig "github.com/statsig-io/go-sdk"

	"github.com/labkit/statsigmw/internal/clientip"
	"github.com/labkit/statsigmw/internal/exposure"
	"github.com/labkit/statsigmw/statsigclient"
)

// IdentityMode selects how a visitor without a valid cookie is identified.
type IdentityMode int

const (
	// CookieIdentity (the default) mints a random v4 UUID and keeps it in a
	// cookie.
	CookieIdentity IdentityMode = iota
	// IPIdentity identifies a visitor by a keyed hash of the client IP and
	// sets no cookie. Visitors behind one NAT share an id.
	IPIdentity
)

// SecureMode decides whether the visitor cookie is marked Secure. The
// cookie's name does not depend on it, so changing it keeps every visitor.
type SecureMode int

const (
	// SecureAuto (the default) marks the cookie Secure when the request came
	// over TLS (r.TLS != nil). Behind a TLS-terminating proxy, set
	// SecureAlways.
	SecureAuto SecureMode = iota
	// SecureAlways always marks the cookie Secure. Browsers then do not send
	// it over plain HTTP.
	SecureAlways
	// SecureNever never marks the cookie Secure, for local development over
	// plain HTTP.
	SecureNever
)

const (
	defaultCookieName     = "visitor_id"
	maxCookieMaxAge       = 400 * 24 * time.Hour // the longest browsers honour
	defaultIPv6Prefix     = 64
	minHashKeyLen         = 16
	defaultExposureWindow = time.Hour
	defaultExposureCache  = 100_000
	maxLoginIDLen         = 256
	maxUserAgentLen       = 512
	maxWarnedNames        = 1_000
)

// Config configures a [Middleware]. The zero value is valid: cookie
// identity, no trusted proxies, no ?random, no logged-in ids, exposures
// de-duplicated for an hour.
type Config struct {
	// Identity selects cookie (default) or hashed-IP identity for visitors
	// without a valid cookie.
	Identity IdentityMode

	// CookieName is the visitor cookie's name; default "visitor_id". When
	// a request carries several cookies of the name (a sibling app on a
	// parent domain, another Path), the first valid one in the header's
	// order is the visitor's (browsers send the most specific path first);
	// such requests are counted in Stats.DuplicateCookies.
	CookieName string
	// CookieMaxAge is the cookie's lifetime; default and maximum 400 days.
	// The middleware sets the cookie again when a tenth of it has passed
	// since it last did, so an active visitor keeps their id indefinitely
	// while a returning visitor gets at most one Set-Cookie per tenth.
	CookieMaxAge time.Duration
	// Secure decides the cookie's Secure attribute; default SecureAuto.
	Secure SecureMode

	// HashKey keys the HMAC-SHA256 of client IPs, at least 16 bytes.
	// Required for IPIdentity; with CookieIdentity it is used only for
	// visitors who decline cookies (see Consent). Every instance of a fleet
	// must use the same key, or a visitor gets a different id on each.
	HashKey []byte
	// IPv6Prefix is the prefix length an IPv6 client address is cut to
	// before hashing, so that one network is one visitor; default 64.
	IPv6Prefix int

	// TrustedProxies are the networks of the reverse proxies in front of
	// the service. Forwarding headers are read only from a peer inside one
	// of them, and the client is the rightmost address of the list that is
	// not inside one. Empty (the default) means the TCP peer is the client
	// and every forwarding header is ignored.
	TrustedProxies []netip.Prefix
	// UseForwarded reads the RFC 7239 "Forwarded" header instead of
	// "X-Forwarded-For" from trusted proxies.
	UseForwarded bool
	// TrustUnixSocket trusts the peer of a request that arrived on a unix
	// socket listener, such as nginx's proxy_pass http://unix:/path: its
	// forwarding header is read as from a trusted proxy. Such a peer has no
	// IP address, so without it IP identity finds no client IP.
	TrustUnixSocket bool

	// AllowRandom lets the query parameter "random" start a new simulated
	// visitor: "?random", "?random=" and the values 1, true, yes and on do;
	// 0, false, no, off and anything else do not. For demos and load tests;
	// never enable it where a visitor could use it to re-roll a group. In
	// cookie mode the new id is set as the cookie.
	AllowRandom bool

	// LoginID, when set, returns the logged-in user's id, or "" for an
	// anonymous visitor. A non-empty id (at most 256 bytes) becomes
	// statsig.User.UserID; the anonymous id stays in CustomIDs["stableID"].
	// It runs once per request, when the user is first needed (the first
	// Experiment, Gate, Layer, User, LogEvent or Bootstrap call), with the
	// request the middleware received carrying the context of that call, so
	// it sees what an auth middleware running inside Handler stored there.
	LoginID func(r *http.Request) string
	// Consent, when set, reports whether the visitor agreed to an identity
	// cookie. When it returns false no cookie is read or written; the
	// visitor is identified by hashed IP when HashKey is set and otherwise
	// gets an id for this request alone. Nil means consent.
	Consent func(r *http.Request) bool
	// ExtendUser, when set, may add fields to the statsig.User built for a
	// request (Email, AppVersion, Custom, ...). It runs after LoginID, with
	// the same request. If it clears UserID or CustomIDs["stableID"], the
	// middleware restores them: an experiment whose unit is missing buckets
	// everyone together.
	ExtendUser func(r *http.Request, u *statsig.User)
	// UnsafeSendIP sends the client IP to Statsig as statsig.User.IpAddress,
	// which Statsig logs with every event. By default the IP is only in
	// PrivateAttributes["ip"], which Statsig uses for targeting and strips
	// from every logged event, so the raw IP never leaves the process.
	UnsafeSendIP bool

	// ExposureWindow is how long an exposure is remembered: within it, an
	// exposure of the same unit, config and outcome (rule and group, gate
	// value) is logged once per Middleware. Default one hour; negative
	// turns de-duplication across requests off (each request still logs an
	// exposure at most once).
	ExposureWindow time.Duration
	// ExposureCacheSize bounds how many exposures are remembered; a full
	// cache forgets first those seen once and exposed longest ago. Default
	// 100,000. New allocates the cache whole: 16 bytes an exposure, 1.6 MB
	// at the default.
	ExposureCacheSize int

	// StickyUnit turns on sticky assignments for a client whose Options set
	// a UserPersistentStorage: the id type ("userID", "stableID" or a custom
	// id) whose persisted assignments experiment and layer reads use. They
	// are loaded once per request, at the first read. Empty (the default)
	// means no sticky assignments. Do not configure a UserPersistentStorage
	// without it: the SDK then deletes the stored assignment at every read.
	StickyUnit string

	// Logger receives the middleware's warnings (an unknown experiment, gate
	// or layer name, once per name; a late read, once). Nil means
	// slog.Default().
	Logger *slog.Logger
}

// Middleware resolves a visitor identity for every request and puts a
// per-request assignment scope in its context. Create one with [New]; it is
// safe for concurrent use.
type Middleware struct {
	client     *statsigclient.Client
	sdk        *statsig.Client
	cfg        Config
	cookieName string
	maxAge     int // seconds
	// cookieAttrs and cookieAttrsSecure follow the value in Set-Cookie.
	cookieAttrs, cookieAttrsSecure string
	// refreshAfter is the age at which a visitor cookie is set again.
	refreshAfter time.Duration
	ips          clientip.Resolver
	hasher       *ipHasher
	dedup        *exposure.Cache // nil: off
	keys         exposure.Hasher
	// recognised holds the (kind, name) of every config an evaluation
	// recognised, until one does not: bounded by the project's configs.
	recognised sync.Map // warnKey → struct{}

	logged, suppressed, duplicates, late atomic.Int64
	warnings                             warnings

	// start and startNano anchor clock: a reading of the monotonic clock
	// costs about half of time.Now and never jumps with the wall clock.
	start     time.Time
	startNano int64
}

// clock returns the time for exposure windows, read when an exposure is
// decided (a scope may outlive its request by hours: an event stream, a
// goroutine), from the monotonic clock.
func (m *Middleware) clock() time.Time { return time.Unix(0, m.startNano+int64(time.Since(m.start))) }

// Stats counts what a Middleware saw since it was made.
type Stats struct {
	// ExposuresLogged were sent to the SDK.
	ExposuresLogged int64
	// ExposuresSuppressed were read by a handler but not logged, because
	// the same exposure was logged within Config.ExposureWindow.
	ExposuresSuppressed int64
	// DuplicateCookies counts requests whose visitor was resolved (a
	// handler read the scope) that carried more than one visitor cookie: a
	// sibling app on a parent domain, another Path. The first valid one was
	// used.
	DuplicateCookies int64
	// LateReads counts requests whose visitor had no valid cookie and whose
	// handler first read an assignment after the response header was
	// written, when a new id could no longer be set as the cookie: such a
	// request is served with an id of its own and logs no exposure.
	LateReads int64
}

// New returns a Middleware that evaluates with client. It validates cfg and
// copies it: later changes to cfg have no effect.
//
// A client that could not reach Statsig fails open: identity still works,
// and every experiment and gate returns its default with ok false until the
// client has configs.
func New(client *statsigclient.Client, cfg Config) (*Middleware, error) {
	if client == nil {
		return nil, errors.New("statsigmw: nil client")
	}
	m := &Middleware{client: client, sdk: client.SDK(), cfg: cfg, keys: exposure.NewHasher(), start: time.Now()}
	m.startNano = m.start.UnixNano()
	switch cfg.Identity {
	case CookieIdentity, IPIdentity:
	default:
		return nil, fmt.Errorf("statsigmw: unknown identity mode %d", int(cfg.Identity))
	}
	switch cfg.Secure {
	case SecureAuto, SecureAlways, SecureNever:
	default:
		return nil, fmt.Errorf("statsigmw: unknown secure mode %d", int(cfg.Secure))
	}
	m.cookieName = cfg.CookieName
	if m.cookieName == "" {
		m.cookieName = defaultCookieName
	}
	if !validCookieName(m.cookieName) || strings.HasPrefix(m.cookieName, "__") {
		return nil, fmt.Errorf("statsigmw: invalid cookie name %q (letters, digits, '-' and '_', not starting with \"__\")", m.cookieName)
	}
	maxAge := cfg.CookieMaxAge
	switch {
	case maxAge == 0:
		maxAge = maxCookieMaxAge
	case maxAge < time.Second || maxAge > maxCookieMaxAge:
		return nil, fmt.Errorf("statsigmw: cookie max age %v is not between 1s and 400 days", cfg.CookieMaxAge)
	}
	m.maxAge = int(maxAge / time.Second)
	m.cookieAttrs = "; Path=/; Max-Age=" + strconv.Itoa(m.maxAge) + "; HttpOnly; SameSite=Lax"
	m.cookieAttrsSecure = "; Path=/; Max-Age=" + strconv.Itoa(m.maxAge) + "; HttpOnly; Secure; SameSite=Lax"
	m.refreshAfter = maxAge / 10

	prefix := cfg.IPv6Prefix
	if prefix == 0 {
		prefix = defaultIPv6Prefix
	}
	if prefix < 1 || prefix > 128 {
		return nil, fmt.Errorf("statsigmw: IPv6 prefix length %d is not between 1 and 128", cfg.IPv6Prefix)
	}
	switch {
	case len(cfg.HashKey) >= minHashKeyLen:
		m.hasher = newIPHasher(cfg.HashKey, prefix)
	case len(cfg.HashKey) > 0:
		return nil, fmt.Errorf("statsigmw: hash key has %d bytes, want at least %d", len(cfg.HashKey), minHashKeyLen)
	case cfg.Identity == IPIdentity:
		return nil, errors.New("statsigmw: IPIdentity needs a HashKey")
	}

	window, size := cfg.ExposureWindow, cfg.ExposureCacheSize
	if window == 0 {
		window = defaultExposureWindow
	}
	if size == 0 {
		size = defaultExposureCache
	}
	if size < 0 {
		return nil, fmt.Errorf("statsigmw: negative exposure cache size %d", size)
	}
	if window > 0 {
		m.dedup = exposure.NewCache(size, window)
	}
	ips, err := clientip.New(cfg.TrustedProxies, cfg.UseForwarded, cfg.TrustUnixSocket)
	if err != nil {
		return nil, err
	}
	m.ips = ips
	m.cfg.HashKey = nil // kept only inside the hasher
	m.cfg.TrustedProxies = nil
	return m, nil
}

func validCookieName(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// Handler returns a handler that calls next with a context carrying the
// request's assignment scope (see [Experiment], [Gate], [Layer],
// [LogEvent]). It panics if m was not made by [New].
//
// Identity is lazy: the visitor is resolved, and the cookie set or
// refreshed, when a handler first needs them (an assignment, the user, an
// event, the bootstrap). A request that reads nothing, such as a static
// file or a health check, leaves the response exactly as its handler wrote
// it. A response whose handler read the scope before writing the header
// gets "Vary: Cookie" and a Cache-Control that keeps it out of shared
// caches ("private", replacing "public" and "s-maxage"), so that no cache
// serves one visitor's variant or cookie to another. Read before writing:
// a visitor without a valid cookie first read after the header was written
// gets an id for that request alone, and no exposure is logged for it
// (counted in Stats.LateReads and warned about once).
//
// A request that already carries a scope, because an outer Handler (of this
// or another Middleware) saw it first, keeps that scope: one request, one
// identity, one exposure.
//
// HEAD requests are served with the same assignments but log no exposure
// and no event: link checkers and monitors are not visitors.
func (m *Middleware) Handler(next http.Handler) http.Handler {
	if m == nil || m.cookieName == "" {
		panic("statsigmw: Handler of a Middleware not made by statsigmw.New")
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if scopeFrom(r.Context()) != nil {
			next.ServeHTTP(w, r)
			return
		}
		s := &scope{Context: r.Context(), m: m, sdk: m.sdk, r: r, silent: r.Method == http.MethodHead}
		s.rw = responseWriter{ResponseWriter: w, s: s}
		next.ServeHTTP(&s.rw, r.WithContext(s))
		s.rw.finish()
	})
}

// Stats returns the Middleware's counters. Safe for concurrent use.
func (m *Middleware) Stats() Stats {
	return Stats{
		ExposuresLogged:     m.logged.Load(),
		ExposuresSuppressed: m.suppressed.Load(),
		DuplicateCookies:    m.duplicates.Load(),
		LateReads:           m.late.Load(),
	}
}

func (m *Middleware) secureFor(r *http.Request) bool {
	switch m.cfg.Secure {
	case SecureAlways:
		return true
	case SecureNever:
		return false
	}
	return r.TLS != nil
}

// setCookie returns the Set-Cookie header of the visitor cookie for id set
// at now, as http.Cookie.String writes it, in one allocation: the name was validated
// by New and the value is hex digits and dashes, so there is nothing to
// sanitise.
func (m *Middleware) setCookie(id string, secure bool, now time.Time) string {
	attrs := m.cookieAttrs
	if secure {
		attrs = m.cookieAttrsSecure
	}
	var buf [160]byte
	b := append(buf[:0], m.cookieName...)
	b = append(b, '=')
	b = appendVisitorCookieValue(b, id, now)
	return string(append(b, attrs...))
}

func (m *Middleware) logger() *slog.Logger {
	if m.cfg.Logger != nil {
		return m.cfg.Logger
	}
	return slog.Default()
}
