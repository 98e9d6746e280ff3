package statsigmw_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"github.com/google/uuid"

	"github.com/labkit/statsigmw"
	"github.com/labkit/statsigmw/statsigtest"
)

// TestStaticFilesUntouched serves an http.FileServer and an experiment page
// behind the middleware, as the README wires it: a request that reads
// nothing leaves the response as the handler wrote it, whatever the
// visitor's cookie; a page that reads an experiment on a first visit sets
// the cookie, is marked private, and uses the cookie's id.
func TestStaticFilesUntouched(t *testing.T) {
	t.Parallel()
	e := newEnv(t, statsigmw.Config{}, false)
	files := fstest.MapFS{"app.css": {Data: []byte("body{}"), ModTime: time.Unix(1_700_000_000, 0)}}
	static := http.FileServer(http.FS(files))
	mux := http.NewServeMux()
	mux.Handle("/static/", http.StripPrefix("/static/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=31536000, immutable")
		static.ServeHTTP(w, r)
	})))
	mux.Handle("/", testApp())
	srv := newServer(t, e.mw.Handler(mux))

	id := uuid.NewString()
	due := fmt.Sprintf("%s=%s-%08x", cookieName, id, time.Now().Add(-200*24*time.Hour).Unix())
	for _, tt := range []struct {
		name   string
		header []string
		status int
	}{
		{"first visit", nil, http.StatusOK},
		{"returning", []string{"Cookie", cookieName + "=" + stamped(id)}, http.StatusOK},
		{"refresh due", []string{"Cookie", due}, http.StatusOK},
		{"invalid cookie", []string{"Cookie", cookieName + "=junk"}, http.StatusOK},
		{"304", []string{"If-Modified-Since", time.Unix(1_800_000_000, 0).UTC().Format(http.TimeFormat)}, http.StatusNotModified},
	} {
		req, _ := http.NewRequest(http.MethodGet, srv.URL+"/static/app.css", nil)
		for i := 0; i+1 < len(tt.header); i += 2 {
			req.Header.Set(tt.header[i], tt.header[i+1])
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tt.status {
			t.Errorf("%s: status %d, want %d", tt.name, resp.StatusCode, tt.status)
		}
		if sc, vary, cc := resp.Header.Values("Set-Cookie"), resp.Header.Get("Vary"), resp.Header.Get("Cache-Control"); len(sc) != 0 || vary != "" || cc != "public, max-age=31536000, immutable" {
			t.Errorf("%s: Set-Cookie %q, Vary %q, Cache-Control %q; want none, none and the handler's", tt.name, sc, vary, cc)
		}
	}

	// A first visit to an experiment page: cookie, Vary, private, and the
	// page's id is the cookie's.
	browser := newBrowser(t, srv)
	in, resp := get(t, browser, srv.URL+"/exp")
	c := visitorCookie(resp)
	if c == nil || cookieID(c) != in.ID || in.Source != "new" {
		t.Fatalf("first experiment page: cookie %v, page %+v; want a cookie holding the page's id", c, in)
	}
	if resp.Header.Get("Vary") != "Cookie" || !strings.HasPrefix(resp.Header.Get("Cache-Control"), "private") {
		t.Errorf("first experiment page: Vary %q, Cache-Control %q; want Cookie and private", resp.Header.Get("Vary"), resp.Header.Get("Cache-Control"))
	}
	xs, _ := e.flush()
	if len(xs) != 1 || xs[0].User.CustomIDs["stableID"] != in.ID {
		t.Errorf("exposures %+v, want one for the cookie's id %q", xs, in.ID)
	}
}

// TestLateRead: a handler that writes the header before its first read.
// A returning visitor keeps their id; a visitor without a cookie, whose new
// id cannot be set any more, gets an id of the request's own and no
// exposure, counted and warned about once.
func TestLateRead(t *testing.T) {
	t.Parallel()
	backend := startBackend(t, testConfig())
	client := backend.NewClient(t)
	var logs syncBuffer
	mw, err := statsigmw.New(client, statsigmw.Config{Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var ids []string
	srv := newServer(t, mw.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusOK)
		cfg, ok := statsigmw.Experiment(r.Context(), "exp")
		u, _ := statsigmw.User(r.Context())
		mu.Lock()
		ids = append(ids, u.CustomIDs["stableID"])
		mu.Unlock()
		fmt.Fprintf(w, "%s %v", cfg.GroupName, ok)
	})))
	returning := uuid.NewString()
	for i, cookie := range []string{"", "", cookieName + "=" + stamped(returning)} {
		req, _ := http.NewRequest(http.MethodGet, srv.URL, nil)
		if cookie != "" {
			req.Header.Set("Cookie", cookie)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if sc := resp.Header.Values("Set-Cookie"); len(sc) != 0 || !strings.HasSuffix(string(body), " true") {
			t.Errorf("request %d: Set-Cookie %q, body %q; want no cookie and a known experiment", i, sc, body)
		}
	}
	if st := mw.Stats(); st.LateReads != 2 || st.ExposuresLogged != 1 {
		t.Errorf("Stats %+v, want 2 late reads and 1 exposure logged (the returning visitor's)", st)
	}
	backend.Flush(t, client)
	xs := backend.Exposures()
	if len(xs) != 1 || xs[0].User.CustomIDs["stableID"] != returning {
		t.Errorf("exposures %+v, want one, of the returning visitor %q", xs, returning)
	}
	if ids[0] == ids[1] || ids[2] != returning {
		t.Errorf("ids %q: want two different ids of their own, then %q", ids, returning)
	}
	if n := strings.Count(logs.String(), "first read after the response header"); n != 1 {
		t.Errorf("%d late read warnings, want 1:\n%s", n, logs.String())
	}
}

// TestDuplicateCookies: a browser holding two visitor cookies (one of
// another Path, as a sibling app or an older version writes) sends both,
// most specific first. The visitor keeps one id on every page, and nothing
// is minted because of the duplicate.
func TestDuplicateCookies(t *testing.T) {
	t.Parallel()
	e := newEnv(t, statsigmw.Config{}, false)
	mux := http.NewServeMux()
	mux.Handle("/app/exp", http.StripPrefix("/app", testApp()))
	mux.Handle("/", testApp())
	srv := newServer(t, e.mw.Handler(mux))
	browser := newBrowser(t, srv)
	u, _ := url.Parse(srv.URL + "/app/")
	appID, rootID := uuid.NewString(), uuid.NewString()
	browser.Jar.SetCookies(u, []*http.Cookie{{Name: cookieName, Value: stamped(appID), Path: "/app"}})
	browser.Jar.SetCookies(u, []*http.Cookie{{Name: cookieName, Value: stamped(rootID), Path: "/"}})
	for i := 0; i < 5; i++ {
		in, resp := get(t, browser, srv.URL+"/app/exp")
		if in.ID != appID || in.Source != "cookie" || visitorCookie(resp) != nil {
			t.Fatalf("request %d: %+v, cookie %v; want the /app cookie's id %q and no new cookie", i, in, visitorCookie(resp), appID)
		}
	}
	// An invalid first cookie: the next valid one is the visitor's.
	in, _ := get(t, http.DefaultClient, srv.URL+"/exp", "Cookie", cookieName+"=junk; "+cookieName+"="+stamped(rootID))
	if in.ID != rootID {
		t.Errorf("invalid then valid: id %q, want %q", in.ID, rootID)
	}
	if st := e.mw.Stats(); st.DuplicateCookies != 6 {
		t.Errorf("Stats.DuplicateCookies = %d, want 6", st.DuplicateCookies)
	}
}

// TestExposureAfterRestore: an experiment removed while a visitor reads it,
// then restored. Once it is back, that visitor's exposure is logged exactly
// once.
func TestExposureAfterRestore(t *testing.T) {
	t.Parallel()
	backend, client, srv := syncingEnv(t)
	browser := newBrowser(t, srv)
	read := func() info { in, _ := get(t, browser, srv.URL+"/exp"); return in }
	first := read()
	without := testConfig()
	without.Experiments = nil
	if err := backend.SetConfig(without); err != nil {
		t.Fatal(err)
	}
	awaitKnown(t, client, false)
	if in := read(); in.Group != "" {
		t.Fatalf("removed experiment gave group %q", in.Group)
	}
	if err := backend.SetConfig(testConfig()); err != nil {
		t.Fatal(err)
	}
	awaitKnown(t, client, true)
	for i := 0; i < 3; i++ {
		if in := read(); in.Group != first.Group {
			t.Fatalf("restored: group %q, want %q", in.Group, first.Group)
		}
	}
	backend.Flush(t, client)
	var mine []statsigtest.Exposure
	for _, x := range exposuresOf(backend.Exposures(), statsigtest.ExperimentExposure, "exp") {
		if x.User.CustomIDs["stableID"] == first.ID {
			mine = append(mine, x)
		}
	}
	if len(mine) != 2 {
		t.Errorf("%d exposures of the visitor, want 2: one before the removal, one after the restore", len(mine))
	}
}

// TestZeroMiddleware: a Middleware not made by New refuses at Handler, with
// a message naming New, instead of failing inside requests.
func TestZeroMiddleware(t *testing.T) {
	t.Parallel()
	for i, m := range []*statsigmw.Middleware{new(statsigmw.Middleware), nil} {
		func() {
			defer func() {
				if msg := fmt.Sprint(recover()); !strings.Contains(msg, "statsigmw.New") {
					t.Errorf("Handler of middleware %d (zero, nil): panic %q, want one naming statsigmw.New", i, msg)
				}
			}()
			m.Handler(http.NotFoundHandler())
		}()
	}
}

// TestUnknownNameWarnings: an unknown experiment, gate or layer is warned
// about once; past the number of names remembered, one last warning says
// so and the log stays quiet.
func TestUnknownNameWarnings(t *testing.T) {
	t.Parallel()
	client := localClientOf(t, testConfig())
	var logs syncBuffer
	mw, err := statsigmw.New(client, statsigmw.Config{Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	serve := func(read func(ctx context.Context)) {
		mw.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { read(r.Context()) })).
			ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/", nil))
	}
	for i := 0; i < 3; i++ {
		serve(func(ctx context.Context) {
			statsigmw.Experiment(ctx, "no_such_exp")
			statsigmw.Gate(ctx, "no_such_gate")
			if l, ok := statsigmw.Layer(ctx, "no_such_layer"); !ok {
				l.GetString("p", "")
			}
			statsigmw.Layer(ctx, "layer") // known
		})
	}
	for _, name := range []string{"no_such_exp", "no_such_gate", "no_such_layer"} {
		if n := strings.Count(logs.String(), "name="+name+"\n"); n != 1 {
			t.Errorf("%d warnings for %s, want 1", n, name)
		}
	}
	if strings.Contains(logs.String(), "name=layer\n") {
		t.Error("a known layer was warned about")
	}
	// A flood of distinct names.
	for i := 0; i < 3000; i++ {
		serve(func(ctx context.Context) { statsigmw.Experiment(ctx, fmt.Sprint("typo_", i)) })
	}
	for i := 0; i < 10; i++ {
		serve(func(ctx context.Context) { statsigmw.Experiment(ctx, fmt.Sprint("typo_", i)) })
	}
	lines := strings.Count(logs.String(), "\n")
	if lines > 1001 || !strings.Contains(logs.String(), "no more are logged") {
		t.Errorf("%d warning lines after 3,000 distinct unknown names, want at most 1,001 ending with a last word", lines)
	}
}

// TestUnixSocketProxy serves over a real unix socket listener, as behind
// nginx's proxy_pass http://unix:...: with TrustUnixSocket, IP identity
// reads X-Forwarded-For; without, the peer has no IP and each request gets
// an id of its own.
func TestUnixSocketProxy(t *testing.T) {
	t.Parallel()
	client := localClientOf(t, testConfig())
	key := []byte("0123456789abcdef0123456789abcdef")
	for _, trust := range []bool{true, false} {
		mw, err := statsigmw.New(client, statsigmw.Config{Identity: statsigmw.IPIdentity, HashKey: key, TrustUnixSocket: trust})
		if err != nil {
			t.Fatal(err)
		}
		sock := filepath.Join(t.TempDir(), "app.sock")
		ln, err := net.Listen("unix", sock)
		if err != nil {
			t.Fatal(err)
		}
		srv := &http.Server{Handler: mw.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			u, _ := statsigmw.User(r.Context())
			fmt.Fprintf(w, "%s %s %v", u.CustomIDs["stableID"], u.Custom["id_source"], u.PrivateAttributes["ip"])
		}))}
		go func() { _ = srv.Serve(ln) }()
		t.Cleanup(func() { _ = srv.Close(); _ = os.Remove(sock) })
		c := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, "unix", sock)
		}}}
		var got []string
		for _, xff := range []string{"198.51.100.7", "198.51.100.7", "203.0.113.9"} {
			req, _ := http.NewRequest(http.MethodGet, "http://app/", nil)
			req.Header.Set("X-Forwarded-For", xff)
			resp, err := c.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			got = append(got, string(b))
		}
		c.CloseIdleConnections()
		id := func(i int) string { return strings.Fields(got[i])[0] }
		if trust {
			if id(0) != id(1) || id(0) == id(2) || !strings.HasSuffix(got[0], " ip 198.51.100.7") {
				t.Errorf("trusted unix socket: %q; want the hash of the forwarded IP, the same for the same IP", got)
			}
		} else if id(0) == id(1) || !strings.Contains(got[0], " ephemeral ") {
			t.Errorf("untrusted unix socket: %q; want ids of their own", got)
		}
	}
}

// syncBuffer is a bytes.Buffer safe for concurrent writes, for loggers.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}
