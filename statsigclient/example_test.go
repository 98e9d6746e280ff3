package statsigclient_test

import (
	"context"
	"fmt"
	"log"
	"log/slog"
	"os"
	"time"

	statsig "github.com/statsig-io/go-sdk"

	"github.com/labkit/statsigmw/statsigclient"
	"github.com/labkit/statsigmw/statsigtest"
)

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
