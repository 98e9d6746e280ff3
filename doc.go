// Package statsigmw brings Statsig experiments to any net/http service.
//
// A [Middleware] gives every request a stable visitor identity, a
// statsig.User built from it, and a per-request assignment scope in its
// context. Any handler, however deep, reads experiments and records
// conversions against the same user:
//
//	mw, err := statsigmw.New(client, statsigmw.Config{})
//	...
//	http.ListenAndServe(addr, mw.Handler(mux))
//
//	func tasks(w http.ResponseWriter, r *http.Request) {
//		exp, _ := statsigmw.Experiment(r.Context(), "button_color_v3")
//		color := exp.GetString("Button Color", "blue")
//		...
//	}
//
//	func signup(w http.ResponseWriter, r *http.Request) {
//		_ = statsigmw.LogEvent(r.Context(), "visited_signup")
//		...
//	}
//
// # Identity
//
// Each request is resolved to an anonymous visitor id, first match wins:
//
//  1. ?random, when Config.AllowRandom is set: a new simulated visitor,
//     whose id is set as the cookie so that its next page is the same
//     visitor.
//  2. A valid visitor cookie: exactly one cookie of the configured name
//     holding a canonical lower-case v4 UUID, optionally followed by the
//     time it was set. Any other form gets a fresh id.
//  3. In cookie mode (the default), a new random v4 UUID, set as an
//     HttpOnly, SameSite=Lax cookie (Secure over HTTPS) and used by this
//     very request.
//  4. In IP mode, or for a visitor who declined cookies (Config.Consent)
//     when a HashKey is set, HMAC-SHA256(HashKey, client IP): the same in
//     every process of a fleet and after every restart, unguessable without
//     the key. IPv6 addresses are cut to a /64 (Config.IPv6Prefix).
//  5. Otherwise a random id for this request alone.
//
// The id is CustomIDs["stableID"] of the user, and its UserID unless
// Config.LoginID reports a logged-in user. No request leaves without an id:
// an experiment whose unit is missing would put everyone in one bucket.
//
// The client IP is the TCP peer unless the peer is one of
// Config.TrustedProxies; then it is the rightmost address of
// X-Forwarded-For (or RFC 7239 Forwarded) that is not a trusted proxy. A
// malformed forwarding header yields no IP rather than the proxy's.
//
// # Production layouts
//
//   - Auth inside or outside: Config.LoginID runs when the user is first
//     needed, with the context of that call, so a session middleware
//     running inside Handler is seen.
//   - Nesting: a Handler that finds a scope in the request (an outer
//     Handler put it there) reuses it: one identity, one cookie, one
//     exposure per request.
//   - Caching: a response that sets the cookie, or whose handler read an
//     assignment or the user before writing, gets "Vary: Cookie" and a
//     private Cache-Control, so shared caches never serve one visitor's
//     variant or cookie to another.
//   - Secure: the cookie's name does not change with Config.Secure, so
//     turning Secure on behind a TLS proxy keeps every visitor.
//   - Expiry: the cookie records when it was set and is set again once a
//     tenth of CookieMaxAge has passed, so an active visitor never expires
//     and a returning one gets at most one Set-Cookie per tenth.
//   - HEAD requests are evaluated but log no exposure and no event: link
//     checkers and monitors are not visitors. Prefetches (Sec-Purpose:
//     prefetch) count as views, because the browser shows the prefetched
//     page when the visitor follows the link.
//
// # Privacy
//
// The raw client IP never leaves the process by default: it is put only in
// the user's PrivateAttributes, which the SDK uses for targeting and strips
// from every event it logs. IP hashes are keyed. Config.UnsafeSendIP opts in
// to sending the IP.
//
// # Exposures
//
// The user is built, and the SDK called, only when a handler first asks for
// an experiment, gate, layer or event: a request that reads nothing costs
// only its identity. [Experiment], [Gate] and [Layer] evaluate at most once
// per request and name, and log the exposure when a handler reads it; a
// handler that never reads one causes none (over-exposure dilutes results).
// [PeekExperiment] reads without an exposure.
//
// Across requests, an exposure of the same unit, config and outcome is
// logged once per Config.ExposureWindow (an hour by default), in a bounded
// cache. It is logged again when the outcome changes and after the window.
// This does not bias Statsig's analysis, which counts a unit from its first
// exposure: later identical exposures add no information, only events to
// pay for. A name the client does not know returns ok false and logs
// nothing, so a typo is visible.
//
// A later request whose user is equal in every field the SDK reads reuses
// an earlier request's evaluation of a gate or experiment, while the SDK
// would give the same answer: under the same rule set, and for configs that
// read nothing but the user (no time condition, no ID list). See
// Config.AssignmentCacheSize.
//
// # Events and the browser
//
// [LogEvent] records a conversion against the scope's user, so it is
// attributed to the group the visitor saw. [Bootstrap] hands a browser
// client the same assignments, with the exact user to start it with.
//
// # Failing open
//
// Every accessor works without the middleware (defaults and false, or
// [ErrNoScope]) and with a client that could not reach Statsig: pages are
// served with the experiments' defaults. [NewContext] gives handler tests
// and background jobs a scope without the middleware.
//
// # Testing
//
// Package statsigtest is an in-process Statsig-compatible backend: tests run
// the real SDK over real HTTP and assert on the exposures and events it
// sent.
package statsigmw
