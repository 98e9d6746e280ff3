package main

import (
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// TestFixedGroupTasksPage checks the load-test baseline (FIXED_GROUP): /tasks
// renders the fixed group's page for every visitor, ?random included, with
// no cookie and no exposure, while the other visitor pages still run under
// the middleware.
func TestFixedGroupTasksPage(t *testing.T) {
	app := startApp(t, false, func(c *appConfig) { c.FixedGroup = "red" })
	backend, client := app.Backend, app.Client
	ts := struct{ URL string }{app.URL}

	browser := newBrowser(t)
	for _, path := range []string{"/tasks", "/tasks?random=1", "/tasks"} {
		r := do(t, browser, http.MethodGet, ts.URL+path, "", "")
		if r.Status != http.StatusOK {
			t.Fatalf("GET %s: status %d", path, r.Status)
		}
		if c := r.Header.Values("Set-Cookie"); len(c) != 0 {
			t.Errorf("GET %s set cookies %q, want none", path, c)
		}
		p := parseTasksPage(t, r.Body)
		if p.Color != "red" || p.Group != "Red" || p.Visitor != fixedVisitor.ID {
			t.Errorf("GET %s: colour %q group %q visitor %q, want red, Red, %q", path, p.Color, p.Group, p.Visitor, fixedVisitor.ID)
		}
		if want := "<p>" + labParagraphs["Red"] + "</p>"; !strings.Contains(p.Body, want) {
			t.Errorf("GET %s: the page lacks %q", path, want)
		}
		if !strings.Contains(p.Body, "Learn Python") || strings.Contains(p.Body, "Buy groceries") {
			t.Errorf("GET %s: want the even tasks of Red", path)
		}
	}
	u, err := url.Parse(ts.URL)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(browser.Jar.Cookies(u)); n != 0 {
		t.Errorf("the browser holds %d cookies after the fixed pages, want 0", n)
	}

	// The other visitor pages are unchanged: /whoami still identifies.
	var who whoamiResponse
	getJSON(t, browser, ts.URL+"/whoami", &who)
	if who.Source != "new" || who.UserID == "" {
		t.Errorf("whoami = %+v, want a new visitor from the middleware", who)
	}

	backend.Flush(t, client)
	if exp := backend.Exposures(); len(exp) != 0 {
		t.Errorf("the backend got %d exposures, want none: %+v", len(exp), exp)
	}
	if evs := backend.Events(); len(evs) != 0 {
		t.Errorf("the backend got %d events, want none: %+v", len(evs), evs)
	}
}

func TestFixedGroupConfig(t *testing.T) {
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }
	c, err := parseConfig(nil, env(map[string]string{"FIXED_GROUP": " orange "}), io.Discard)
	if err != nil || c.FixedGroup != "Orange" {
		t.Errorf("FIXED_GROUP=orange: %+v, %v; want FixedGroup Orange", c, err)
	}
	c, err = parseConfig([]string{"-fixed-group", "BLUE"}, env(map[string]string{"FIXED_GROUP": "Red"}), io.Discard)
	if err != nil || c.FixedGroup != "Blue" {
		t.Errorf("-fixed-group BLUE over FIXED_GROUP=Red: %+v, %v; want Blue", c, err)
	}
	if c, err = parseConfig(nil, env(nil), io.Discard); err != nil || c.FixedGroup != "" {
		t.Errorf("default: %+v, %v; want no fixed group", c, err)
	}
	_, err = parseConfig(nil, env(map[string]string{"FIXED_GROUP": "Purple"}), io.Discard)
	if err == nil || !strings.Contains(err.Error(), "FIXED_GROUP") || !strings.Contains(err.Error(), "Blue, Green, Red, Orange") {
		t.Errorf("FIXED_GROUP=Purple: err = %v, want one naming the variable and the groups", err)
	}
	if _, err := newApp(appConfig{Client: testClient(t), FixedGroup: "Purple"}); err == nil {
		t.Error("newApp accepted FixedGroup Purple")
	}
	var usage strings.Builder
	_, _ = parseConfig([]string{"-h"}, env(nil), &usage)
	if !strings.Contains(usage.String(), "FIXED_GROUP") {
		t.Errorf("the usage does not mention FIXED_GROUP:\n%s", usage.String())
	}
}

// TestRunFixedGroup runs the real wiring with FIXED_GROUP: it says so in the
// log and serves the fixed page.
func TestRunFixedGroup(t *testing.T) {
	r := startRun(t, map[string]string{"FIXED_GROUP": "Blue"})
	if out := r.Out.String(); !strings.Contains(out, "FIXED_GROUP is set") {
		t.Errorf("the log does not say FIXED_GROUP is set:\n%s", out)
	}
	resp := do(t, newBrowser(t), http.MethodGet, r.URL+"/tasks?random=1", "", "")
	if p := parseTasksPage(t, resp.Body); resp.Status != 200 || p.Group != "Blue" || resp.Header.Get("Set-Cookie") != "" {
		t.Errorf("status %d group %q Set-Cookie %q; want 200, Blue, none", resp.Status, p.Group, resp.Header.Get("Set-Cookie"))
	}
	r.stop(t)
}
