package statsigmw_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/labkit/statsigmw"
	"github.com/labkit/statsigmw/statsigclient"
	"github.com/labkit/statsigmw/statsigtest"
)

// labApp is the application under test in the README's handler test.
func labApp() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/tasks", func(w http.ResponseWriter, r *http.Request) {
		exp, _ := statsigmw.Experiment(r.Context(), "button_color_v3")
		fmt.Fprint(w, exp.GetString("Button Color", "blue"))
	})
	mux.HandleFunc("/signup", func(w http.ResponseWriter, r *http.Request) {
		_ = statsigmw.LogEvent(r.Context(), "visited_signup")
	})
	return mux
}

// TestSignupConverts is the handler test README shows, verbatim from the
// line after the signature to the end: one group forces the variant, and
// the test asserts the exposure and the conversion that went over the wire.
func TestSignupConverts(t *testing.T) {
	srv := statsigtest.NewServer(statsigtest.Config{Experiments: []statsigtest.ExperimentSpec{{
		Name: "button_color_v3", Groups: []statsigtest.Group{{Name: "Red", Weight: 100, Params: map[string]any{"Button Color": "red"}}},
	}}})
	defer srv.Close()
	client := srv.NewClient(t)
	mw, _ := statsigmw.New(client, statsigmw.Config{})
	h := mw.Handler(labApp())

	page := httptest.NewRecorder()
	h.ServeHTTP(page, httptest.NewRequest("GET", "/tasks", nil))
	signup := httptest.NewRequest("GET", "/signup", nil)
	signup.AddCookie(page.Result().Cookies()[0]) // the same visitor
	h.ServeHTTP(httptest.NewRecorder(), signup)

	srv.Flush(t, client)
	x, ev := srv.Exposures()[0], srv.Events()[0]
	if page.Body.String() != "red" || x.Group != "Red" || ev.Name != "visited_signup" || ev.User.CustomIDs["stableID"] != x.User.CustomIDs["stableID"] {
		t.Errorf("page %q, exposure %+v, event %+v", page.Body, x, ev)
	}
}

// A handler test forces a variant with a one-group experiment and reads
// what the client sent. (In a test, statsigtest's Server.NewClient and
// Server.Flush do the client's set-up and shutdown, failing the test on
// error.)
func Example_handlerTest() {
	srv := statsigtest.NewServer(statsigtest.Config{Experiments: []statsigtest.ExperimentSpec{{
		Name: "button_color_v3", Groups: []statsigtest.Group{{Name: "Red", Weight: 100, Params: map[string]any{"Button Color": "red"}}},
	}}})
	defer srv.Close()
	client, err := statsigclient.New(srv.ClientConfig())
	if err != nil {
		panic(err)
	}
	mw, _ := statsigmw.New(client, statsigmw.Config{})
	h := mw.Handler(labApp())

	page := httptest.NewRecorder()
	h.ServeHTTP(page, httptest.NewRequest("GET", "/tasks", nil))
	signup := httptest.NewRequest("GET", "/signup", nil)
	signup.AddCookie(page.Result().Cookies()[0])
	h.ServeHTTP(httptest.NewRecorder(), signup)

	if err := client.Shutdown(context.Background()); err != nil { // delivers every buffered event
		panic(err)
	}
	x, ev := srv.Exposures()[0], srv.Events()[0]
	fmt.Println(page.Body.String(), x.Group, ev.Name, ev.User.CustomIDs["stableID"] == x.User.CustomIDs["stableID"])
	// Output: red Red visited_signup true
}
