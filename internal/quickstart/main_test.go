package main

import (
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/labkit/statsigmw"
	"github.com/labkit/statsigmw/statsigtest"
)

func TestSignupConverts(t *testing.T) {
	backend := statsigtest.NewServer(statsigtest.Config{Experiments: []statsigtest.ExperimentSpec{{
		Name:   "button_color_v3",
		Groups: []statsigtest.Group{{Name: "Red", Weight: 100, Params: map[string]any{"Button Color": "red"}}},
	}}})
	defer backend.Close()
	client := backend.NewClient(t) // the client production code uses, wired to backend
	mw, err := statsigmw.New(client, statsigmw.Config{})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(mw.Handler(routes()))
	defer srv.Close()

	jar, _ := cookiejar.New(nil)
	browser := &http.Client{Jar: jar} // keeps the visitor cookie: one visitor
	if body := get(t, browser, srv.URL+"/"); !strings.Contains(body, "color: red") {
		t.Errorf("the page is not in the Red group's colour:\n%s", body)
	}
	get(t, browser, srv.URL+"/signup")

	backend.Flush(t, client) // delivers every event; read them only after
	exposures, events := backend.Exposures(), backend.Events()
	if len(exposures) != 1 || len(events) != 1 {
		t.Fatalf("got %d exposures and %d events, want 1 and 1", len(exposures), len(events))
	}
	x, ev := exposures[0], events[0]
	if x.Group != "Red" || ev.Name != "visited_signup" || ev.User.CustomIDs["stableID"] != x.User.CustomIDs["stableID"] {
		t.Errorf("want one visitor's Red exposure and visited_signup; got %+v and %+v", x, ev)
	}
}

func get(t *testing.T, c *http.Client, url string) string {
	t.Helper()
	resp, err := c.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d, %v", url, resp.StatusCode, err)
	}
	return string(body)
}
