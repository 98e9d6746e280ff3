package statsigtest_test

import (
	"fmt"

	statsig "github.com/statsig-io/go-sdk"

	"github.com/labkit/statsigmw/statsigtest"
)

func Example() {
	srv := statsigtest.NewServer(statsigtest.Config{
		Experiments: []statsigtest.Experiment{{
			Name: "button_color",
			Groups: []statsigtest.Group{
				{Name: "Blue", Weight: 50, Params: map[string]any{"color": "blue"}},
				{Name: "Red", Weight: 50, Params: map[string]any{"color": "red"}},
			},
		}},
	})
	defer srv.Close()

	client, details := srv.NewClient(nil)
	fmt.Println("initialised:", details.Success)

	user := statsig.User{UserID: "visitor-1"}
	exp := client.GetExperiment(user, "button_color")
	client.LogEvent(statsig.Event{EventName: "clicked", User: user})
	srv.FlushAndShutdown(client)

	for _, x := range srv.Exposures() {
		fmt.Println(x.Kind, x.Name, x.Group == exp.GroupName, x.User.UserID)
	}
	for _, e := range srv.CustomEvents() {
		fmt.Println(e.Name, e.User.UserID)
	}
	// Output:
	// initialised: true
	// experiment button_color true visitor-1
	// clicked visitor-1
}

func ExampleServer_SetFault() {
	srv := statsigtest.NewServer(statsigtest.Config{})
	defer srv.Close()

	srv.SetFault(statsigtest.ConfigSpecs, statsigtest.Fault{Status: 503})
	client, details := srv.NewClient(nil)
	defer client.Shutdown()
	fmt.Println("initialised:", details.Success)
	// Output:
	// initialised: false
}
