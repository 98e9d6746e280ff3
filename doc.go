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
// Each request is resolved to a [Visitor], first match wins:
//
//  1. ?random, when Config.AllowRandom is set: a new simulated visitor,
//     whose id is set as the cookie so that its next page is the same
//     visitor ([SourceRandom]).
//  2. A valid visitor cookie: exactly one cookie of the configured name
//     holding a canonical lower-case v4 UUID ([SourceCookie]). Any other
//     form (upper case, braces, urn:uuid:, 32 digits, another version, junk,
//     the name twice) gets a fresh id.
//  3. In cookie mode (the default), a new random v4 UUID, set as an
//     HttpOnly, SameSite=Lax cookie (Secure and "__Host-" prefixed over
//     HTTPS) and used by this very request ([SourceNew]).
//  4. In IP mode, or for a visitor who declined cookies (Config.Consent)
//     when a HashKey is set, HMAC-SHA256(HashKey, client IP) ([SourceIP]).
//     The key makes the id the same in every process of a fleet and after
//     every restart, and unguessable without the key. IPv4-mapped IPv6 is
//     unmapped and IPv6 addresses are cut to a /64 (Config.IPv6Prefix).
//  5. Otherwise a random id for this request alone ([SourceEphemeral]).
//
// No request leaves the middleware without an id: an experiment whose unit
// is missing would put every such visitor in one bucket. The id is
// CustomIDs["stableID"] of the user, and its UserID unless Config.UserID
// reports a logged-in user.
//
// The client IP is the TCP peer unless the peer is one of
// Config.TrustedProxies; then it is the rightmost address of X-Forwarded-For
// (or RFC 7239 Forwarded, with Config.UseForwarded) that is not a trusted
// proxy. A malformed forwarding header yields no IP rather than the
// proxy's: in IP mode such a request gets an ephemeral id.
//
// # Privacy
//
// The raw client IP never leaves the process by default: it is put only in
// the user's PrivateAttributes, which the SDK uses for targeting and strips
// from every event it logs. IP hashes are keyed. Config.UnsafeSendIP opts
// in to sending the IP.
//
// # Exposures
//
// The user is built, and the SDK called, only when a handler first asks for
// an experiment, gate, layer or event: a request that reads nothing costs
// only its identity. [Experiment], [Gate] and [Layer] evaluate at most once
// per request and name, and log the exposure once, when a handler reads it:
// the SDK itself logs one exposure per call, and over-exposure dilutes
// results. [PeekExperiment] and [PeekGate] read without an exposure. The
// scope is safe for use by the goroutines a handler starts.
//
// # Events and the browser
//
// [LogEvent] records a conversion against the scope's user, so it is
// attributed to the group the visitor saw. [Bootstrap] hands a browser
// client the same assignments.
//
// # Failing open
//
// Every accessor works without the middleware (defaults and false, or
// [ErrNoScope]), with a nil client, and with a client that could not reach
// Statsig: pages are served with the experiments' defaults. [NewContext]
// gives handler tests and background jobs a scope without the middleware.
//
// # Testing
//
// Package statsigtest is an in-process Statsig-compatible backend: tests run
// the real SDK over real HTTP and assert on the exposures and events it
// sent.
package statsigmw
