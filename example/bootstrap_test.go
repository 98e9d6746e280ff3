package main

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// bootstrapDoc is what /bootstrap.json answers, as far as the tests read
// it.
type bootstrapDoc struct {
	User struct {
		UserID            string            `json:"userID"`
		CustomIDs         map[string]string `json:"customIDs"`
		Custom            map[string]any    `json:"custom"`
		PrivateAttributes map[string]any    `json:"privateAttributes"`
		IP                string            `json:"ip"`
	} `json:"user"`
	Data struct {
		Time           int64  `json:"time"`
		HashUsed       string `json:"hash_used"`
		DynamicConfigs map[string]struct {
			GroupName string         `json:"group_name"`
			Value     map[string]any `json:"value"`
		} `json:"dynamic_configs"`
		User struct {
			UserID    string            `json:"userID"`
			CustomIDs map[string]string `json:"customIDs"`
		} `json:"user"`
	} `json:"data"`
}

// getBootstrap GETs /bootstrap.json as browser and checks the answer's
// status and headers.
func getBootstrap(t *testing.T, browser *http.Client, base string) (bootstrapDoc, response) {
	t.Helper()
	r := do(t, browser, http.MethodGet, base+"/bootstrap.json", "", "")
	if r.Status != http.StatusOK {
		t.Fatalf("GET /bootstrap.json: %d %s", r.Status, r.Body)
	}
	for k, want := range map[string]string{"Content-Type": "application/json", "Cache-Control": "private", "Vary": "Cookie"} {
		if got := r.Header.Get(k); got != want {
			t.Errorf("/bootstrap.json %s: %q, want %q", k, got, want)
		}
	}
	var doc bootstrapDoc
	if err := json.Unmarshal([]byte(r.Body), &doc); err != nil {
		t.Fatalf("/bootstrap.json: %v\n%s", err, r.Body)
	}
	return doc, r
}

// experimentGroup returns the group that doc assigns in the lab's
// experiment, the only experiment the lab serves.
func (doc bootstrapDoc) experimentGroup(t *testing.T) string {
	t.Helper()
	if len(doc.Data.DynamicConfigs) != 1 {
		t.Fatalf("the bootstrap has %d dynamic configs, want the lab's experiment alone", len(doc.Data.DynamicConfigs))
	}
	for _, c := range doc.Data.DynamicConfigs {
		return c.GroupName
	}
	return ""
}

// TestBootstrapNewVisitor checks that /bootstrap.json identifies a new
// visitor as the pages do: it sets the visitor cookie, whose id is the
// document's stableID and userID, in the user and in the data, and the
// assignment is the one /tasks then shows. It logs no exposure.
func TestBootstrapNewVisitor(t *testing.T) {
	app := startApp(t, false)
	browser := newBrowser(t)
	doc, r := getBootstrap(t, browser, app.URL)

	cookies := (&http.Response{Header: r.Header}).Cookies()
	if len(cookies) != 1 || cookies[0].Name != "visitor_id" {
		t.Fatalf("a new visitor's /bootstrap.json set cookies %v, want the visitor cookie", cookies)
	}
	id := doc.User.CustomIDs["stableID"]
	if id == "" || !strings.HasPrefix(cookies[0].Value, id+"-") {
		t.Errorf("the cookie %q does not hold the document's stableID %q", cookies[0].Value, id)
	}
	if doc.User.UserID != id || doc.Data.User.UserID != id || doc.Data.User.CustomIDs["stableID"] != id {
		t.Errorf("user %+v, data's user %+v: want userID and stableID %s in both", doc.User, doc.Data.User, id)
	}
	if doc.User.Custom["id_source"] != "new" || doc.User.PrivateAttributes != nil || doc.User.IP != "" {
		t.Errorf("user %+v: want id_source new and no private attributes or IP", doc.User)
	}
	if doc.Data.HashUsed != "djb2" {
		t.Errorf("hash_used %q, want djb2 (what the JS client reads)", doc.Data.HashUsed)
	}
	group := doc.experimentGroup(t)
	page := parseTasksPage(t, get(t, browser, app.URL+"/tasks"))
	if page.Visitor != id || page.Group != group || !isLabGroup(group) {
		t.Errorf("/tasks shows %s in %s, the bootstrap %s in %s", page.Visitor, page.Group, id, group)
	}

	app.Backend.Flush(t, app.Client)
	if xs := app.Backend.Exposures(); len(xs) != 1 {
		t.Errorf("got %d exposures, want the one of /tasks (the bootstrap logs none): %+v", len(xs), xs)
	}
}

// TestBootstrapReturningVisitor checks that returning visitors, anonymous
// and logged in, get their own group in the data, and no new cookie.
func TestBootstrapReturningVisitor(t *testing.T) {
	app := startApp(t, false)
	u, err := url.Parse(app.URL)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for i := 0; i < 200 && len(seen) < len(labArms); i++ {
		browser := newBrowser(t)
		page := parseTasksPage(t, get(t, browser, app.URL+"/tasks?random=1"))
		doc, r := getBootstrap(t, browser, app.URL)
		if got := doc.experimentGroup(t); got != page.Group {
			t.Fatalf("visitor %s: the bootstrap says %s, /tasks said %s", page.Visitor, got, page.Group)
		}
		if doc.User.UserID != page.Visitor || doc.User.CustomIDs["stableID"] != page.Visitor || doc.User.Custom["id_source"] != "cookie" {
			t.Errorf("user %+v, want %s from the cookie", doc.User, page.Visitor)
		}
		if c := r.Header.Values("Set-Cookie"); len(c) != 0 {
			t.Errorf("a returning visitor's /bootstrap.json set %q", c)
		}
		seen[page.Group] = true

		if i == 0 { // and logged in
			loggedIn := parseTasksPage(t, login(t, browser, app.URL, "bob"))
			doc, _ := getBootstrap(t, browser, app.URL)
			if doc.User.UserID != "bob" || doc.User.CustomIDs["stableID"] != page.Visitor || doc.Data.User.UserID != "bob" {
				t.Errorf("logged-in bootstrap user %+v, data's %+v: want userID bob, stableID %s", doc.User, doc.Data.User, page.Visitor)
			}
			if got := doc.experimentGroup(t); got != loggedIn.Group {
				t.Errorf("logged in: the bootstrap says %s, /tasks said %s", got, loggedIn.Group)
			}
			if n := len(browser.Jar.Cookies(u)); n != 2 {
				t.Errorf("the browser holds %d cookies, want the visitor's and the session's", n)
			}
		}
	}
	if len(seen) != len(labArms) {
		t.Errorf("saw groups %v, want every group", seen)
	}
}

// TestBootstrapWithoutConfigs checks the answer of a server that has no
// configs (Statsig unreachable since start): a document with no values, so
// that the browser shows the defaults, as the server's pages do. And a
// wrong method is a JSON 405.
func TestBootstrapWithoutConfigs(t *testing.T) {
	app := startAppWithoutConfigs(t)
	browser := newBrowser(t)
	doc, _ := getBootstrap(t, browser, app.URL)
	if len(doc.Data.DynamicConfigs) != 0 || doc.Data.Time != 0 || doc.User.CustomIDs["stableID"] == "" {
		t.Errorf("without configs: %+v, want a user and no values", doc)
	}
	if body := get(t, browser, app.URL+"/tasks"); !strings.Contains(body, "experiment group: "+defaultColor) || groupRE.MatchString(body) {
		t.Errorf("without configs /tasks should show the defaults and no group:\n%s", body)
	}
	if r := do(t, browser, http.MethodPost, app.URL+"/bootstrap.json", "", ""); r.Status != http.StatusMethodNotAllowed || !strings.Contains(r.Body, `"error"`) {
		t.Errorf("POST /bootstrap.json: %d %s, want a JSON 405", r.Status, r.Body)
	}
}
