// Package statsigtest provides an in-process, Statsig-compatible backend for
// tests and offline runs, in the spirit of net/http/httptest.
//
// A [Server] is a real HTTP server on the loopback interface that speaks the
// wire protocol of github.com/statsig-io/go-sdk v1.35.1: config download
// (both the CDN and the DisableCDN form), id lists, gzip event batches and
// the SDK's exception reports. A client pointed at it evaluates real
// experiments, with the SDK's own bucketing, and sends real events, which
// the Server decodes so a test can assert on them. No Statsig account and no
// network are needed.
//
// # Building configs
//
// A [Config] lists experiments, gates and layers as Go values; nobody writes
// spec JSON by hand. [Config.JSON] validates it and returns the
// download_config_specs document, which is also valid as
// statsig.Options.BootstrapValues for a LocalMode client. Invalid configs
// are errors from [Config.JSON] and [Server.SetConfig]; [NewServer] panics
// instead, for ease of use in tests.
//
// # Clients and events
//
// [Server.NewClient] returns the *statsigclient.Client that production code
// uses, wired to the server by [Server.ClientConfig] (or build one from
// ClientConfig with your own changes). Such a client keeps every event
// until it shuts down; [Server.Flush] shuts it down through its production
// Shutdown, which delivers every batch, after which [Server.Events] and
// [Server.Exposures] hold everything it logged. Tests never sleep and hope,
// and a test that reads events without flushing fails with a hint:
//
//	srv := statsigtest.NewServer(cfg)
//	defer srv.Close()
//	client := srv.NewClient(t)
//	// ... exercise code that evaluates and logs through client.SDK() ...
//	srv.Flush(t, client)
//	exposures, events := srv.Exposures(), srv.Events()
//
// # Faults
//
// [Server.SetFault] makes an endpoint answer with a status code, hang, or
// drop the connection, switchable while clients run, for reliability tests.
package statsigtest
