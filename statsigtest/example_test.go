package statsigtest_test

import (
	"context"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net/http"
	"net/http/httptest"

	"github.com/labkit/statsigmw"
	"github.com/labkit/statsigmw/statsigclient"
	"github.com/labkit/statsigmw/statsigtest"
)

// A handler under the middleware, served by a client of the Server: the
// page shows the forced group's colour, and the exposure and the conversion
// reach the Server. In a test, srv.NewClient(t) and srv.Flush(t, client)
// do what this example spells out.
func Example() {
	srv := statsigtest.NewServer(statsigtest.Config{Experiments: []statsigtest.ExperimentSpec{{
		Name:   "button_color_v3",
		Groups: []statsigtest.Group{{Name: "Red", Weight: 100, Params: map[string]any{"Button Color": "red"}}},
	}}})
	defer srv.Close()
	client, err := statsigclient.New(srv.ClientConfig())
	if err != nil {
		log.Fatal(err)
	}
	mw, err := statsigmw.New(client, statsigmw.Config{})
	if err != nil {
		log.Fatal(err)
	}
	h := mw.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		exp, _ := statsigmw.Experiment(r.Context(), "button_color_v3")
		_ = statsigmw.LogEvent(r.Context(), "visited_signup")
		fmt.Fprint(w, exp.GetString("Button Color", "blue"))
	}))

	page := httptest.NewRecorder()
	h.ServeHTTP(page, httptest.NewRequest("GET", "/", nil))
	if err := client.Shutdown(context.Background()); err != nil { // what srv.Flush(t, client) does
		log.Fatal(err)
	}

	fmt.Println("page:", page.Body)
	for _, x := range srv.Exposures() {
		fmt.Println("exposure:", x.Name, x.Group, x.User.CustomIDs["stableID"] != "")
	}
	for _, e := range srv.Events() {
		fmt.Println("event:", e.Name, e.User.CustomIDs["stableID"] != "")
	}
	// Output:
	// page: red
	// exposure: button_color_v3 Red true
	// event: visited_signup true
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
