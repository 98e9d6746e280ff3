package benchpage

import (
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
)

// TestAppendCookieHeader checks that the benchmark's visitors are distinct,
// valid returning visitors: the hand-rolled page and the middleware must
// both accept their cookies, or the benchmark measures new visitors.
func TestAppendCookieHeader(t *testing.T) {
	set := time.Now().Unix()
	seen := make(map[string]bool)
	for _, i := range []int{0, 1, 2, 19_999, 999_999, 1<<48 - 1} {
		h := string(AppendCookieHeader(nil, i, set))
		r := &http.Request{Header: http.Header{"Cookie": {h}}}
		c, err := r.Cookie(CookieName)
		if err != nil {
			t.Fatalf("visitor %d: header %q has no %s cookie", i, h, CookieName)
		}
		id := parseCookie(c.Value)
		if id == "" || id != VisitorID(i) {
			t.Errorf("visitor %d: cookie %q holds id %q, want %q", i, c.Value, id, VisitorID(i))
			continue
		}
		if u := uuid.MustParse(id); u.Version() != 4 || u.Variant() != uuid.RFC4122 {
			t.Errorf("visitor %d: id %q is not an RFC 4122 v4 UUID", i, id)
		}
		if seen[id] {
			t.Errorf("visitor %d: id %q seen before", i, id)
		}
		seen[id] = true
		if want := VisitorID(i) + "-" + hex8(set); c.Value != want {
			t.Errorf("visitor %d: cookie %q, want %q", i, c.Value, want)
		}
	}
}

func hex8(x int64) string { return string(appendHex(nil, uint64(x), 8)) }

// TestPages checks that the pages treat the benchmark's visitors alike: a
// returning visitor gets no new cookie and the same colour from the
// hand-rolled page and the middleware; a new visitor gets a cookie from both.
// With a Sink, the exposures reach it: every view's from the hand-rolled
// page, one a visitor from the middleware.
func TestPages(t *testing.T) {
	t.Run("local", func(t *testing.T) { testPages(t, false) })
	t.Run("sink", func(t *testing.T) { testPages(t, true) })
}

func testPages(t *testing.T, sink bool) {
	pages := make(map[string]http.Handler)
	shutdowns := make(map[string]func())
	events := make(map[string]*atomic.Int64)
	for _, name := range Pages {
		api := ""
		if sink {
			h, err := Sink()
			if err != nil {
				t.Fatal(err)
			}
			n := new(atomic.Int64)
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if strings.HasSuffix(r.URL.Path, "/log_event") {
					c, _ := strconv.Atoi(r.Header.Get("statsig-event-count"))
					n.Add(int64(c))
				}
				h.ServeHTTP(w, r)
			}))
			t.Cleanup(srv.Close)
			api, events[name] = srv.URL+"/v1", n
		}
		h, shutdown, err := New(name, Options{Events: api})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(shutdown)
		pages[name], shutdowns[name] = h, shutdown
	}
	serve := func(name, cookie string) *httptest.ResponseRecorder {
		r := httptest.NewRequest(http.MethodGet, "/tasks", nil)
		r.Header.Set("Cookie", cookie)
		r.Header.Set("User-Agent", UserAgent)
		w := httptest.NewRecorder()
		pages[name].ServeHTTP(w, r)
		if w.Code != http.StatusOK {
			t.Fatalf("%s: status %d", name, w.Code)
		}
		return w
	}
	set := time.Now().Unix()
	colours := make(map[string]bool)
	for round := 0; round < 2; round++ {
		for i := 0; i < 40; i++ {
			cookie := string(AppendCookieHeader(nil, i, set))
			hand, mw := serve(HandRolled, cookie), serve(MW, cookie)
			for name, w := range map[string]*httptest.ResponseRecorder{HandRolled: hand, MW: mw} {
				if c := w.Header().Get("Set-Cookie"); c != "" {
					t.Errorf("%s, visitor %d: Set-Cookie %q for a returning visitor", name, i, c)
				}
			}
			if hand.Body.String() != mw.Body.String() {
				t.Errorf("visitor %d: hand-rolled page %q, middleware %q", i, hand.Body, mw.Body)
			}
			colours[hand.Body.String()] = true
		}
	}
	if len(colours) < 2 {
		t.Errorf("40 visitors saw %d pages, want the experiment's groups", len(colours))
	}
	for _, name := range []string{HandRolled, MW} {
		if serve(name, NoVisitorCookie).Header().Get("Set-Cookie") == "" {
			t.Errorf("%s: no Set-Cookie for a new visitor", name)
		}
	}
	if !sink {
		return
	}
	for name, want := range map[string]int64{HandRolled: 81, MW: 41} {
		shutdowns[name]() // flushes
		if n := events[name].Load(); n != want {
			t.Errorf("%s: the sink received %d events, want %d", name, n, want)
		}
	}
}
