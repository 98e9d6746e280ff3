package main

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/labkit/statsigmw"
)

// withSessionKey sets the app's session key to testSessionKey, so that a
// test can sign sessions of its own.
func withSessionKey(c *appConfig) { c.SessionKey = []byte(testSessionKey) }

// login posts the login form as name and checks the 303 to /tasks and the
// session cookie. The browser follows the redirect: the answer is /tasks.
func login(t *testing.T, browser *http.Client, base, name string) string {
	t.Helper()
	var redirect *http.Response
	c := *browser
	c.CheckRedirect = func(req *http.Request, via []*http.Request) error {
		redirect = req.Response
		return nil
	}
	resp, err := c.PostForm(base+"/login", url.Values{"user": {name}})
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if redirect == nil || redirect.StatusCode != http.StatusSeeOther || redirect.Header.Get("Location") != "/tasks" {
		t.Fatalf("POST /login: %v, want 303 to /tasks", redirect)
	}
	if resp.StatusCode != http.StatusOK || resp.Request.URL.Path != "/tasks" {
		t.Fatalf("after login: %d at %s, want 200 at /tasks", resp.StatusCode, resp.Request.URL)
	}
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestLoginKeepsStableID follows one visitor through the lab login: the
// exposure and the conversion after login carry the login name as userID
// and the stableID the visitor had before, which /whoami reports too; after
// logout the visitor is anonymous with the same stableID.
func TestLoginKeepsStableID(t *testing.T) {
	app := startApp(t, false)
	browser := newBrowser(t)

	anon := parseTasksPage(t, get(t, browser, app.URL+"/tasks"))
	if !strings.Contains(anon.Body, `action="/login"`) {
		t.Errorf("the anonymous /tasks page has no login form:\n%s", anon.Body)
	}
	var who whoamiResponse
	getJSON(t, browser, app.URL+"/whoami", &who)
	if who.UserID != anon.Visitor || who.StableID != anon.Visitor || who.Login != "" {
		t.Errorf("anonymous whoami %+v, want userID = stableID = %s and no login", who, anon.Visitor)
	}

	page := parseTasksPage(t, login(t, browser, app.URL, "alice.smith_1-2"))
	if page.Visitor != anon.Visitor {
		t.Errorf("after login the visitor id is %s, want %s", page.Visitor, anon.Visitor)
	}
	if !strings.Contains(page.Body, "Logged in as <code>alice.smith_1-2</code>") || !strings.Contains(page.Body, `action="/logout"`) {
		t.Errorf("the logged-in /tasks page does not say who is logged in:\n%s", page.Body)
	}
	get(t, browser, app.URL+"/signup")
	getJSON(t, browser, app.URL+"/whoami", &who)
	if who.UserID != "alice.smith_1-2" || who.StableID != anon.Visitor || who.Login != "alice.smith_1-2" || who.Source != "cookie" {
		t.Errorf("logged-in whoami %+v, want userID alice.smith_1-2, stableID %s from the cookie", who, anon.Visitor)
	}

	// Logout: 303 to /, then anonymous again, with the same visitor.
	c := *browser
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	r := do(t, &c, http.MethodPost, app.URL+"/logout", "", "")
	if r.Status != http.StatusSeeOther || r.Header.Get("Location") != "/" {
		t.Errorf("POST /logout: %d to %q, want 303 to /", r.Status, r.Header.Get("Location"))
	}
	getJSON(t, browser, app.URL+"/whoami", &who)
	if who.UserID != anon.Visitor || who.StableID != anon.Visitor || who.Login != "" {
		t.Errorf("whoami after logout %+v, want the anonymous visitor %s", who, anon.Visitor)
	}

	app.Backend.Flush(t, app.Client)
	xs, evs := app.Backend.Exposures(), app.Backend.Events()
	if len(xs) != 2 {
		t.Fatalf("got %d exposures, want 2 (before and after login): %+v", len(xs), xs)
	}
	if u := xs[0].User; u.UserID != anon.Visitor || u.CustomIDs["stableID"] != anon.Visitor {
		t.Errorf("exposure before login: userID %q stableID %q, want %s for both", u.UserID, u.CustomIDs["stableID"], anon.Visitor)
	}
	if u := xs[1].User; u.UserID != "alice.smith_1-2" || u.CustomIDs["stableID"] != anon.Visitor {
		t.Errorf("exposure after login: userID %q stableID %q, want alice.smith_1-2 and %s", u.UserID, u.CustomIDs["stableID"], anon.Visitor)
	}
	if xs[1].Group != page.Group {
		t.Errorf("exposure after login in group %q, the page showed %q", xs[1].Group, page.Group)
	}
	if len(evs) != 1 || evs[0].Name != signupEvent {
		t.Fatalf("got events %+v, want one %s", evs, signupEvent)
	}
	if u := evs[0].User; u.UserID != "alice.smith_1-2" || u.CustomIDs["stableID"] != anon.Visitor {
		t.Errorf("%s after login: userID %q stableID %q, want alice.smith_1-2 and %s", signupEvent, u.UserID, u.CustomIDs["stableID"], anon.Visitor)
	}
}

// TestLoginValidation checks the login name's bounds: a bad name is a 400
// that sets no session; a good one a 303 with an HttpOnly, SameSite=Lax
// session cookie.
func TestLoginValidation(t *testing.T) {
	app := startApp(t, false)
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	form := "application/x-www-form-urlencoded"
	tests := []struct {
		name, contentType, body string
		want                    int
	}{
		{"one letter", form, "user=a", http.StatusSeeOther},
		{"64 characters", form, "user=" + strings.Repeat("x", 64), http.StatusSeeOther},
		{"every kind of character", form, "user=Al.ice_9-Z", http.StatusSeeOther},
		{"empty", form, "user=", http.StatusBadRequest},
		{"no field", form, "name=alice", http.StatusBadRequest},
		{"65 characters", form, "user=" + strings.Repeat("x", 65), http.StatusBadRequest},
		{"space", form, "user=al+ice", http.StatusBadRequest},
		{"colon", form, "user=al:ice", http.StatusBadRequest},
		{"slash", form, "user=a%2Fb", http.StatusBadRequest},
		{"markup", form, "user=%3Cscript%3E", http.StatusBadRequest},
		{"non-ASCII letter", form, "user=%C3%A9", http.StatusBadRequest},
		{"NUL", form, "user=a%00", http.StatusBadRequest},
		{"twice", form, "user=alice&user=bob", http.StatusBadRequest},
		{"bad escape", form, "user=%zz", http.StatusBadRequest},
		{"JSON", "application/json", `{"user": "alice"}`, http.StatusBadRequest},
		{"over the body bound", form, "user=a&pad=" + strings.Repeat("p", maxLoginBody), http.StatusBadRequest},
		{"only in the query", form, "", http.StatusBadRequest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			target := app.URL + "/login"
			if tt.name == "only in the query" {
				target += "?user=alice"
			}
			r := do(t, c, http.MethodPost, target, tt.contentType, tt.body)
			if r.Status != tt.want {
				t.Fatalf("status %d, want %d: %s", r.Status, tt.want, r.Body)
			}
			cookies := (&http.Response{Header: r.Header}).Cookies()
			if tt.want != http.StatusSeeOther {
				if len(cookies) != 0 {
					t.Errorf("a refused login set cookies %v", cookies)
				}
				return
			}
			if len(cookies) != 1 || cookies[0].Name != sessionCookie || !cookies[0].HttpOnly ||
				cookies[0].SameSite != http.SameSiteLaxMode || cookies[0].Path != "/" || cookies[0].MaxAge <= 0 {
				t.Errorf("cookies %+v, want one HttpOnly, SameSite=Lax session cookie for / with a max age", cookies)
			}
		})
	}
	if r := do(t, c, http.MethodGet, app.URL+"/login", "", ""); r.Status != http.StatusMethodNotAllowed {
		t.Errorf("GET /login: %d, want 405", r.Status)
	}
}

// TestForgedSession sends session cookies that must not log anyone in:
// each gets an anonymous visitor, never an error.
func TestForgedSession(t *testing.T) {
	app := startApp(t, false, withSessionKey)
	ours := &sessions{key: []byte(testSessionKey), now: time.Now}
	theirs := &sessions{key: []byte("another-key-0123456789abcdef"), now: time.Now}
	future := time.Now().Add(time.Hour).Unix()
	valid := ours.encode("alice", future)
	_, sig, _ := strings.Cut(strings.SplitN(valid, ":", 2)[1], ":")

	values := map[string]string{
		"another key":          theirs.encode("alice", future),
		"expired":              ours.encode("alice", time.Now().Add(-time.Second).Unix()),
		"name changed":         "bob:" + strings.SplitN(valid, ":", 2)[1],
		"expiry changed":       "alice:" + "9" + strings.SplitN(valid, ":", 2)[1],
		"signature cut":        valid[:len(valid)-1],
		"signature padded":     valid + "=",
		"no signature":         "alice:" + strings.Split(valid, ":")[1],
		"empty":                "",
		"garbage":              "not a session",
		"colons":               "::",
		"name only":            "alice",
		"bad name":             "a b:" + strings.Split(valid, ":")[1] + ":" + sig,
		"negative expiry":      "alice:-1:" + sig,
		"huge expiry":          "alice:99999999999999999999:" + sig,
		"huge value":           strings.Repeat("a", 4000),
		"signature of hex":     "alice:" + strings.Split(valid, ":")[1] + ":" + strings.Repeat("00", 32),
		"non-canonical base64": "alice:" + strings.Split(valid, ":")[1] + ":" + sig[:len(sig)-1] + string(sig[len(sig)-1]^1),
	}
	c := &http.Client{}
	for name, v := range values {
		t.Run(name, func(t *testing.T) {
			var who whoamiResponse
			getJSONWithCookie(t, c, app.URL+"/whoami", sessionCookie+"="+v, &who)
			if who.Login != "" || who.UserID != who.StableID || who.UserID == "alice" {
				t.Errorf("whoami %+v, want an anonymous visitor", who)
			}
		})
	}
	// The valid one logs in, so the forgeries above were refused for what
	// they changed.
	var who whoamiResponse
	getJSONWithCookie(t, c, app.URL+"/whoami", sessionCookie+"="+valid, &who)
	if who.Login != "alice" || who.UserID != "alice" {
		t.Errorf("whoami with a valid session %+v, want alice", who)
	}
}

// getJSONWithCookie GETs url with the Cookie header and decodes the 200
// answer into v.
func getJSONWithCookie(t *testing.T, c *http.Client, url, cookie string, v any) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Cookie", cookie)
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s with cookie %.40q: status %d, want 200", url, cookie, resp.StatusCode)
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
}

// TestLoginCrossSite checks the CSRF defence: a login or logout that a
// browser marks as coming from another site is refused and changes nothing,
// while the site's own forms and non-browser clients pass.
func TestLoginCrossSite(t *testing.T) {
	app := startApp(t, false, withSessionKey)
	host := strings.TrimPrefix(app.URL, "http://")
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	tests := []struct {
		name    string
		headers map[string]string
		want    int
	}{
		{"no header (curl)", nil, http.StatusSeeOther},
		{"same-origin fetch", map[string]string{"Sec-Fetch-Site": "same-origin", "Origin": app.URL}, http.StatusSeeOther},
		{"typed by the user", map[string]string{"Sec-Fetch-Site": "none"}, http.StatusSeeOther},
		{"our Origin, no Sec-Fetch-Site", map[string]string{"Origin": app.URL}, http.StatusSeeOther},
		{"cross-site", map[string]string{"Sec-Fetch-Site": "cross-site", "Origin": "http://evil.example"}, http.StatusForbidden},
		{"same-site subdomain", map[string]string{"Sec-Fetch-Site": "same-site", "Origin": "http://sub." + host}, http.StatusForbidden},
		{"cross-site, Origin spoofed to ours", map[string]string{"Sec-Fetch-Site": "cross-site", "Origin": app.URL}, http.StatusForbidden},
		{"another Origin, no Sec-Fetch-Site", map[string]string{"Origin": "http://evil.example"}, http.StatusForbidden},
		{"null Origin", map[string]string{"Origin": "null"}, http.StatusForbidden},
		{"garbled Origin", map[string]string{"Origin": "http://[::1"}, http.StatusForbidden},
	}
	session := sessionCookie + "=" + (&sessions{key: []byte(testSessionKey), now: time.Now}).encode("alice", time.Now().Add(time.Hour).Unix())
	for _, tt := range tests {
		for _, path := range []string{"/login", "/logout"} {
			t.Run(tt.name+" "+path, func(t *testing.T) {
				req, err := http.NewRequest(http.MethodPost, app.URL+path, strings.NewReader("user=mallory"))
				if err != nil {
					t.Fatal(err)
				}
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				req.Header.Set("Cookie", session)
				for k, v := range tt.headers {
					req.Header.Set(k, v)
				}
				resp, err := c.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				if resp.StatusCode != tt.want {
					t.Fatalf("status %d, want %d", resp.StatusCode, tt.want)
				}
				if n := len(resp.Cookies()); (n != 0) != (tt.want == http.StatusSeeOther) {
					t.Errorf("status %d with %d cookies set", resp.StatusCode, n)
				}
			})
		}
	}
}

// TestCookieSecure checks that COOKIE_SECURE's mode decides the Secure
// attribute of both the visitor cookie and the session cookie, over plain
// HTTP and over TLS, and that the visitor keeps their id when it changes.
func TestCookieSecure(t *testing.T) {
	client := testClient(t)
	for _, tt := range []struct {
		mode           statsigmw.SecureMode
		plain, overTLS bool // want Secure
	}{
		{statsigmw.SecureAuto, false, true},
		{statsigmw.SecureAlways, true, true},
		{statsigmw.SecureNever, false, false},
	} {
		h, err := newApp(appConfig{Client: client, Middleware: statsigmw.Config{Secure: tt.mode}})
		if err != nil {
			t.Fatal(err)
		}
		for _, ts := range []*httptest.Server{httptest.NewServer(h), httptest.NewTLSServer(h)} {
			want := tt.plain
			if ts.TLS != nil {
				want = tt.overTLS
			}
			c := ts.Client()
			c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
			for _, req := range []struct{ method, path, body string }{
				{http.MethodGet, "/tasks", ""},
				{http.MethodPost, "/login", "user=alice"},
				{http.MethodPost, "/logout", ""},
			} {
				ct := ""
				if req.method == http.MethodPost {
					ct = "application/x-www-form-urlencoded"
				}
				r := do(t, c, req.method, ts.URL+req.path, ct, req.body)
				cookies := (&http.Response{Header: r.Header}).Cookies()
				if len(cookies) != 1 {
					t.Fatalf("mode %d, TLS %v, %s %s: cookies %v, want one", tt.mode, ts.TLS != nil, req.method, req.path, cookies)
				}
				if cookies[0].Secure != want {
					t.Errorf("mode %d, TLS %v, %s %s: cookie %s Secure %v, want %v", tt.mode, ts.TLS != nil, req.method, req.path, cookies[0].Name, cookies[0].Secure, want)
				}
			}
			ts.Close()
		}
	}

	// The mode changes nothing else: a visitor of a SecureNever app is the
	// same visitor of a SecureAlways one.
	var ids []string
	var cookie *http.Cookie
	for _, mode := range []statsigmw.SecureMode{statsigmw.SecureNever, statsigmw.SecureAlways} {
		h, err := newApp(appConfig{Client: client, Middleware: statsigmw.Config{Secure: mode}})
		if err != nil {
			t.Fatal(err)
		}
		rec := httptest.NewRecorder()
		req := httptest.NewRequest(http.MethodGet, "/whoami", nil)
		if cookie != nil {
			req.AddCookie(cookie)
		}
		h.ServeHTTP(rec, req)
		var who whoamiResponse
		if err := json.NewDecoder(rec.Body).Decode(&who); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, who.StableID)
		if cookie == nil {
			cookie = rec.Result().Cookies()[0]
		}
	}
	if ids[0] == "" || ids[0] != ids[1] {
		t.Errorf("visitor ids %q across a change of COOKIE_SECURE, want one", ids)
	}
}

// FuzzSessionCookie checks that no session value panics the decoder, and
// that every value it accepts is exactly one that the key signed.
func FuzzSessionCookie(f *testing.F) {
	s := &sessions{key: []byte(testSessionKey), now: func() time.Time { return time.Unix(1_700_000_000, 0) }}
	valid := s.encode("alice", 1_800_000_000)
	for _, seed := range []string{valid, "", ":", "::", "alice:1:", "a:1800000000:" + strings.Repeat("A", 43),
		valid + "x", strings.ToUpper(valid), "alice:01800000000:x", "é:1:x"} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, v string) {
		name, ok := s.decode(v)
		if !ok {
			return
		}
		parts := strings.Split(v, ":")
		if len(parts) != 3 {
			t.Fatalf("accepted %q, which has %d parts", v, len(parts))
		}
		exp, err := strconv.ParseInt(parts[1], 10, 64)
		if err != nil || s.encode(name, exp) != v {
			t.Fatalf("accepted %q, which is not the signed value %q", v, s.encode(name, exp))
		}
	})
}
