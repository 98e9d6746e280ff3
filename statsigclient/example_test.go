package statsigclient_test

import (
	"context"
	"fmt"
	"log"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"time"

	statsig "github.com/statsig-io/go-sdk"

	"github.com/labkit/statsigmw/statsigclient"
	"github.com/labkit/statsigmw/statsigtest"
)

// A client for production: the server secret from the environment, the
// SDK's output and the client's warnings to the service's logger, and a
// bounded Shutdown after the HTTP server's.
func Example_production() {
	logger := slog.Default()
	statsigclient.RouteSDKLogs(logger) // process-global: once, at start-up
	client, err := statsigclient.New(statsigclient.Config{
		Secret: os.Getenv("STATSIG_SERVER_SECRET"),
		Logger: logger,
	})
	if err != nil {
		log.Fatal(err) // a malformed key, URL or transport
	}

	srv := &http.Server{Addr: ":8080"}
	go func() { _ = srv.ListenAndServe() }()
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, os.Interrupt)
	<-stop

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_ = srv.Shutdown(ctx) // the handlers stop logging events first
	if err := client.Shutdown(ctx); err != nil {
		logger.Warn("Statsig events lost", "err", err)
	}
}

// A client for local development, with no account and no network: the
// SDK's local mode, with configs from bootstrap values that statsigtest
// writes from Go values.
func Example_localMode() {
	specs, err := statsigtest.Config{
		Experiments: []statsigtest.ExperimentSpec{{
			Name:   "button_color",
			Groups: []statsigtest.Group{{Name: "Green", Weight: 100, Params: map[string]any{"color": "green"}}},
		}},
	}.JSON()
	if err != nil {
		log.Fatal(err)
	}
	client, err := statsigclient.New(statsigclient.Config{
		Options: &statsig.Options{LocalMode: true, BootstrapValues: string(specs)},
	})
	if err != nil {
		log.Fatal(err)
	}
	defer client.Shutdown(context.Background())

	exp := client.SDK().GetExperiment(statsig.User{UserID: "visitor-1"}, "button_color")
	fmt.Println("initialised:", client.Initialized())
	fmt.Println("color:", exp.GetString("color", "grey"))
	// Output:
	// initialised: true
	// color: green
}

// A client for tests, wired to an in-process backend, which records what it
// receives.
func ExampleNew() {
	// An in-process backend stands in for Statsig. In production: Secret
	// from os.Getenv("STATSIG_SERVER_SECRET") and Options nil (or your own).
	srv := statsigtest.NewServer(statsigtest.Config{
		Experiments: []statsigtest.ExperimentSpec{{
			Name:   "button_color",
			Groups: []statsigtest.Group{{Name: "Blue", Weight: 100, Params: map[string]any{"color": "blue"}}},
		}},
	})
	defer srv.Close()

	cfg := srv.ClientConfig()
	cfg.InitTimeout = 2 * time.Second
	client, err := statsigclient.New(cfg)
	if err != nil {
		log.Fatal(err) // a malformed key: an error, not a panic
	}
	// false would not be fatal: the client serves defaults until Statsig answers.
	fmt.Println("initialised:", client.Initialized())

	user := statsig.User{UserID: "visitor-1"}
	exp := client.SDK().GetExperiment(user, "button_color")
	fmt.Println("color:", exp.GetString("color", "grey"))
	client.SDK().LogEvent(statsig.Event{EventName: "visited_signup", User: user})

	// At exit, typically after http.Server.Shutdown: deliver what is
	// buffered, but give up after 5 seconds whatever the backend does.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := client.Shutdown(ctx); err != nil {
		log.Print(err) // how many events were lost, and why
	}
	fmt.Println("events sent:", client.Stats().EventsSent) // the exposure and the custom event
	fmt.Println("received:", len(srv.Exposures()), "exposure,", len(srv.Events()), "event")
	// Output:
	// initialised: true
	// color: blue
	// events sent: 2
	// received: 1 exposure, 1 event
}

func ExampleNew_badKey() {
	_, err := statsigclient.New(statsigclient.Config{Secret: "client-AbCdEf123456"})
	fmt.Println(err)
	// Output:
	// statsigclient: Secret "client-..." does not start with "secret": it is not a server secret key
}

func ExampleRouteSDKLogs() {
	// Text records on stdout, without their time so that the output is stable.
	logger := slog.New(slog.NewTextHandler(os.Stdout, &slog.HandlerOptions{
		ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
			if a.Key == slog.TimeKey && len(groups) == 0 {
				return slog.Attr{}
			}
			return a
		},
	}))
	statsigclient.RouteSDKLogs(logger) // process-global: once, at start-up
	defer statsigclient.RouteSDKLogs(nil)

	bootstrap, err := statsigtest.Config{}.JSON()
	if err != nil {
		log.Fatal(err)
	}
	client, err := statsigclient.New(statsigclient.Config{
		Options: &statsig.Options{LocalMode: true, BootstrapValues: string(bootstrap)},
		Logger:  logger,
	})
	if err != nil {
		log.Fatal(err)
	}
	defer client.Shutdown(context.Background())

	// A user with no id is an error of the SDK: one record, no stack trace.
	client.SDK().CheckGate(statsig.User{}, "some_gate")
	// Output:
	// level=ERROR msg="A non-empty StatsigUser.UserID or StatsigUser.CustomIDs is required. See https://docs.statsig.com/messages/serverRequiredUserID" component=statsig-sdk
}
