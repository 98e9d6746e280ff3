package statsigmw_test

import (
	"crypto/tls"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/labkit/statsigmw"
)

var canonicalV4 = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)

var hashID = regexp.MustCompile(`^[0-9a-f]{64}$`)

func TestNewVisitorCookie(t *testing.T) {
	t.Parallel()
	for _, useTLS := range []bool{false, true} {
		name := map[bool]string{false: "http", true: "https"}[useTLS]
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, statsigmw.Config{}, useTLS)
			in, resp := get(t, e.browser, e.server.URL+"/exp")
			c := visitorCookie(resp)
			if c == nil {
				t.Fatalf("no visitor cookie in %v", resp.Header["Set-Cookie"])
			}
			if c.Name != cookieName {
				t.Errorf("cookie name %q, want %q", c.Name, cookieName)
			}
			if !canonicalV4.MatchString(cookieID(c)) || len(c.Value) != 45 {
				t.Errorf("cookie value %q is not a canonical v4 UUID and a set time", c.Value)
			}
			if !c.HttpOnly || c.SameSite != http.SameSiteLaxMode || c.Path != "/" || c.Secure != useTLS {
				t.Errorf("cookie %+v: want HttpOnly, SameSite=Lax, Path=/, Secure=%v", c, useTLS)
			}
			if c.MaxAge <= 0 || time.Duration(c.MaxAge)*time.Second > 400*24*time.Hour {
				t.Errorf("cookie Max-Age %d s, want 1 s to 400 days", c.MaxAge)
			}
			id := cookieID(c)
			if in.ID != id || in.StableID != id || in.UserID != id || in.Source != "new" {
				t.Errorf("request evaluated with %+v, want id, stableID and userID %q and source new", in, id)
			}
			// The next request sends the cookie back.
			again, resp := get(t, e.browser, e.server.URL+"/exp")
			if again.ID != id || again.Source != "cookie" || visitorCookie(resp) != nil {
				t.Errorf("second request: %+v, cookie %v; want the cookie's id %q from source cookie, not set again", again, visitorCookie(resp), id)
			}
			xs, _ := e.flush()
			if len(xs) != 1 {
				t.Fatalf("got %d exposures, want 1 (the second is the same exposure again)", len(xs))
			}
			// The first request's exposure carries the id it minted.
			if x := xs[0]; x.User.CustomIDs["stableID"] != id || x.User.UserID != id {
				t.Errorf("exposure user %+v, want the cookie's id %q", x.User, id)
			}
		})
	}
}

func TestSecureModes(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		mode       statsigmw.SecureMode
		tls        bool
		wantSecure bool
	}{
		{statsigmw.SecureAlways, false, true},
		{statsigmw.SecureNever, true, false},
		{statsigmw.SecureAuto, false, false},
		{statsigmw.SecureAuto, true, true},
	} {
		mw, err := statsigmw.New(localClient(t), statsigmw.Config{Secure: tt.mode, CookieName: "vid"})
		if err != nil {
			t.Fatal(err)
		}
		rec := httptest.NewRecorder()
		req := httptest.NewRequest(http.MethodGet, "/", nil)
		if tt.tls {
			req.TLS = &tls.ConnectionState{}
		}
		mw.Handler(readsUser).ServeHTTP(rec, req)
		cs := rec.Result().Cookies()
		if len(cs) != 1 || cs[0].Secure != tt.wantSecure || cs[0].Name != "vid" {
			t.Errorf("mode %d tls %v: cookies %v, want one named vid with Secure=%v", tt.mode, tt.tls, cs, tt.wantSecure)
		}
	}
}

func TestCookieMaxAge(t *testing.T) {
	t.Parallel()
	mw := mustNew(t, statsigmw.Config{CookieMaxAge: 30 * 24 * time.Hour, CookieName: "vid"})
	rec := httptest.NewRecorder()
	mw.Handler(readsUser).ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil))
	cs := rec.Result().Cookies()
	if len(cs) != 1 || cs[0].Name != "vid" || cs[0].MaxAge != 30*24*3600 {
		t.Errorf("cookies %v, want vid with Max-Age %d", cs, 30*24*3600)
	}
}

func TestReturningVisitor(t *testing.T) {
	t.Parallel()
	e := newEnv(t, statsigmw.Config{}, false)
	first, _ := get(t, e.browser, e.server.URL+"/exp")
	for i := 0; i < 19; i++ {
		in, resp := get(t, e.browser, e.server.URL+"/exp")
		if in.ID != first.ID || in.Group != first.Group || in.Source != "cookie" {
			t.Fatalf("request %d: %+v, want id %q group %q from the cookie", i+2, in, first.ID, first.Group)
		}
		if c := visitorCookie(resp); c != nil {
			t.Errorf("request %d set the cookie again: %v", i+2, c)
		}
	}
	if first.Group == "" {
		t.Fatal("no group assigned")
	}
	if st := e.mw.Stats(); st.ExposuresLogged != 1 || st.ExposuresSuppressed != 19 {
		t.Errorf("Stats = %+v, want 1 logged and 19 suppressed", st)
	}
	xs, _ := e.flush()
	if len(xs) != 1 {
		t.Fatalf("got %d exposures over 20 requests within the window, want 1", len(xs))
	}
	for _, x := range xs {
		if x.Group != first.Group || x.User.CustomIDs["stableID"] != first.ID {
			t.Errorf("exposure %+v, want group %q and stableID %q", x, first.Group, first.ID)
		}
	}
}

func TestMalformedCookie(t *testing.T) {
	t.Parallel()
	e := newEnv(t, statsigmw.Config{}, false)
	valid := uuid.NewString()
	v1 := uuid.Must(uuid.NewUUID()).String() // version 1
	badVariant := valid[:19] + "c" + valid[20:]
	name := cookieName
	for _, tt := range []struct {
		name   string
		cookie string
	}{
		{"not a uuid", name + "=hello"},
		{"empty", name + "="},
		{"upper case", name + "=" + strings.ToUpper(valid)},
		{"braces", name + "={" + valid + "}"},
		{"urn", name + "=urn:uuid:" + valid},
		{"32 hex", name + "=" + strings.ReplaceAll(valid, "-", "")},
		{"version 1", name + "=" + v1},
		{"bad variant", name + "=" + badVariant},
		{"quoted", name + `="` + valid + `"`},
		{"4 KB of junk", name + "=" + strings.Repeat("x;=\"é,", 700)},
		{"name twice, both invalid", name + "=" + strings.ToUpper(valid) + "; " + name + "=x"},
		{"trailing junk", name + "=" + valid + "x"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			in, resp := get(t, http.DefaultClient, e.server.URL+"/exp", "Cookie", tt.cookie)
			c := visitorCookie(resp)
			if c == nil {
				t.Fatalf("no fresh cookie for %q", tt.cookie)
			}
			if !canonicalV4.MatchString(cookieID(c)) || cookieID(c) == valid {
				t.Errorf("fresh cookie %q, want a new canonical v4 UUID", c.Value)
			}
			if in.ID != cookieID(c) || in.Source != "new" {
				t.Errorf("request used %+v, want the fresh id %q", in, cookieID(c))
			}
		})
	}
	t.Run("valid among other cookies", func(t *testing.T) {
		in, resp := get(t, http.DefaultClient, e.server.URL+"/exp", "Cookie", "a=b; "+name+"="+stamped(valid)+"; c=d")
		if in.ID != valid || in.Source != "cookie" || visitorCookie(resp) != nil {
			t.Errorf("got %+v, want the cookie's id %q and no new cookie", in, valid)
		}
	})
}

func TestRandomVisitor(t *testing.T) {
	t.Parallel()
	t.Run("enabled", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t, statsigmw.Config{AllowRandom: true}, false)
		base, _ := get(t, e.browser, e.server.URL+"/exp")
		seen := map[string]bool{base.ID: true}
		var last info
		for _, q := range []string{"?random", "?random=", "?random=1", "?random=TRUE", "?random=on", "?a=b&random", "?rand%6Fm=yes", "?random=%79es"} {
			in, resp := get(t, e.browser, e.server.URL+"/exp"+q)
			if seen[in.ID] || in.Source != "random" || !canonicalV4.MatchString(in.ID) {
				t.Errorf("%s: %+v, want a new random visitor", q, in)
			}
			if c := visitorCookie(resp); c == nil || cookieID(c) != in.ID {
				t.Errorf("%s: cookie %v, want the new id %q", q, c, in.ID)
			}
			seen[in.ID] = true
			last = in
		}
		// The next page without ?random is that same simulated visitor, so
		// its conversion counts for the group it saw.
		next, _ := get(t, e.browser, e.server.URL+"/convert")
		if next.ID != last.ID || next.Source != "cookie" {
			t.Errorf("after ?random: %+v, want visitor %q from the cookie", next, last.ID)
		}
		xs, evs := e.flush()
		if len(xs) == 0 {
			t.Fatal("no exposures")
		}
		lastX := xs[len(xs)-1]
		if len(evs) != 1 || evs[0].User.CustomIDs["stableID"] != lastX.User.CustomIDs["stableID"] {
			t.Errorf("conversion %+v not attributed to the last exposure %+v", evs, lastX)
		}
	})
	t.Run("disabled", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t, statsigmw.Config{}, false)
		base, _ := get(t, e.browser, e.server.URL+"/exp")
		in, resp := get(t, e.browser, e.server.URL+"/exp?random=1")
		if in.ID != base.ID || in.Source != "cookie" || visitorCookie(resp) != nil {
			t.Errorf("?random while disabled: %+v, want the cookie's visitor %q", in, base.ID)
		}
	})
	t.Run("not a random key", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t, statsigmw.Config{AllowRandom: true}, false)
		base, _ := get(t, e.browser, e.server.URL+"/exp")
		for _, q := range []string{"?randomize=1", "?x=random", "?%zz", "?random_=1",
			"?random=0", "?random=false", "?random=no", "?random=off", "?random=junk", "?random=%zz", "?random=0&random=1"} {
			if in, _ := get(t, e.browser, e.server.URL+"/exp"+q); in.ID != base.ID {
				t.Errorf("%s started a new visitor %+v", q, in)
			}
		}
	})
}

// visitor is the identity a request was given.
type visitor struct{ ID, Source string }

// identify runs one request from remote with the header pairs through mw
// and returns the visitor it was given.
func identify(t *testing.T, mw *statsigmw.Middleware, remote string, header ...string) visitor {
	t.Helper()
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	r.RemoteAddr = remote
	for i := 0; i+1 < len(header); i += 2 {
		r.Header.Add(header[i], header[i+1])
	}
	var v visitor
	mw.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u, _ := statsigmw.User(r.Context())
		v.ID = u.CustomIDs["stableID"]
		v.Source, _ = u.Custom["id_source"].(string)
	})).ServeHTTP(httptest.NewRecorder(), r)
	return v
}

func mustNew(t *testing.T, cfg statsigmw.Config) *statsigmw.Middleware {
	t.Helper()
	mw, err := statsigmw.New(localClient(t), cfg)
	if err != nil {
		t.Fatal(err)
	}
	return mw
}

func TestHashedIP(t *testing.T) {
	t.Parallel()
	key := []byte("0123456789abcdef-fleet-key")
	cfg := statsigmw.Config{Identity: statsigmw.IPIdentity, HashKey: key}
	a, b := mustNew(t, cfg), mustNew(t, cfg) // two instances: a fleet, or a restart
	other := mustNew(t, statsigmw.Config{Identity: statsigmw.IPIdentity, HashKey: []byte("another-key-of-16-bytes")})

	va := identify(t, a, "192.0.2.1:1234")
	if va.Source != "ip" || !hashID.MatchString(va.ID) || strings.Contains(va.ID, "192.0.2.1") {
		t.Fatalf("got %+v, want a 64-digit hex id from source ip", va)
	}
	for _, tt := range []struct {
		name     string
		mw       *statsigmw.Middleware
		remote   string
		wantSame bool
	}{
		{"another instance, same key", b, "192.0.2.1:9999", true},
		{"IPv4-mapped IPv6", b, "[::ffff:192.0.2.1]:80", true},
		{"another key", other, "192.0.2.1:1234", false},
		{"another IP", a, "192.0.2.2:1234", false},
	} {
		if got := identify(t, tt.mw, tt.remote); (got.ID == va.ID) != tt.wantSame {
			t.Errorf("%s: id %s vs %s, want same=%v", tt.name, got.ID, va.ID, tt.wantSame)
		}
	}

	v6a := identify(t, a, "[2001:db8:1:2::1]:80")
	for _, tt := range []struct {
		mw       *statsigmw.Middleware
		remote   string
		wantSame bool
	}{
		{a, "[2001:db8:1:2:ffff:eeee:dddd:9]:80", true}, // same /64
		{a, "[2001:db8:1:2::1%eth0]:80", true},          // zone dropped
		{a, "[2001:db8:1:3::1]:80", false},              // next /64
	} {
		if got := identify(t, tt.mw, tt.remote); (got.ID == v6a.ID) != tt.wantSame {
			t.Errorf("%s: same=%v, want %v", tt.remote, got.ID == v6a.ID, tt.wantSame)
		}
	}
	p48 := mustNew(t, statsigmw.Config{Identity: statsigmw.IPIdentity, HashKey: key, IPv6Prefix: 48})
	if x, y := identify(t, p48, "[2001:db8:1:2::1]:80"), identify(t, p48, "[2001:db8:1:3::1]:80"); x.ID != y.ID {
		t.Errorf("with a /48 prefix, 2001:db8:1:2::1 and 2001:db8:1:3::1 differ: %s vs %s", x.ID, y.ID)
	}

	t.Run("no cookie written, cookie honoured", func(t *testing.T) {
		mw := mustNew(t, cfg)
		rec := httptest.NewRecorder()
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		r.RemoteAddr = "192.0.2.1:1"
		mw.Handler(readsUser).ServeHTTP(rec, r)
		if sc := rec.Header().Values("Set-Cookie"); len(sc) != 0 {
			t.Errorf("IP mode wrote cookies %v", sc)
		}
		id := uuid.NewString()
		v := identify(t, mw, "192.0.2.1:1", "Cookie", cookieName+"="+id)
		if v.ID != id || v.Source != "cookie" {
			t.Errorf("IP mode with a valid cookie: %+v, want the cookie's id", v)
		}
	})
	t.Run("unparseable peer falls back to a per-request id", func(t *testing.T) {
		v1, v2 := identify(t, a, "garbage"), identify(t, a, "garbage")
		if v1.Source != "ephemeral" || v1.ID == v2.ID || !canonicalV4.MatchString(v1.ID) {
			t.Errorf("got %+v and %+v, want two different ephemeral ids", v1, v2)
		}
	})
}

func TestClientIPSpoofing(t *testing.T) {
	t.Parallel()
	key := []byte("0123456789abcdef")
	direct := mustNew(t, statsigmw.Config{Identity: statsigmw.IPIdentity, HashKey: key})
	proxied := mustNew(t, statsigmw.Config{Identity: statsigmw.IPIdentity, HashKey: key,
		TrustedProxies: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}})
	forwarded := mustNew(t, statsigmw.Config{Identity: statsigmw.IPIdentity, HashKey: key, UseForwarded: true,
		TrustedProxies: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}})
	idOf := func(ip string) string { return identify(t, direct, ip+":1").ID }

	for _, tt := range []struct {
		name   string
		mw     *statsigmw.Middleware
		remote string
		header []string
		want   string // IP whose hash is the id; "" for an ephemeral id
	}{
		{"no proxies: XFF ignored", direct, "192.0.2.1:1", []string{"X-Forwarded-For", "198.51.100.9"}, "192.0.2.1"},
		{"no proxies: X-Real-IP ignored", direct, "192.0.2.1:1", []string{"X-Real-IP", "198.51.100.9"}, "192.0.2.1"},
		{"no proxies: Forwarded ignored", direct, "192.0.2.1:1", []string{"Forwarded", "for=198.51.100.9"}, "192.0.2.1"},
		{"untrusted peer with XFF", proxied, "192.0.2.1:1", []string{"X-Forwarded-For", "198.51.100.9"}, "192.0.2.1"},
		{"trusted proxy", proxied, "10.0.0.1:1", []string{"X-Forwarded-For", "198.51.100.9"}, "198.51.100.9"},
		{"rightmost untrusted wins", proxied, "10.0.0.1:1", []string{"X-Forwarded-For", "203.0.113.66, 198.51.100.9, 10.0.0.2"}, "198.51.100.9"},
		{"repeated lines are one list", proxied, "10.0.0.1:1", []string{"X-Forwarded-For", "203.0.113.66", "X-Forwarded-For", "198.51.100.9, 10.0.0.2"}, "198.51.100.9"},
		{"garbage hop: no IP identity", proxied, "10.0.0.1:1", []string{"X-Forwarded-For", "198.51.100.9, not-an-ip"}, ""},
		{"only trusted hops", proxied, "10.0.0.1:1", []string{"X-Forwarded-For", "10.1.1.1"}, ""},
		{"trusted proxy without header", proxied, "10.0.0.1:1", nil, ""},
		{"X-Real-IP never read", proxied, "10.0.0.1:1", []string{"X-Real-IP", "198.51.100.9"}, ""},
		{"Forwarded", forwarded, "10.0.0.1:1", []string{"Forwarded", `for=198.51.100.9;proto=https, for="[2001:db8::1]:80"`}, "2001:db8::1"},
		{"Forwarded ignores XFF", forwarded, "10.0.0.1:1", []string{"X-Forwarded-For", "198.51.100.9"}, ""},
		{"Forwarded obfuscated", forwarded, "10.0.0.1:1", []string{"Forwarded", "for=_hidden"}, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			v := identify(t, tt.mw, tt.remote, tt.header...)
			if tt.want == "" {
				if v.Source != "ephemeral" || v.ID == idOf("10.0.0.1") {
					t.Errorf("got %+v, want an ephemeral id, never the proxy's", v)
				}
				return
			}
			if v.Source != "ip" || v.ID != idOf(tt.want) {
				t.Errorf("got %+v, want the hash of %s", v, tt.want)
			}
		})
	}
}

func TestConsentDeclined(t *testing.T) {
	t.Parallel()
	no := func(*http.Request) bool { return false }
	for _, tt := range []struct {
		name       string
		cfg        statsigmw.Config
		wantSource string
	}{
		{"with hash key", statsigmw.Config{Consent: no, AllowRandom: true, HashKey: []byte("0123456789abcdef")}, "ip"},
		{"without hash key", statsigmw.Config{Consent: no, AllowRandom: true}, "ephemeral"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, tt.cfg, false)
			cookie := cookieName + "=" + uuid.NewString()
			var ids []string
			for _, q := range []string{"/exp", "/exp", "/exp?random", "/convert"} {
				in, resp := get(t, e.browser, e.server.URL+q, "Cookie", cookie)
				if sc := resp.Header.Values("Set-Cookie"); len(sc) != 0 {
					t.Errorf("%s wrote cookies %v without consent", q, sc)
				}
				if strings.Contains(cookie, in.ID) {
					t.Errorf("%s used the cookie's id without consent", q)
				}
				if q != "/exp?random" && in.Source != tt.wantSource {
					t.Errorf("%s: source %q, want %q", q, in.Source, tt.wantSource)
				}
				ids = append(ids, in.ID)
			}
			if stable := ids[0] == ids[1]; stable != (tt.wantSource == "ip") {
				t.Errorf("ids %v: stable across requests = %v, want %v", ids, stable, tt.wantSource == "ip")
			}
		})
	}
}

func TestLoggedInUser(t *testing.T) {
	t.Parallel()
	e := newEnv(t, statsigmw.Config{LoginID: func(r *http.Request) string { return r.Header.Get("X-Test-User") }}, false)
	anon, _ := get(t, e.browser, e.server.URL+"/exp")
	in, _ := get(t, e.browser, e.server.URL+"/exp", "X-Test-User", "user-42")
	if in.UserID != "user-42" || in.StableID != anon.ID || in.ID != anon.ID {
		t.Errorf("logged in: %+v, want userID user-42 and stableID %q", in, anon.ID)
	}
	long, _ := get(t, e.browser, e.server.URL+"/exp", "X-Test-User", strings.Repeat("u", 300))
	if long.UserID != anon.ID {
		t.Errorf("an over-long user id was used: %q", long.UserID)
	}
	xs, _ := e.flush()
	// The third request is the anonymous visitor again: its exposure was
	// logged already.
	if len(xs) != 2 || xs[1].User.UserID != "user-42" || xs[1].User.CustomIDs["stableID"] != anon.ID {
		t.Errorf("exposures %+v, want two, the second with userID user-42 and stableID %q", xs, anon.ID)
	}
	// stableID experiments keep the visitor's group when they log in.
	if xs[0].Group != xs[1].Group {
		t.Errorf("group changed on login: %q then %q", xs[0].Group, xs[1].Group)
	}
}

func TestPrivacyAndAttributes(t *testing.T) {
	t.Parallel()
	e := newEnv(t, statsigmw.Config{}, false)
	hdr := []string{"User-Agent", "statsigmw-test/1.0", "Accept-Language", "fr-CH, fr;q=0.9, en;q=0.8"}
	get(t, e.browser, e.server.URL+"/exp", hdr...)
	get(t, e.browser, e.server.URL+"/convert", hdr...)
	xs, evs := e.flush()
	if len(xs) != 1 || len(evs) != 1 {
		t.Fatalf("got %d exposures and %d events, want 1 and 1", len(xs), len(evs))
	}
	for _, raw := range []string{string(xs[0].Raw), string(evs[0].Raw)} {
		if strings.Contains(raw, "127.0.0.1") || strings.Contains(raw, "privateAttributes") || strings.Contains(raw, `"ip"`) {
			t.Errorf("an event carries the client IP: %s", raw)
		}
	}
	u := evs[0].User
	if u.UserAgent != "statsigmw-test/1.0" || u.Locale != "fr-CH" || u.Custom["id_source"] != "cookie" {
		t.Errorf("event user %+v, want userAgent, locale fr-CH and id_source cookie", u)
	}
	if xs[0].User.Custom["id_source"] != "new" {
		t.Errorf("exposure id_source %v, want new", xs[0].User.Custom["id_source"])
	}

	// Server-side the IP is available for targeting, as a private attribute.
	mw := mustNew(t, statsigmw.Config{})
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	r.RemoteAddr = "192.0.2.7:5"
	mw.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u, _ := statsigmw.User(r.Context())
		if u.PrivateAttributes["ip"] != "192.0.2.7" || u.IpAddress != "" {
			t.Errorf("user %+v, want the IP only in PrivateAttributes", u)
		}
	})).ServeHTTP(httptest.NewRecorder(), r)
}

// TestUserIPPerRequest checks the IP attribute of requests that share a
// connection: a direct client's is its address; behind a trusted proxy it
// follows each request's forwarding header, never an earlier request's.
func TestUserIPPerRequest(t *testing.T) {
	t.Parallel()
	mw := mustNew(t, statsigmw.Config{TrustedProxies: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}})
	for i, tt := range []struct{ remote, xff, want string }{
		{"10.0.0.1:5000", "203.0.113.7", "203.0.113.7"},
		{"10.0.0.1:5000", "198.51.100.9", "198.51.100.9"},
		{"10.0.0.1:5000", "", ""}, // a trusted peer without the header: no IP
		{"192.0.2.7:5", "", "192.0.2.7"},
		{"192.0.2.7:5", "203.0.113.7", "192.0.2.7"}, // an untrusted peer's header is ignored
		{"192.0.2.8:5", "", "192.0.2.8"},
	} {
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		r.RemoteAddr = tt.remote
		if tt.xff != "" {
			r.Header.Set("X-Forwarded-For", tt.xff)
		}
		mw.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			u, _ := statsigmw.User(r.Context())
			if got, _ := u.PrivateAttributes["ip"].(string); got != tt.want {
				t.Errorf("request %d (peer %s, X-Forwarded-For %q): ip %q, want %q", i, tt.remote, tt.xff, got, tt.want)
			}
		})).ServeHTTP(httptest.NewRecorder(), r)
	}
}

func TestUnsafeSendIP(t *testing.T) {
	t.Parallel()
	mw := mustNew(t, statsigmw.Config{UnsafeSendIP: true})
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	r.RemoteAddr = "192.0.2.7:5"
	mw.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if u, _ := statsigmw.User(r.Context()); u.IpAddress != "192.0.2.7" {
			t.Errorf("IpAddress %q with UnsafeSendIP, want 192.0.2.7", u.IpAddress)
		}
	})).ServeHTTP(httptest.NewRecorder(), r)
}

func TestNewErrors(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name string
		cfg  statsigmw.Config
		want string
	}{
		{"ip mode without key", statsigmw.Config{Identity: statsigmw.IPIdentity}, "needs a HashKey"},
		{"short key", statsigmw.Config{HashKey: []byte("short")}, "at least 16"},
		{"unknown mode", statsigmw.Config{Identity: 7}, "unknown identity mode"},
		{"unknown secure mode", statsigmw.Config{Secure: 9}, "unknown secure mode"},
		{"cookie name", statsigmw.Config{CookieName: "a b"}, `"a b"`},
		{"reserved cookie prefix", statsigmw.Config{CookieName: "__Host-x"}, "__Host-x"},
		{"max age", statsigmw.Config{CookieMaxAge: 500 * 24 * time.Hour}, "400 days"},
		{"ipv6 prefix", statsigmw.Config{IPv6Prefix: 129}, "129"},
		{"trusted proxy", statsigmw.Config{TrustedProxies: []netip.Prefix{{}}}, "statsigmw: "},
	} {
		_, err := statsigmw.New(localClient(t), tt.cfg)
		if err == nil || !strings.HasPrefix(err.Error(), "statsigmw: ") || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: got error %v, want one containing %q", tt.name, err, tt.want)
		}
	}
}
