// Package statsigmw brings Statsig experiments to any net/http service.
//
// A [Middleware] gives every request a stable visitor identity, a
// statsig.User built from it, and a scope in the request's context through
// which any handler, however deep, reads experiments and logs events
// against that same user.
//
// # Getting started
//
// Build the SDK client with statsigclient.New (package
// github.com/labkit/statsigmw/statsigclient), which bounds its start and
// its shutdown, then the middleware with [New], and wrap your handlers:
//
//	client, err := statsigclient.New(statsigclient.Config{Secret: os.Getenv("STATSIG_SERVER_SECRET")})
//	...
//	mw, err := statsigmw.New(client, statsigmw.Config{})
//	...
//	srv := &http.Server{Addr: addr, Handler: mw.Handler(mux)}
//	... // at exit: srv.Shutdown(ctx), then client.Shutdown(ctx)
//
// A handler reads its experiment with [Experiment], which logs the exposure
// once per request, and records a conversion with [LogEvent]:
//
//	func tasks(w http.ResponseWriter, r *http.Request) {
//		exp, _ := statsigmw.Experiment(r.Context(), "button_color_v3")
//		color := exp.GetString("Button Color", "blue")
//		...
//	}
//
//	func signup(w http.ResponseWriter, r *http.Request) {
//		if err := statsigmw.LogEvent(r.Context(), "visited_signup"); err != nil {
//			...
//		}
//	}
//
// [Gate], [Layer] and [PeekExperiment] read gates, layers and assignments
// without an exposure; [User] and [Bootstrap] give the request's user and
// the document that starts a browser's Statsig client with the same
// assignments. [Config] documents identity (cookie or hashed IP, trusted
// proxies, logins, consent) and exposure de-duplication field by field.
//
// Every accessor fails open: without the middleware, or with a client that
// could not reach Statsig, it returns defaults. [NewContext] gives handler
// tests and background jobs a scope without the middleware.
//
// # Testing
//
// Package github.com/labkit/statsigmw/statsigtest is an in-process,
// Statsig-compatible backend: handler tests run the real SDK over real HTTP
// and assert on the exposures and events it sent.
//
// The README holds a complete program and its test; docs/design.md
// explains how the middleware works inside.
package statsigmw
