// Package statsigtest provides an in-process, Statsig-compatible backend for
// tests and offline runs, in the spirit of net/http/httptest.
//
// A [Server] is a real HTTP server on the loopback interface that speaks the
// wire protocol of github.com/statsig-io/go-sdk v1.35.1: config download
// (both the CDN and the DisableCDN form), id lists, gzip event batches and
// the SDK's exception reports. A real *statsig.Client pointed at it
// evaluates real experiments, with the SDK's own bucketing, and sends real
// events, which the Server decodes so a test can assert on them. No Statsig
// account and no network are needed.
//
// # Building configs
//
// A [Config] lists experiments, gates and layers as Go values; nobody writes
// spec JSON by hand. [Config.JSON] validates it and returns the
// download_config_specs document, which is also valid as
// statsig.Options.BootstrapValues for a LocalMode client. Invalid configs
// are errors from [Config.JSON] and [Server.SetConfig]; [NewServer] and
// [Config.MustJSON] panic instead, and [Start] fails the test, for ease of
// use in tests.
//
// # Reading events
//
// The SDK buffers events and has no synchronous flush but Shutdown. Clients
// made with [Server.Options] (and so [Server.Client] and [Server.NewClient])
// keep every event until they shut down; [Server.FlushAndShutdown] shuts a
// client down and waits for its batches, after which [Server.Exposures],
// [Server.CustomEvents] and [Server.Events] hold everything it logged. Tests
// never sleep and hope.
//
// # Faults
//
// [Server.SetFault] makes an endpoint answer with a status code, hang, or
// drop the connection, switchable while clients run, for reliability tests.
package statsigtest
