package main

import (
	"context"
	"encoding/json"
	"net/http"
	"reflect"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/labkit/statsigmw/statsigtest"
)

// TestTasksPageEachGroup visits /tasks?random until every group has been
// seen and checks that each renders its colour, its paragraph and its half
// of the tasks, and that /whoami agrees with the page.
func TestTasksPageEachGroup(t *testing.T) {
	app := startApp(t, false)
	wantHalf := map[string]struct{ shows, hides string }{
		"blue":   {"Buy groceries", "Learn Python"}, // odd ids
		"green":  {"Buy groceries", "Learn Python"},
		"red":    {"Learn Python", "Buy groceries"}, // even ids
		"orange": {"Learn Python", "Buy groceries"},
	}
	seen := map[string]bool{}
	for i := 0; i < 200 && len(seen) < len(labArms); i++ {
		browser := newBrowser(t)
		p := parseTasksPage(t, get(t, browser, app.URL+"/tasks?random=1"))
		var arm armSpec
		for _, a := range labArms {
			if a.Group == p.Group {
				arm = a
			}
		}
		if arm.Group == "" {
			t.Fatalf("group %q is not a group of the experiment", p.Group)
		}
		if p.Color != arm.Color {
			t.Errorf("group %s: colour %q, want %q", p.Group, p.Color, arm.Color)
		}
		if want := labParagraphs[p.Group]; !strings.Contains(p.Body, "<p>"+want+"</p>") {
			t.Errorf("group %s: the page lacks the paragraph %q", p.Group, want)
		}
		half := wantHalf[p.Color]
		if !strings.Contains(p.Body, half.shows) || strings.Contains(p.Body, half.hides) {
			t.Errorf("group %s: want %q and not %q on the page", p.Group, half.shows, half.hides)
		}
		if !strings.Contains(p.Body, `href="/signup"`) {
			t.Errorf("group %s: no link to /signup", p.Group)
		}

		// The same visitor (its cookie) gets the same group, also on /whoami.
		var who whoamiResponse
		getJSON(t, browser, app.URL+"/whoami", &who)
		if who.UserID != p.Visitor || who.StableID != p.Visitor || who.Source != "cookie" {
			t.Errorf("whoami = %+v, want userID and stableID %q from the cookie", who, p.Visitor)
		}
		if got := who.Experiments[experimentName]; got.Group != p.Group || got.Params[paramColor] != arm.Color {
			t.Errorf("whoami assignment = %+v, want group %s colour %s", got, p.Group, arm.Color)
		}
		if again := parseTasksPage(t, get(t, browser, app.URL+"/tasks")); again.Visitor != p.Visitor || again.Group != p.Group {
			t.Errorf("second visit: visitor %s group %s, want %s %s", again.Visitor, again.Group, p.Visitor, p.Group)
		}
		seen[p.Group] = true
	}
	if len(seen) < len(labArms) {
		t.Fatalf("saw groups %v after 200 random visitors, want all of %v", seen, labArms)
	}
}

// TestVisitTasksThenSignup checks that a visitor who sees /tasks and then
// /signup (looking at /whoami on the way) produces exactly one exposure and
// one visited_signup, with the same userID and stableID, which are the
// visitor's cookie.
func TestVisitTasksThenSignup(t *testing.T) {
	for _, first := range []string{"/tasks", "/tasks?random=1"} {
		t.Run(first, func(t *testing.T) {
			app := startApp(t, false)
			browser := newBrowser(t)
			p := parseTasksPage(t, get(t, browser, app.URL+first))
			signup := get(t, browser, app.URL+"/signup")
			if !strings.Contains(signup, "recorded as the event <code>visited_signup</code>") {
				t.Errorf("the signup page does not confirm the event:\n%s", signup)
			}
			var who whoamiResponse
			getJSON(t, browser, app.URL+"/whoami", &who)
			app.Backend.Flush(t, app.Client)

			xs := app.Backend.Exposures()
			if len(xs) != 1 {
				t.Fatalf("got %d exposures, want 1: %+v", len(xs), xs)
			}
			evs := app.Backend.Events()
			if len(evs) != 1 || evs[0].Name != signupEvent {
				t.Fatalf("got custom events %+v, want one %s", evs, signupEvent)
			}
			x, ev := xs[0], evs[0]
			if x.Name != experimentName || x.Group != p.Group {
				t.Errorf("exposure of %s group %s, want %s group %s", x.Name, x.Group, experimentName, p.Group)
			}
			if x.User.UserID != p.Visitor || ev.User.UserID != p.Visitor {
				t.Errorf("userIDs: exposure %q, event %q, want the visitor %q", x.User.UserID, ev.User.UserID, p.Visitor)
			}
			if x.User.CustomIDs["stableID"] != p.Visitor || ev.User.CustomIDs["stableID"] != p.Visitor {
				t.Errorf("stableIDs: exposure %q, event %q, want the visitor %q",
					x.User.CustomIDs["stableID"], ev.User.CustomIDs["stableID"], p.Visitor)
			}
			if who.StableID != p.Visitor {
				t.Errorf("whoami stableID %q, want %q", who.StableID, p.Visitor)
			}
		})
	}
}

// TestWhoamiLogsNoExposure checks that /whoami, /signup and / log no
// exposure.
func TestWhoamiLogsNoExposure(t *testing.T) {
	app := startApp(t, false)
	browser := newBrowser(t)
	for i := 0; i < 3; i++ {
		get(t, browser, app.URL+"/whoami")
		get(t, browser, app.URL+"/")
	}
	get(t, browser, app.URL+"/signup")
	app.Backend.Flush(t, app.Client)
	if xs := app.Backend.Exposures(); len(xs) != 0 {
		t.Errorf("got %d exposures, want none: %+v", len(xs), xs)
	}
}

// TestRandomVisitsSplit sends 400 ?random visitors to /tasks, a third of
// whom go on to /signup, and polls /results.json (the client flushes every
// second, as offline) until every visit is counted. Each group must get
// 15-35% of the visitors.
func TestRandomVisitsSplit(t *testing.T) {
	const visitors, workers = 400, 8
	app := startApp(t, true)
	var wg sync.WaitGroup
	next := make(chan int)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				browser := newBrowser(t)
				get(t, browser, app.URL+"/tasks?random")
				if i%3 == 0 {
					get(t, browser, app.URL+"/signup")
				}
			}
		}()
	}
	for i := 0; i < visitors; i++ {
		next <- i
	}
	close(next)
	wg.Wait()
	wantConverted := (visitors + 2) / 3

	var res results
	c := &http.Client{Timeout: 5 * time.Second}
	ok := waitFor(context.Background(), 15*time.Second, func() bool {
		getJSON(t, c, app.URL+"/results.json", &res)
		return res.Exposed >= visitors && res.Converted >= wantConverted
	})
	if !ok {
		t.Fatalf("after 15 s /results.json counts %d exposed and %d converted, want %d and %d", res.Exposed, res.Converted, visitors, wantConverted)
	}
	if res.Exposed != visitors || res.Converted != wantConverted || res.Unassigned != 0 {
		t.Errorf("exposed %d converted %d unassigned %d, want %d, %d, 0", res.Exposed, res.Converted, res.Unassigned, visitors, wantConverted)
	}
	for _, g := range res.Groups {
		share := float64(g.Exposed) / visitors
		t.Logf("%-6s exposed %3d (%.1f%%) converted %3d rate %s 95%% CI [%s, %s] diff %s p %s",
			g.Group, g.Exposed, share*100, g.Converted, percent(g.Rate), percent(g.Low), percent(g.High), signedPoints(g.Diff), pValueText(g.PValue))
		if share < 0.15 || share > 0.35 {
			t.Errorf("group %s got %.1f%% of the visitors, want 15-35%%", g.Group, share*100)
		}
		if g.Rate == nil || g.Low == nil || *g.Low > *g.Rate || *g.Rate > *g.High {
			t.Errorf("group %s: rate %v not inside its interval [%v, %v]", g.Group, g.Rate, g.Low, g.High)
		}
		if (g.Group == res.FirstGroup) != (g.PValue == nil) {
			t.Errorf("group %s: p-value %v; want one for every group but the first", g.Group, g.PValue)
		}
	}

	// The HTML page shows the same numbers, and a chart.
	html := get(t, c, app.URL+"/results")
	for _, want := range []string{"<svg", "<rect", "Blue", "Orange", "every 1s"} {
		if !strings.Contains(html, want) {
			t.Errorf("/results lacks %q", want)
		}
	}
}

// TestResultsOnline checks what /results says with no in-process backend (a
// real Statsig key).
func TestResultsOnline(t *testing.T) {
	url := startApp(t, false, func(c *appConfig) { c.Events = nil }).URL
	c := &http.Client{}
	var res results
	getJSON(t, c, url+"/results.json", &res)
	if res.Live || len(res.Groups) != 0 || !strings.Contains(res.Note, "Statsig console") {
		t.Errorf("results.json = %+v, want not live, no groups, a note about the Statsig console", res)
	}
	html := get(t, c, url+"/results")
	if !strings.Contains(html, "Statsig console") || strings.Contains(html, "<svg") {
		t.Errorf("/results without a backend should point to the console and draw no chart:\n%s", html)
	}
}

// TestPagesFailOpenWithoutConfigs checks that the pages work with a client
// that never got configs (Statsig unreachable from the start): the defaults
// show, and the visit is still recorded.
func TestPagesFailOpenWithoutConfigs(t *testing.T) {
	app := startAppWithoutConfigs(t)
	backend, client, ts := app.Backend, app.Client, app
	browser := newBrowser(t)
	body := get(t, browser, ts.URL+"/tasks")
	if !strings.Contains(body, "experiment group: "+defaultColor) || !strings.Contains(body, defaultParagraph) {
		t.Errorf("without configs /tasks should show the defaults:\n%s", body)
	}
	if body := get(t, browser, ts.URL+"/signup"); !strings.Contains(body, "recorded as the event") {
		t.Errorf("without configs /signup should still record the visit:\n%s", body)
	}
	backend.SetFault(statsigtest.EndpointConfigSpecs, statsigtest.Fault{})
	backend.Flush(t, client)
	if evs := backend.Events(); len(evs) != 1 || evs[0].Name != signupEvent {
		t.Errorf("the backend got events %+v, want one %s", evs, signupEvent)
	}
}

// TestScriptTitleEscaped creates tasks whose title and description hold
// markup and checks that /tasks shows them as text.
func TestScriptTitleEscaped(t *testing.T) {
	app := startApp(t, false)
	api := &http.Client{}
	const title = `<script>alert("x")</script>`
	const desc = `"><img src=x onerror=alert(1)>`
	body, err := json.Marshal(map[string]string{"title": title, "description": desc})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 2; i++ { // ids 3 and 4: one in each half
		r := do(t, api, http.MethodPost, app.URL+"/tasks", "application/json", string(body))
		if r.Status != http.StatusCreated {
			t.Fatalf("POST /tasks: status %d, want 201: %s", r.Status, r.Body)
		}
	}
	page := get(t, newBrowser(t), app.URL+"/tasks")
	for _, raw := range []string{"<script>", "<img"} {
		if strings.Contains(page, raw) {
			t.Errorf("the page contains %q unescaped", raw)
		}
	}
	if !strings.Contains(page, "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;") {
		t.Errorf("the page lacks the escaped title:\n%s", page)
	}
	if !strings.Contains(page, "&#34;&gt;&lt;img src=x onerror=alert(1)&gt;") {
		t.Errorf("the page lacks the escaped description:\n%s", page)
	}
}

// TestTasksPageHeaders checks that the per-visitor page cannot be cached by
// shared caches (the middleware marks it) and carries a restrictive CSP.
func TestTasksPageHeaders(t *testing.T) {
	app := startApp(t, false)
	r := do(t, newBrowser(t), http.MethodGet, app.URL+"/tasks", "", "")
	for k, want := range map[string]string{
		"Content-Type":           "text/html; charset=utf-8",
		"Cache-Control":          "private",
		"Vary":                   "Cookie",
		"X-Content-Type-Options": "nosniff",
	} {
		if got := r.Header.Get(k); got != want {
			t.Errorf("%s: %q, want %q", k, got, want)
		}
	}
	if csp := r.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") {
		t.Errorf("Content-Security-Policy %q, want default-src 'none'", csp)
	}
	if len(r.Header.Values("Set-Cookie")) != 1 {
		t.Errorf("a new visitor got %d cookies, want 1", len(r.Header.Values("Set-Cookie")))
	}
}

// TestLabConfig checks the offline experiment: four groups of 25% with the
// colour and a paragraph each.
func TestLabConfig(t *testing.T) {
	cfg := labConfig()
	if _, err := cfg.JSON(); err != nil {
		t.Fatal(err)
	}
	if len(cfg.Experiments) != 1 {
		t.Fatalf("%d experiments, want 1", len(cfg.Experiments))
	}
	e := cfg.Experiments[0]
	if e.Name != experimentName || e.Unit != statsigtest.UnitUserID || len(e.Groups) != 4 {
		t.Fatalf("experiment %s unit %s with %d groups, want %s on userID with 4", e.Name, e.Unit, len(e.Groups), experimentName)
	}
	for i, g := range e.Groups {
		if g.Name != labArms[i].Group || g.Weight != 25 || g.Params[paramColor] != labArms[i].Color || g.Params[paramText] == "" {
			t.Errorf("group %d = %+v, want %s, 25%%, colour %s and a paragraph", i, g, labArms[i].Group, labArms[i].Color)
		}
	}
}

// TestIndexPage checks that / is an HTML index with one line on each page,
// and that every page it links to answers.
func TestIndexPage(t *testing.T) {
	app := startApp(t, true) // /results reads the backend's events as they come
	browser := newBrowser(t)
	r := do(t, browser, http.MethodGet, app.URL+"/", "", "")
	if r.Status != http.StatusOK || r.Header.Get("Content-Type") != "text/html; charset=utf-8" {
		t.Fatalf("GET /: %d %q, want 200 HTML", r.Status, r.Header.Get("Content-Type"))
	}
	items := regexp.MustCompile(`<li><a href="([^"]+)">[^<]+</a>: [^\n]+</li>\n`).FindAllStringSubmatch(r.Body, -1)
	var links []string
	for _, m := range items {
		links = append(links, m[1])
	}
	want := []string{"/tasks", "/tasks?random=1", "/signup", "/results", "/results.json", "/whoami", "/bootstrap.json", "/tasks/1"}
	if !reflect.DeepEqual(links, want) {
		t.Fatalf("the index lists %q, one line each; want %q:\n%s", links, want, r.Body)
	}
	for _, link := range links {
		get(t, browser, app.URL+link) // fails unless 200
	}
	if c := r.Header.Values("Set-Cookie"); len(c) != 0 {
		t.Errorf("the index set cookies %q; it needs no visitor", c)
	}
}

// TestSignupPageColour checks that /signup is shown in the colour of the
// visitor's group, in the card of the other pages, and logs no exposure.
func TestSignupPageColour(t *testing.T) {
	app := startApp(t, false)
	seen := map[string]bool{}
	visitors := 0
	for i := 0; i < 200 && len(seen) < len(labArms); i++ {
		browser := newBrowser(t)
		p := parseTasksPage(t, get(t, browser, app.URL+"/tasks?random=1"))
		visitors++
		body := get(t, browser, app.URL+"/signup")
		m := bgRE.FindStringSubmatch(body)
		if m == nil || m[1] != p.Color {
			t.Fatalf("/signup background %q, want the group colour %q:\n%s", m, p.Color, body)
		}
		if !strings.Contains(body, "<main>") || !strings.Contains(body, ", of group "+p.Group+".") {
			t.Errorf("/signup lacks the card or the group %s:\n%s", p.Group, body)
		}
		seen[p.Group] = true
	}
	if len(seen) < len(labArms) {
		t.Fatalf("saw groups %v, want all of them", seen)
	}
	app.Backend.Flush(t, app.Client)
	if n := len(app.Backend.Exposures()); n != visitors {
		t.Errorf("%d exposures for %d visitors who saw /tasks once and /signup once, want one each", n, visitors)
	}
}
