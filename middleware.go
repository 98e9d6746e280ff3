package statsigmw

import (
	"errors"
	"fmt"
	"github.com/labkit/statsigmw/internal/clientip"
	"net/http"
	"net/netip"
	"strings"
	"time"

	statsig "github.com/statsig-io/go-sdk"
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

func (m IdentityMode) String() string {
	switch m {
	case CookieIdentity:
		return "cookie"
	case IPIdentity:
		return "ip"
	}
	return fmt.Sprintf("IdentityMode(%d)", int(m))
}

// SecureMode decides whether the visitor cookie is marked Secure.
type SecureMode int

const (
	// SecureAuto (the default) marks the cookie Secure, and names it with
	// the "__Host-" prefix, when the request came over TLS (r.TLS != nil).
	// Behind a TLS-terminating proxy, set SecureAlways.
	SecureAuto SecureMode = iota
	// SecureAlways always marks the cookie Secure and uses the "__Host-"
	// prefix. Browsers then do not send it over plain HTTP.
	SecureAlways
	// SecureNever never marks the cookie Secure, for local development over
	// plain HTTP.
	SecureNever
)

// Defaults and limits of Config.
const (
	DefaultCookieName   = "visitor_id"
	DefaultCookieMaxAge = 400 * 24 * time.Hour // the longest browsers honour
	DefaultIPv6Prefix   = 64
	MinHashKeyLen       = 16
	maxUserIDLen        = 256
	maxUserAgentLen     = 512
)

// Config configures a [Middleware]. The zero value is valid: cookie
// identity, no trusted proxies, no ?random, no logged-in ids.
type Config struct {
	// Identity selects cookie (default) or hashed-IP identity for visitors
	// without a valid cookie.
	Identity IdentityMode

	// CookieName is the visitor cookie's name; default "visitor_id". When the
	// cookie is Secure the name gets the "__Host-" prefix, which binds it to
	// this host and path "/". A request carrying two cookies of the name
	// gets a fresh id, so a cookie of the same name that this service cannot
	// overwrite (set by another app for a parent domain, or for a narrower
	// path) would make its visitor new on every request over plain HTTP:
	// pick a name no other app on the domain uses.
	CookieName string
	// CookieMaxAge is the cookie's lifetime; default and maximum 400 days.
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

	// AllowRandom lets a request with the query key "random" start a new
	// simulated visitor (for demos and tests; never enable it where a
	// visitor could use it to re-roll a group). In cookie mode the new id is
	// set as the cookie.
	AllowRandom bool

	// UserID, when set, returns the logged-in user's id for a request, or ""
	// for an anonymous visitor. A non-empty id becomes statsig.User.UserID;
	// the anonymous id stays in CustomIDs["stableID"]. It is called at most
	// once per request, when the user is first needed. Ids longer than 256
	// bytes are ignored.
	UserID func(r *http.Request) string
	// Consent, when set, reports whether the visitor agreed to an identity
	// cookie. When it returns false no cookie is read or written; the
	// visitor is identified by hashed IP when HashKey is set and otherwise
	// gets a per-request id (SourceEphemeral). Nil means consent.
	Consent func(r *http.Request) bool
	// User, when set, may add fields to the statsig.User built for a
	// request (Email, AppVersion, Custom, ...). It runs once per request,
	// when the user is first needed. Changing UserID or CustomIDs["stableID"]
	// there breaks the link between exposures and events; don't.
	User func(r *http.Request, u *statsig.User)
	// UnsafeSendIP sends the client IP to Statsig as statsig.User.IpAddress,
	// which Statsig logs with every event. By default the IP is only in
	// PrivateAttributes["ip"], which Statsig uses for targeting and strips
	// from every logged event, so the raw IP never leaves the process.
	UnsafeSendIP bool
}

// Middleware resolves a visitor identity for every request and puts a
// per-request assignment scope in its context. Create one with [New]; it is
// safe for concurrent use and keeps no state between requests.
type Middleware struct {
	client     *statsig.Client
	cfg        Config
	cookieName string // without the __Host- prefix
	hostCookie string // with it, for Secure cookies
	maxAge     int    // seconds
	ips        clientip.Resolver
	hasher     *ipHasher
}

// New returns a Middleware that evaluates with client. It validates cfg and
// copies it: later changes to cfg have no effect.
//
// A nil client is accepted and fails open: identity still works, every
// experiment and gate returns its default and [LogEvent] returns
// [ErrNoClient]. The same holds in spirit for a client whose initialisation
// failed: the SDK then returns defaults until it can reach Statsig.
func New(client *statsig.Client, cfg Config) (*Middleware, error) {
	m := &Middleware{client: client, cfg: cfg}
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
		m.cookieName = DefaultCookieName
	}
	if !validCookieName(m.cookieName) || strings.HasPrefix(m.cookieName, "__") {
		return nil, fmt.Errorf("statsigmw: invalid cookie name %q (letters, digits, '-' and '_', not starting with \"__\")", m.cookieName)
	}
	m.hostCookie = "__Host-" + m.cookieName
	switch {
	case cfg.CookieMaxAge == 0:
		m.maxAge = int(DefaultCookieMaxAge / time.Second)
	case cfg.CookieMaxAge < time.Second || cfg.CookieMaxAge > DefaultCookieMaxAge:
		return nil, fmt.Errorf("statsigmw: cookie max age %v is not between 1s and 400 days", cfg.CookieMaxAge)
	default:
		m.maxAge = int(cfg.CookieMaxAge / time.Second)
	}

	prefix := cfg.IPv6Prefix
	if prefix == 0 {
		prefix = DefaultIPv6Prefix
	}
	if prefix < 1 || prefix > 128 {
		return nil, fmt.Errorf("statsigmw: IPv6 prefix length %d is not between 1 and 128", cfg.IPv6Prefix)
	}
	switch {
	case len(cfg.HashKey) >= MinHashKeyLen:
		m.hasher = newIPHasher(cfg.HashKey, prefix)
	case len(cfg.HashKey) > 0:
		return nil, fmt.Errorf("statsigmw: hash key has %d bytes, want at least %d", len(cfg.HashKey), MinHashKeyLen)
	case cfg.Identity == IPIdentity:
		return nil, errors.New("statsigmw: IPIdentity needs a HashKey")
	}

	ips, err := clientip.New(cfg.TrustedProxies, cfg.UseForwarded)
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

// Handler returns a handler that resolves the request's visitor, sets the
// visitor cookie when a new id was minted, and calls next with a context
// carrying the request's assignment scope (see [Experiment], [Gate],
// [Layer], [LogEvent]).
//
// It does no work with the SDK itself: the statsig.User is built, and the
// SDK called, only when a handler asks for an experiment, gate, layer or
// event.
func (m *Middleware) Handler(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s := m.newScope(r)
		if s.setCookie {
			http.SetCookie(w, m.cookie(s.visitor.ID, s.secure))
		}
		next.ServeHTTP(w, r.WithContext(withScope(r.Context(), s)))
	})
}

// Identify resolves the visitor of r as Handler would, without writing a
// cookie or building a user: for logging, or for handlers that run outside
// the middleware. A request that would get a new id gets a different one at
// each call.
func (m *Middleware) Identify(r *http.Request) Visitor {
	s := m.newScope(r)
	return s.visitor
}

// newScope resolves the identity of r and returns its request scope.
//
// Resolution, first match wins:
//  1. ?random (when AllowRandom): a new id, SourceRandom; set as the cookie
//     in cookie mode with consent.
//  2. With consent: exactly one cookie of our name holding a canonical v4
//     UUID, SourceCookie.
//  3. Cookie mode with consent: a new id set as the cookie, SourceNew.
//  4. A hash key and a trustworthy client IP: SourceIP.
//  5. Otherwise a per-request id, SourceEphemeral.
func (m *Middleware) newScope(r *http.Request) *scope {
	s := &scope{m: m, client: m.client, r: r, secure: m.secureFor(r)}
	consent := m.cfg.Consent == nil || m.cfg.Consent(r)
	cookieMode := consent && m.cfg.Identity == CookieIdentity

	switch {
	case m.cfg.AllowRandom && hasRandomParam(r.URL):
		s.visitor = Visitor{ID: newVisitorID(), Source: SourceRandom}
		s.setCookie = cookieMode
		return s
	case consent:
		if v, n := cookieValue(r.Header, m.cookieNameFor(s.secure)); n == 1 && validVisitorID(v) {
			s.visitor = Visitor{ID: v, Source: SourceCookie}
			return s
		}
	}
	switch {
	case cookieMode:
		s.visitor = Visitor{ID: newVisitorID(), Source: SourceNew}
		s.setCookie = true
	case m.hasher != nil:
		if ip, ok := m.ips.ClientIP(r); ok {
			s.visitor = Visitor{ID: m.hasher.id(ip), Source: SourceIP}
			break
		}
		fallthrough
	default:
		s.visitor = Visitor{ID: newVisitorID(), Source: SourceEphemeral}
	}
	return s
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

func (m *Middleware) cookieNameFor(secure bool) string {
	if secure {
		return m.hostCookie
	}
	return m.cookieName
}

func (m *Middleware) cookie(id string, secure bool) *http.Cookie {
	return &http.Cookie{
		Name:     m.cookieNameFor(secure),
		Value:    id,
		Path:     "/",
		MaxAge:   m.maxAge,
		HttpOnly: true,
		Secure:   secure,
		SameSite: http.SameSiteLaxMode,
	}
}
