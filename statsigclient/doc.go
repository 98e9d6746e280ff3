// Package statsigclient builds and shuts down a Statsig server client
// (github.com/statsig-io/go-sdk v1.35.1) so that its lifecycle has bounded
// costs. [Client.SDK] is the SDK's own *statsig.Client, for evaluations and
// events.
//
// # In production
//
// Build the client at start-up and shut it down after the HTTP server:
//
//	statsigclient.RouteSDKLogs(logger) // once: the SDK's output to log/slog
//	client, err := statsigclient.New(statsigclient.Config{
//		Secret: os.Getenv("STATSIG_SERVER_SECRET"),
//		Logger: logger,
//	})
//	if err != nil {
//		return err // a malformed key, URL or transport
//	}
//	// ... serve until told to stop; then, after http.Server.Shutdown:
//	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
//	defer cancel()
//	if err := client.Shutdown(ctx); err != nil {
//		logger.Warn("Statsig events lost", "err", err)
//	}
//
// A client that could not reach Statsig at start-up still works and serves
// defaults until a config download succeeds; [Client.Initialized] tells.
//
// # In local development, without an account
//
// Options.LocalMode makes no network request; bootstrap values give it
// configs to evaluate (statsigtest's Config.JSON writes them from Go
// values). Events are not sent anywhere.
//
//	specs, _ := statsigtest.Config{Experiments: ...}.JSON()
//	client, err := statsigclient.New(statsigclient.Config{
//		Options: &statsig.Options{LocalMode: true, BootstrapValues: string(specs)},
//	})
//
// # In tests
//
// Package statsigtest runs an in-process Statsig backend: its
// Server.NewClient(t) returns a Client wired to it and shut down when the
// test ends, and Server.Events and Server.Exposures show what was received.
//
// # What a Client guarantees
//
//   - [New] returns an error, never a panic, for a configuration the SDK
//     would crash on or silently lose events with, and waits at most
//     Config.InitTimeout.
//   - Event delivery holds at most Config.MaxInFlightBatches being sent and
//     Config.MaxQueuedBatches waiting, whatever the backend does.
//   - [Client.Shutdown] returns by its context's deadline, and its cost does
//     not depend on the rest of the process.
//   - Every event in a batch that reached the client's transport is counted
//     exactly once in [Stats]: sent, dropped or failed (or pending).
//     Shutdown's error counts those it could not deliver, and says when the
//     SDK still held its buffered events at the deadline
//     ([ShutdownError].UnknownBatches).
//
// What no Client can count: the SDK keeps its event buffer to itself, and
// encodes each batch on a goroutine before handing it to a transport.
// Shutdown sees the buffer through the SDK's Shutdown, which sends it as one
// final batch. A batch the SDK began earlier and is still encoding when
// Shutdown returns reaches the transport afterwards, and is then dropped and
// counted in Stats only. A batch the SDK cannot encode (a user attribute
// that is not valid JSON, such as a NaN) never reaches the transport: the
// SDK drops it and reports it through its own output ([RouteSDKLogs]).
package statsigclient
