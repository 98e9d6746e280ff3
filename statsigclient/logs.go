package statsigclient

import (
	"context"
	"log/slog"
	"strings"

	statsig "github.com/statsig-io/go-sdk"
)

// RouteSDKLogs sends the Statsig SDK's output to l: errors at
// slog.LevelError without the stack trace the SDK appends, its
// initialisation and sync steps at slog.LevelDebug (they are produced only if
// l is enabled for Debug when RouteSDKLogs is called), and anything else at
// slog.LevelInfo. Messages are as the SDK wrote them, server secrets masked,
// with the attribute component=statsig-sdk. RouteSDKLogs(nil) restores the
// SDK's default: errors to stderr, other messages to stdout.
//
// The setting is process-global and affects every Statsig client in the
// process, because the SDK honours only its global output logger
// (statsig.InitializeGlobalOutputLogger) and ignores
// Options.OutputLoggerOptions. That is why it is a function of its own rather
// than a field of [Config]: call it once, at start-up. Safe for concurrent
// use.
func RouteSDKLogs(l *slog.Logger) {
	if l == nil {
		statsig.InitializeGlobalOutputLogger(statsig.OutputLoggerOptions{})
		return
	}
	statsig.InitializeGlobalOutputLogger(statsig.OutputLoggerOptions{
		LogCallback: func(message string, err error) { logSDKMessage(l, message, err) },
		EnableDebug: l.Enabled(context.Background(), slog.LevelDebug),
	})
}

func logSDKMessage(l *slog.Logger, message string, err error) {
	msg := strings.TrimSpace(message)
	level := slog.LevelInfo
	switch {
	case err != nil:
		level = slog.LevelError
		// The SDK formats errors as "Error: <err>\nStack Trace:\n<stack>".
		if i := strings.Index(msg, "\nStack Trace:"); i >= 0 {
			msg = strings.TrimSpace(msg[:i])
		}
		msg = strings.TrimPrefix(msg, "Error: ")
	case strings.HasPrefix(msg, string(statsig.StatsigProcessInitialize)+": "),
		strings.HasPrefix(msg, string(statsig.StatsigProcessSync)+": "):
		level = slog.LevelDebug
	}
	l.LogAttrs(context.Background(), level, msg, slog.String("component", "statsig-sdk"))
}
