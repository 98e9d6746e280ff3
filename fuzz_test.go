package statsigmw_test

import (
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/labkit/statsigmw"
)

// referenceValid is the definition of a valid visitor cookie, spelled with
// the uuid package: a canonical lower-case RFC 4122 v4 UUID.
func referenceValid(s string) bool {
	u, err := uuid.Parse(s)
	return err == nil && u.String() == s && u.Version() == 4 && u.Variant() == uuid.RFC4122
}

var fuzzTrusted = []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("2001:db8:ffff::/48")}

// referenceCookie is the definition of a valid cookie value: a valid id,
// optionally followed by "-" and eight lower-case hex digits.
func referenceCookie(s string) (id string, ok bool) {
	if len(s) == 45 && s[36] == '-' && strings.Trim(s[37:], "0123456789abcdef") == "" {
		s = s[:36]
	}
	return s, referenceValid(s)
}

// referenceVisitor is the definition of the visitor cookie of a Cookie
// header: its pairs split at ';' and trimmed of spaces and tabs, and the
// first pair named cookieName whose value is valid. n counts the pairs of
// that name.
func referenceVisitor(lines []string) (id string, n int) {
	for _, line := range lines {
		for _, pair := range strings.Split(line, ";") {
			name, value, ok := strings.Cut(strings.Trim(pair, " \t\r\n"), "=")
			if !ok || name != cookieName {
				continue
			}
			n++
			if v, valid := referenceCookie(value); valid && id == "" {
				id = v
			}
		}
	}
	return id, n
}

// FuzzVisitorCookie feeds arbitrary Cookie header lines. Invariants: no
// panic; the visitor is the first valid cookie of our name, as
// referenceVisitor says, and its cookie is set again only with the same
// id; without one a fresh canonical id is minted and set as the cookie; a
// request with several cookies of our name is counted once in
// Stats.DuplicateCookies.
func FuzzVisitorCookie(f *testing.F) {
	for _, s := range []string{
		uuid.NewString(), strings.ToUpper(uuid.NewString()), "{" + uuid.NewString() + "}",
		"urn:uuid:" + uuid.NewString(), strings.ReplaceAll(uuid.NewString(), "-", ""), "",
		"00000000-0000-4000-8000-000000000000", "00000000-0000-4000-c000-000000000000", `"` + uuid.NewString() + `"`,
		uuid.NewString() + "-6a000000", uuid.NewString() + "-ffffffff", uuid.NewString() + "-6A000000", uuid.NewString() + "-6a00000",
		stamped(uuid.NewString()),
	} {
		f.Add(cookieName+"="+s, "")
	}
	f.Add(cookieName+"=junk; "+cookieName+"="+stamped(uuid.NewString()), "")
	f.Add("a=b;"+cookieName+"="+uuid.NewString()+" ;c=d", cookieName+"="+uuid.NewString())
	f.Add(";;"+cookieName+"=;"+cookieName, "\t"+cookieName+"="+uuid.NewString()+"\t")
	mw, err := statsigmw.New(localClient(f), statsigmw.Config{})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, line1, line2 string) {
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		lines := []string{line1}
		if line2 != "" {
			lines = append(lines, line2)
		}
		r.Header["Cookie"] = lines
		var got visitor
		rec := httptest.NewRecorder()
		before := mw.Stats().DuplicateCookies
		mw.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			u, _ := statsigmw.User(r.Context())
			got.ID = u.CustomIDs["stableID"]
			got.Source, _ = u.Custom["id_source"].(string)
		})).ServeHTTP(rec, r)

		if !referenceValid(got.ID) {
			t.Fatalf("id %q is not a canonical v4 UUID", got.ID)
		}
		id, n := referenceVisitor(lines)
		if dup := mw.Stats().DuplicateCookies - before; dup != int64(min(n-1, 1)) && n > 0 || n == 0 && dup != 0 {
			t.Fatalf("cookie lines %q: %d cookies of our name counted as %d duplicate requests", lines, n, dup)
		}
		setCookie := rec.Header().Get("Set-Cookie")
		if id != "" {
			if got.ID != id || got.Source != "cookie" || setCookie != "" && !strings.Contains(setCookie, "="+id+"-") {
				t.Fatalf("cookie lines %q: got %+v, Set-Cookie %q; want %q honoured", lines, got, setCookie, id)
			}
			return
		}
		if got.Source != "new" || !strings.Contains(setCookie, "="+got.ID+"-") {
			t.Fatalf("cookie lines %q: got %+v, Set-Cookie %q; want a fresh id set as the cookie", lines, got, setCookie)
		}
	})
}

// FuzzMiddleware feeds arbitrary peers, queries, cookies and forwarding
// headers to the middleware in each identity mode. Invariants: no panic;
// the id is non-empty and canonical for its source; the user has a UserID
// and a stableID; the IP the user carries is never a trusted proxy's; and
// the same request gives the same identity again unless it is a fresh one.
func FuzzMiddleware(f *testing.F) {
	f.Add("192.0.2.1:1234", "random", "visitor_id=not-a-uuid", "198.51.100.1", "for=198.51.100.1", uint8(0))
	f.Add("10.0.0.1:80", "a=1&random=2", "", "203.0.113.9, 10.0.0.2", `for="[2001:db8::1]:80"`, uint8(1))
	f.Add("[2001:db8:ffff::1]:443", "%72andom", "visitor_id="+uuid.NewString(), "garbage", "for=_hidden", uint8(2))
	f.Add("", "", "", "", "", uint8(3))
	f.Add("10.1.1.1:1", ";;&&==", "visitor_id=a; visitor_id=b", "10.0.0.1, 10.0.0.2", "for=10.0.0.3", uint8(4))

	key := []byte("0123456789abcdef")
	configs := []statsigmw.Config{
		{AllowRandom: true, TrustedProxies: fuzzTrusted},
		{Identity: statsigmw.IPIdentity, HashKey: key, TrustedProxies: fuzzTrusted},
		{Identity: statsigmw.IPIdentity, HashKey: key, TrustedProxies: fuzzTrusted, UseForwarded: true, AllowRandom: true},
		{Consent: func(*http.Request) bool { return false }, HashKey: key, TrustedProxies: fuzzTrusted},
		{Consent: func(*http.Request) bool { return false }, AllowRandom: true},
	}
	mws := make([]*statsigmw.Middleware, len(configs))
	for i, c := range configs {
		mw, err := statsigmw.New(localClient(f), c)
		if err != nil {
			f.Fatal(err)
		}
		mws[i] = mw
	}

	f.Fuzz(func(t *testing.T, remote, query, cookie, xff, fwd string, mode uint8) {
		mw := mws[int(mode)%len(mws)]
		serve := func() (visitor, map[string]any, string) {
			r := &http.Request{
				Method:     http.MethodGet,
				URL:        &url.URL{Path: "/", RawQuery: query},
				Header:     http.Header{"Cookie": {cookie}, "X-Forwarded-For": {xff}, "Forwarded": {fwd}},
				RemoteAddr: remote,
				Proto:      "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
			}
			var v visitor
			var private map[string]any
			var userID, stableID string
			rec := httptest.NewRecorder()
			mw.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				u, _ := statsigmw.User(r.Context())
				v.ID = u.CustomIDs["stableID"]
				v.Source, _ = u.Custom["id_source"].(string)
				private, userID, stableID = u.PrivateAttributes, u.UserID, u.CustomIDs["stableID"]
			})).ServeHTTP(rec, r)
			if userID == "" || stableID == "" || stableID != v.ID {
				t.Fatalf("user ids %q/%q for visitor %+v", userID, stableID, v)
			}
			return v, private, rec.Header().Get("Set-Cookie")
		}
		v, private, _ := serve()
		switch v.Source {
		case "ip":
			if len(v.ID) != 64 || strings.Trim(v.ID, "0123456789abcdef") != "" {
				t.Fatalf("ip id %q is not 64 hex digits", v.ID)
			}
		case "cookie", "new", "random", "ephemeral":
			if !referenceValid(v.ID) {
				t.Fatalf("%s id %q is not a canonical v4 UUID", v.Source, v.ID)
			}
		default:
			t.Fatalf("unknown source %q", v.Source)
		}
		if ip, ok := private["ip"].(string); ok {
			a, err := netip.ParseAddr(ip)
			if err != nil {
				t.Fatalf("private ip %q does not parse: %v", ip, err)
			}
			for _, p := range configs[int(mode)%len(mws)].TrustedProxies {
				if p.Contains(a) {
					t.Fatalf("client ip %s is inside trusted %s", a, p)
				}
			}
		}
		again, _, _ := serve()
		stable := v.Source == "cookie" || v.Source == "ip"
		if stable && again != v {
			t.Fatalf("same request, different identity: %+v then %+v", v, again)
		}
		if !stable && again.ID == v.ID {
			t.Fatalf("fresh %s id %q repeated", v.Source, v.ID)
		}
	})
}
