package statsigmw_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/netip"
	"strings"

	statsig "github.com/statsig-io/go-sdk"

	"github.com/labkit/statsigmw"
	"github.com/labkit/statsigmw/statsigclient"
	"github.com/labkit/statsigmw/statsigtest"
)

// A page reads an experiment, another logs the conversion; both are
// attributed to the same visitor, whose id the middleware keeps in a cookie.
func Example() {
	// An in-process backend stands in for Statsig.
	backend := statsigtest.NewServer(statsigtest.Config{Experiments: []statsigtest.ExperimentSpec{{
		Name: "button_color_v3",
		Groups: []statsigtest.Group{
			{Name: "Blue", Weight: 50, Params: map[string]any{"Button Color": "blue"}},
			{Name: "Red", Weight: 50, Params: map[string]any{"Button Color": "red"}},
		},
	}}})
	defer backend.Close()
	client, err := statsigclient.New(backend.ClientConfig())
	if err != nil {
		panic(err)
	}

	mw, err := statsigmw.New(client, statsigmw.Config{})
	if err != nil {
		panic(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/tasks", func(w http.ResponseWriter, r *http.Request) {
		exp, _ := statsigmw.Experiment(r.Context(), "button_color_v3")
		fmt.Fprint(w, exp.GetString("Button Color", "blue"))
	})
	mux.HandleFunc("/signup", func(w http.ResponseWriter, r *http.Request) {
		if err := statsigmw.LogEvent(r.Context(), "visited_signup"); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
		}
	})
	srv := httptest.NewServer(mw.Handler(mux))
	defer srv.Close()

	jar, _ := cookiejar.New(nil)
	browser := &http.Client{Jar: jar}
	resp, _ := browser.Get(srv.URL + "/tasks")
	color, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	resp, _ = browser.Get(srv.URL + "/signup")
	resp.Body.Close()

	// Shutdown delivers every event the client buffered.
	if err := client.Shutdown(context.Background()); err != nil {
		panic(err)
	}
	exposure, event := backend.Exposures()[0], backend.Events()[0]
	fmt.Println("colour shown matches the group:", strings.EqualFold(string(color), exposure.Group))
	fmt.Println("conversion:", event.Name)
	fmt.Println("same visitor:", event.User.CustomIDs["stableID"] == exposure.User.CustomIDs["stableID"])
	// Output:
	// colour shown matches the group: true
	// conversion: visited_signup
	// same visitor: true
}

// Handler tests can skip the middleware and give a handler a user of their
// choice with NewContext.
func ExampleNewContext() {
	backend := statsigtest.NewServer(statsigtest.Config{Gates: []statsigtest.GateSpec{{Name: "new_checkout", PassPercentage: 100}}})
	defer backend.Close()
	client, err := statsigclient.New(backend.ClientConfig())
	if err != nil {
		panic(err)
	}
	defer client.Shutdown(context.Background())

	ctx := statsigmw.NewContext(context.Background(), client, statsig.User{UserID: "user-1"})
	fmt.Println(statsigmw.Gate(ctx, "new_checkout"))
	// Output: true true
}

// Without the middleware every accessor returns its defaults, and LogEvent
// says why nothing was logged.
func ExampleLogEvent_withoutMiddleware() {
	ctx := context.Background()
	exp, ok := statsigmw.Experiment(ctx, "button_color_v3")
	fmt.Println(exp.GetString("Button Color", "blue"), ok)
	fmt.Println(statsigmw.LogEvent(ctx, "visited_signup"))
	// Output:
	// blue false
	// statsigmw: no request scope in the context (is the handler wrapped by the middleware?)
}

// Behind a load balancer, trust its network so that the client IP comes from
// X-Forwarded-For; identify visitors by keyed IP hash instead of a cookie.
func ExampleNew_hashedIP() {
	client, err := statsigclient.New(statsigclient.Config{Options: &statsig.Options{LocalMode: true}})
	if err != nil {
		panic(err)
	}
	defer client.Shutdown(context.Background())
	mw, err := statsigmw.New(client, statsigmw.Config{
		Identity:       statsigmw.IPIdentity,
		HashKey:        []byte("load this from your secret store"),
		TrustedProxies: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")},
	})
	if err != nil {
		panic(err)
	}
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	r.RemoteAddr = "10.1.2.3:4567"                         // the load balancer
	r.Header.Set("X-Forwarded-For", "192.0.2.1, 10.0.0.9") // client, then an inner proxy
	mw.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u, _ := statsigmw.User(r.Context())
		fmt.Println(u.Custom["id_source"], len(u.UserID))
	})).ServeHTTP(httptest.NewRecorder(), r)
	// Output: ip 64
}
