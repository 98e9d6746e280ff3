// Package statsigtest is an in-process, Statsig-compatible backend for
// testing handlers that use statsigmw, in the spirit of net/http/httptest:
// the real SDK, over real HTTP, with no account and no network.
//
//	srv := statsigtest.NewServer(statsigtest.Config{Experiments: []statsigtest.ExperimentSpec{{
//		Name:   "button_color_v3",
//		Groups: []statsigtest.Group{{Name: "Red", Weight: 100, Params: map[string]any{"Button Color": "red"}}},
//	}}})
//	defer srv.Close()
//	client := srv.NewClient(t)             // the *statsigclient.Client production code uses
//	mw, err := statsigmw.New(client, statsigmw.Config{})
//	// ... serve requests through mw.Handler(yourRoutes) ...
//	srv.Flush(t, client)                   // delivers every event; then read them
//	exposures, events := srv.Exposures(), srv.Events()
//
// A [Config] lists experiments, gates and layers as Go values. [Config.JSON]
// returns them as the SDK's config document, which is also valid as
// statsig.Options.BootstrapValues for a LocalMode client (an offline
// program). Invalid configs are errors from [Config.JSON] and
// [Server.SetConfig]; [NewServer] panics instead, for ease of use in tests.
//
// A client made by [Server.NewClient] keeps its events until it shuts down.
// [Server.Flush] shuts it down through its production Shutdown, which
// delivers every batch; afterwards [Server.Events] and [Server.Exposures]
// hold everything it logged. A test that reads events without Flush fails
// with a hint, whatever the order of Close and the test's cleanups.
//
// [Server.SetFault] makes an endpoint answer with a status code, hang, or
// drop the connection, switchable while clients run, for reliability tests.
//
// The Server speaks the wire protocol of github.com/statsig-io/go-sdk
// v1.35.1: config download (the CDN and the DisableCDN form), id lists,
// gzip event batches and the SDK's exception reports.
package statsigtest
