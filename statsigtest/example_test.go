package statsigtest_test

import (
	"context"
	"fmt"
	"io"
	"log"
	"log/slog"

	statsig "github.com/statsig-io/go-sdk"

	"github.com/labkit/statsigmw/statsigclient"
	"github.com/labkit/statsigmw/statsigtest"
)

// In a test, srv.NewClient(t) and srv.Flush(t, client) do what this example
// spells out: create a client from ClientConfig, and shut it down through
// its production Shutdown before reading events.
func Example() {
	srv := statsigtest.NewServer(statsigtest.Config{
		Experiments: []statsigtest.ExperimentSpec{{
			Name: "button_color",
			Groups: []statsigtest.Group{
				{Name: "Blue", Weight: 50, Params: map[string]any{"color": "blue"}},
				{Name: "Red", Weight: 50, Params: map[string]any{"color": "red"}},
			},
		}},
	})
	defer srv.Close()

	client, err := statsigclient.New(srv.ClientConfig())
	if err != nil {
		log.Fatal(err)
	}
	user := statsig.User{UserID: "visitor-1"}
	exp := client.SDK().GetExperiment(user, "button_color")
	client.SDK().LogEvent(statsig.Event{EventName: "clicked", User: user})
	if err := client.Shutdown(context.Background()); err != nil {
		log.Fatal(err)
	}

	for _, x := range srv.Exposures() {
		fmt.Println(x.Kind, x.Name, x.Group == exp.GroupName, x.User.UserID)
	}
	for _, e := range srv.Events() {
		fmt.Println(e.Name, e.User.UserID)
	}
	// Output:
	// experiment button_color true visitor-1
	// clicked visitor-1
}

func ExampleServer_SetFault() {
	srv := statsigtest.NewServer(statsigtest.Config{})
	defer srv.Close()

	srv.SetFault(statsigtest.EndpointConfigSpecs, statsigtest.Fault{Status: 503})
	cfg := srv.ClientConfig()
	cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil)) // the warning is expected
	client, err := statsigclient.New(cfg)                       // fails open: no error
	if err != nil {
		log.Fatal(err)
	}
	defer client.Shutdown(context.Background())
	fmt.Println("initialised:", client.Initialized())
	// Output:
	// initialised: false
}
