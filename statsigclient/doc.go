// Package statsigclient builds and shuts down a Statsig server client
// (github.com/statsig-io/go-sdk v1.35.1) so that its lifecycle has bounded
// costs: construction returns an error instead of panicking and waits at
// most a timeout, event delivery holds a bounded number of batches and
// goroutines whatever the backend does, and [Client.Shutdown] returns by
// its context's deadline and says how many events it could not deliver.
// [RouteSDKLogs] sends the SDK's output to log/slog.
//
// # What the SDK does
//
// The SDK, left alone:
//   - panics in NewClient* on a key that does not start with "secret";
//   - blocks ~12 s initialising against a hanging backend without
//     Options.InitTimeout;
//   - counts a download of configs as initialised only if it parses, but
//     offers no way to ask later whether it has configs;
//   - sends every full event buffer (and every LoggingInterval) on a new
//     goroutine, with no cap on how many run;
//   - retries a log_event batch answered with 408 or 5xx five times after
//     uninterruptible sleeps of 1 s, 10 s, 100 s, ..., and its Shutdown does
//     that while holding the lock that every evaluation and LogEvent takes:
//     hours against a backend answering 503;
//   - for every failed batch prints a stack trace and POSTs an sdk_exception
//     report synchronously, with its own HTTP client (3 s timeout, outside
//     Options.Transport), on the goroutine that sent the batch;
//   - has no flush but Shutdown, which does not wait for the batches it
//     already began on other goroutines.
//
// # What a Client does about it
//
// [New] installs its own http.RoundTripper under the SDK. For event batches
// (the log_event endpoint) it:
//   - lets at most Config.MaxInFlightBatches be sent at once and
//     Config.MaxQueuedBatches wait, and drops any batch beyond that at once;
//   - retries 408 and 5xx answers itself, a bounded number of times, with
//     waits that Shutdown interrupts, so the SDK's own retries never start;
//   - answers the SDK with success for a batch it could not deliver, and
//     counts its events in [Client.Stats]. Given an error, the SDK would
//     print a stack trace and post an sdk_exception report per batch,
//     outside any transport this package controls, and against an
//     unreachable backend each of those goroutines would linger 3 s. The
//     SDK does nothing else with the error: it never retries a batch that
//     failed with an error.
//
// Other requests (config download, id lists) pass through unchanged, except
// that Shutdown cancels them. The SDK's sdk_exception reports (sent on
// errors during evaluation or initialisation) bypass Options.Transport; they
// go to Options.API, or to Statsig's API when that is empty.
//
// Shutdown knows which batches exist instead of waiting for silence. The
// SDK starts every background batch on a goroutine while holding its logger
// lock, and its Shutdown takes that lock for the final batch, so once the
// SDK's Shutdown has returned, every batch has a goroutine. Shutdown waits
// until none of those goroutines is still encoding its batch (it finds them
// in a dump of the goroutines' stacks, as the SDK offers no other sign of
// them) and none is inside the transport. A healthy Shutdown therefore
// returns as soon as the last batch is answered, and an unhealthy one at
// its deadline with the count of what was lost.
package statsigclient
