package clientip

import (
	"net/http"
	"net/netip"
	"strings"
	"testing"
)

// testTrusted is the proxy set used by most tests: private IPv4 ranges, an
// IPv6 ULA range and an IPv4-mapped spelling of 192.168.0.0/16 (which the
// constructor normalises). Client addresses come from the documentation
// ranges 192.0.2.0/24, 198.51.100.0/24, 203.0.113.0/24 and 2001:db8::/32.
var testTrusted = []netip.Prefix{
	netip.MustParsePrefix("10.0.0.0/8"),
	netip.MustParsePrefix("172.16.0.0/12"),
	netip.MustParsePrefix("fd00::/8"),
	netip.MustParsePrefix("::ffff:192.168.0.0/112"),
}

// mustResolver builds a resolver over prefixes or fails the test.
func mustResolver(tb testing.TB, prefixes []netip.Prefix, forwarded bool) Resolver {
	tb.Helper()
	r, err := New(prefixes, forwarded, false)
	if err != nil {
		tb.Fatalf("New: %v", err)
	}
	return r
}

// request builds a request with the given RemoteAddr and header lines.
func request(remoteAddr string, header http.Header) *http.Request {
	return &http.Request{Method: http.MethodGet, RemoteAddr: remoteAddr, Header: header}
}

// checkInvariant fails the test if an ok result breaks the invariant:
// valid, normalised and outside every trusted prefix.
func checkInvariant(tb testing.TB, r Resolver, got netip.Addr, ok bool) {
	tb.Helper()
	if !ok {
		if got.IsValid() {
			tb.Errorf("ok=false but addr %v is valid, want zero Addr", got)
		}
		return
	}
	if !got.IsValid() {
		tb.Fatalf("ok=true with invalid addr %v", got)
	}
	if n := Normalize(got); n != got {
		tb.Errorf("got %v, want normalised %v", got, n)
	}
	if r.trusts(got) {
		tb.Errorf("got %v, which is inside a trusted prefix %v", got, r.trusted)
	}
}

// testCase is one ClientIP table row. want is "" when ok=false is expected.
type testCase struct {
	name       string
	remoteAddr string
	header     http.Header
	want       string
}

// run runs a table of ClientIP cases against r.
func run(t *testing.T, r Resolver, cases []testCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := r.ClientIP(request(tc.remoteAddr, tc.header))
			checkInvariant(t, r, got, ok)
			if tc.want == "" {
				if ok {
					t.Errorf("got %v, want ok=false", got)
				}
				return
			}
			want := netip.MustParseAddr(tc.want)
			if !ok || got != want {
				t.Errorf("got %v (ok=%v), want %v", got, ok, want)
			}
		})
	}
}

// hdrXFF returns an X-Forwarded-For header with the given field lines.
func hdrXFF(lines ...string) http.Header { return http.Header{"X-Forwarded-For": lines} }

// hdrFwd returns a Forwarded header with the given field lines.
func hdrFwd(lines ...string) http.Header { return http.Header{"Forwarded": lines} }

// repeat joins n copies of elem with sep.
func repeat(elem, sep string, n int) string {
	s := make([]string, n)
	for i := range s {
		s[i] = elem
	}
	return strings.Join(s, sep)
}

func TestNewClientIPResolver(t *testing.T) {
	tests := []struct {
		name    string
		in      []netip.Prefix
		want    []netip.Prefix
		wantErr string
	}{
		{name: "nil trusts nothing", in: nil, want: nil},
		{name: "empty trusts nothing", in: []netip.Prefix{}, want: nil},
		{
			name: "prefixes are masked",
			in:   []netip.Prefix{netip.MustParsePrefix("10.1.2.3/8"), netip.MustParsePrefix("fd00::1/8")},
			want: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("fd00::/8")},
		},
		{
			name: "IPv4-mapped prefix becomes IPv4",
			in:   []netip.Prefix{netip.MustParsePrefix("::ffff:10.0.0.0/104")},
			want: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")},
		},
		{
			name: "IPv4-mapped host prefix becomes IPv4 host",
			in:   []netip.Prefix{netip.MustParsePrefix("::ffff:10.1.2.3/128")},
			want: []netip.Prefix{netip.MustParsePrefix("10.1.2.3/32")},
		},
		{
			name: "whole IPv4-mapped space becomes 0.0.0.0/0",
			in:   []netip.Prefix{netip.MustParsePrefix("::ffff:0.0.0.0/96")},
			want: []netip.Prefix{netip.MustParsePrefix("0.0.0.0/0")},
		},
		{
			name: "short IPv6 prefix stays IPv6",
			in:   []netip.Prefix{netip.MustParsePrefix("::ffff:0.0.0.0/80")},
			want: []netip.Prefix{netip.MustParsePrefix("::/80")},
		},
		{
			name:    "zero prefix is an error",
			in:      []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), {}},
			wantErr: `statsigmw: invalid trusted proxy prefix "invalid Prefix" at index 1`,
		},
		{
			name:    "out of range bits is an error",
			in:      []netip.Prefix{netip.PrefixFrom(netip.MustParseAddr("10.0.0.1"), 33)},
			wantErr: `statsigmw: invalid trusted proxy prefix "invalid Prefix" at index 0`,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r, err := New(tc.in, true, false)
			if tc.wantErr != "" {
				if err == nil {
					t.Fatalf("got %v, want error %q", r, tc.wantErr)
				}
				if got := err.Error(); got != tc.wantErr {
					t.Errorf("got %v, want %v", got, tc.wantErr)
				}
				if !strings.HasPrefix(err.Error(), "statsigmw: ") {
					t.Errorf("got %v, want prefix %q", err, "statsigmw: ")
				}
				if len(r.trusted) != 0 || r.forwarded {
					t.Errorf("got %+v, want zero resolver on error", r)
				}
				return
			}
			if err != nil {
				t.Fatalf("got %v, want no error", err)
			}
			if !r.forwarded {
				t.Errorf("got forwarded=%v, want %v", r.forwarded, true)
			}
			if len(r.trusted) != len(tc.want) {
				t.Fatalf("got %v, want %v", r.trusted, tc.want)
			}
			for i := range tc.want {
				if r.trusted[i] != tc.want[i] {
					t.Errorf("got %v, want %v", r.trusted[i], tc.want[i])
				}
			}
		})
	}
}

func TestNewClientIPResolverCopies(t *testing.T) {
	in := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}
	r := mustResolver(t, in, false)
	in[0] = netip.MustParsePrefix("192.0.2.0/24")
	if got, want := r.trusted[0], netip.MustParsePrefix("10.0.0.0/8"); got != want {
		t.Errorf("got %v, want %v", got, want)
	}
	if r.trusts(netip.MustParseAddr("192.0.2.1")) {
		t.Errorf("got trusted 192.0.2.1 after caller mutated its slice, want untrusted")
	}
}

func TestNormalizeAddr(t *testing.T) {
	tests := []struct {
		in   netip.Addr
		want netip.Addr
	}{
		{netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("192.0.2.1")},
		{netip.MustParseAddr("::ffff:192.0.2.1"), netip.MustParseAddr("192.0.2.1")},
		{netip.MustParseAddr("2001:db8::1"), netip.MustParseAddr("2001:db8::1")},
		{netip.MustParseAddr("fe80::1%eth0"), netip.MustParseAddr("fe80::1")},
		{netip.MustParseAddr("::ffff:192.0.2.1%eth0"), netip.MustParseAddr("192.0.2.1")},
		{netip.MustParseAddr("::1"), netip.MustParseAddr("::1")},
		{netip.Addr{}, netip.Addr{}},
	}
	for _, tc := range tests {
		t.Run(tc.in.String(), func(t *testing.T) {
			got := Normalize(tc.in)
			if got != tc.want {
				t.Errorf("got %v, want %v", got, tc.want)
			}
			if again := Normalize(got); again != got {
				t.Errorf("got %v on second pass, want %v (idempotent)", again, got)
			}
		})
	}
}

// TestClientIPRemoteAddr covers parsing of RemoteAddr when no proxy is
// trusted (requirement 1).
func TestClientIPRemoteAddr(t *testing.T) {
	run(t, Resolver{}, []testCase{
		{name: "ipv4 with port", remoteAddr: "192.0.2.1:1234", want: "192.0.2.1"},
		{name: "ipv6 with port", remoteAddr: "[2001:db8::1]:443", want: "2001:db8::1"},
		{name: "bare ipv4", remoteAddr: "192.0.2.1", want: "192.0.2.1"},
		{name: "bare ipv6", remoteAddr: "2001:db8::1", want: "2001:db8::1"},
		{name: "bare ipv6 ending in digits is not host:port", remoteAddr: "2001:db8::1:80", want: "2001:db8::1:80"},
		{name: "ipv4-mapped ipv6 is unmapped", remoteAddr: "[::ffff:192.0.2.1]:80", want: "192.0.2.1"},
		{name: "bare ipv4-mapped ipv6 is unmapped", remoteAddr: "::ffff:192.0.2.1", want: "192.0.2.1"},
		{name: "zone is dropped", remoteAddr: "[fe80::1%eth0]:80", want: "fe80::1"},
		{name: "bare zoned ipv6", remoteAddr: "fe80::1%eth0", want: "fe80::1"},
		{name: "port zero", remoteAddr: "192.0.2.1:0", want: "192.0.2.1"},
		{name: "empty", remoteAddr: "", want: ""},
		{name: "hostname", remoteAddr: "client.example:80", want: ""},
		{name: "garbage", remoteAddr: "not an address", want: ""},
		{name: "port out of range", remoteAddr: "192.0.2.1:65536", want: ""},
		{name: "empty port", remoteAddr: "192.0.2.1:", want: ""},
		{name: "non-numeric port", remoteAddr: "192.0.2.1:http", want: ""},
		{name: "bracketed ipv6 without port", remoteAddr: "[2001:db8::1]", want: ""},
		{name: "bracketed ipv4", remoteAddr: "[192.0.2.1]:80", want: ""},
		{name: "unix socket", remoteAddr: "@", want: ""},
		{name: "ipv4 with leading zeros", remoteAddr: "192.000.2.1:80", want: ""},
	})
}

// spoofHeaders are header sets a client may send to impersonate another
// address. None of them may have any effect when the peer is not a trusted
// proxy (requirement 2).
var spoofHeaders = []struct {
	name   string
	header http.Header
}{
	{"no headers", nil},
	{"X-Forwarded-For", hdrXFF("203.0.113.9")},
	{"X-Forwarded-For chain", hdrXFF("203.0.113.9, 198.51.100.7")},
	{"X-Forwarded-For naming a trusted proxy", hdrXFF("10.0.0.1")},
	{"X-Forwarded-For lines", hdrXFF("203.0.113.9", "198.51.100.7")},
	{"X-Forwarded-For garbage", hdrXFF("unknown, ,\"")},
	{"X-Real-IP", http.Header{"X-Real-Ip": {"203.0.113.9"}}},
	{"Forwarded", hdrFwd("for=203.0.113.9")},
	{"Forwarded ipv6", hdrFwd(`for="[2001:db8::9]:4711"`)},
	{"Forwarded garbage", hdrFwd(`for="unterminated`)},
	{"True-Client-IP", http.Header{"True-Client-Ip": {"203.0.113.9"}}},
	{"CF-Connecting-IP", http.Header{"Cf-Connecting-Ip": {"203.0.113.9"}}},
	{"Fastly-Client-IP", http.Header{"Fastly-Client-Ip": {"203.0.113.9"}}},
	{"X-Client-IP", http.Header{"X-Client-Ip": {"203.0.113.9"}}},
	{"all at once", http.Header{
		"X-Forwarded-For":  {"203.0.113.9"},
		"X-Real-Ip":        {"203.0.113.10"},
		"Forwarded":        {"for=203.0.113.11"},
		"True-Client-Ip":   {"203.0.113.12"},
		"Cf-Connecting-Ip": {"203.0.113.13"},
	}},
}

// TestClientIPResolverSpoofing checks that forwarding headers are ignored unless the
// peer is a trusted proxy, for the zero resolver and for configured resolvers
// in both header modes, with IPv4 and IPv6 peers (requirement 2).
func TestClientIPResolverSpoofing(t *testing.T) {
	resolvers := []struct {
		name string
		r    Resolver
	}{
		{"zero value", Resolver{}},
		{"zero value forwarded", Resolver{forwarded: true}},
		{"no prefixes", mustResolver(t, nil, false)},
		{"trusted xff", mustResolver(t, testTrusted, false)},
		{"trusted forwarded", mustResolver(t, testTrusted, true)},
	}
	peers := []struct{ remoteAddr, want string }{
		{"192.0.2.1:1234", "192.0.2.1"},
		{"[2001:db8::1]:443", "2001:db8::1"},
		{"[::ffff:198.51.100.2]:80", "198.51.100.2"},
	}
	for _, rv := range resolvers {
		t.Run(rv.name, func(t *testing.T) {
			var cases []testCase
			for _, p := range peers {
				for _, h := range spoofHeaders {
					cases = append(cases, testCase{
						name:       p.remoteAddr + "/" + h.name,
						remoteAddr: p.remoteAddr,
						header:     h.header,
						want:       p.want,
					})
				}
			}
			run(t, rv.r, cases)
		})
	}
}

// TestClientIPXForwardedFor covers the X-Forwarded-For walk behind a trusted
// proxy (requirements 3, 4, 5 and 7).
func TestClientIPXForwardedFor(t *testing.T) {
	r := mustResolver(t, testTrusted, false)
	const proxy = "10.0.0.1:4000"
	run(t, r, []testCase{
		// Basic walk.
		{name: "single hop", remoteAddr: proxy, header: hdrXFF("192.0.2.1"), want: "192.0.2.1"},
		{name: "trusted hops are skipped", remoteAddr: proxy, header: hdrXFF("192.0.2.1, 10.0.0.2, 172.16.0.3"), want: "192.0.2.1"},
		{name: "rightmost untrusted wins over spoofed left", remoteAddr: proxy, header: hdrXFF("203.0.113.5, 192.0.2.1, 10.0.0.2"), want: "192.0.2.1"},
		{name: "spoofed trusted-looking left hop is not reached", remoteAddr: proxy, header: hdrXFF("10.9.9.9, 192.0.2.1"), want: "192.0.2.1"},
		{name: "ipv6 client", remoteAddr: proxy, header: hdrXFF("2001:db8::5"), want: "2001:db8::5"},
		{name: "ipv6 trusted peer", remoteAddr: "[fd00::1]:443", header: hdrXFF("198.51.100.4, fd00::2"), want: "198.51.100.4"},
		{name: "ipv4-mapped peer is trusted", remoteAddr: "[::ffff:10.0.0.1]:80", header: hdrXFF("192.0.2.1"), want: "192.0.2.1"},
		{name: "peer in mapped-configured prefix is trusted", remoteAddr: "192.168.1.1:80", header: hdrXFF("192.0.2.1"), want: "192.0.2.1"},
		{name: "bare peer", remoteAddr: "10.0.0.1", header: hdrXFF("192.0.2.1"), want: "192.0.2.1"},
		{name: "zoned trusted peer", remoteAddr: "[fd00::1%eth0]:443", header: hdrXFF("192.0.2.1"), want: "192.0.2.1"},

		// Multiple header lines form one list, in order.
		{name: "lines are one list", remoteAddr: proxy, header: hdrXFF("203.0.113.5", "192.0.2.1, 10.0.0.2"), want: "192.0.2.1"},
		{name: "walk crosses lines", remoteAddr: proxy, header: hdrXFF("192.0.2.1", "10.0.0.2", "10.0.0.3, 10.0.0.4"), want: "192.0.2.1"},
		{name: "last line wins", remoteAddr: proxy, header: hdrXFF("192.0.2.1", "198.51.100.1"), want: "198.51.100.1"},

		// Hop syntax and normalisation.
		{name: "ipv4 with port", remoteAddr: proxy, header: hdrXFF("192.0.2.1:4711"), want: "192.0.2.1"},
		{name: "ipv6 bracketed", remoteAddr: proxy, header: hdrXFF("[2001:db8::1]"), want: "2001:db8::1"},
		{name: "ipv6 bracketed with port", remoteAddr: proxy, header: hdrXFF("[2001:db8::1]:4711"), want: "2001:db8::1"},
		{name: "spaces and tabs", remoteAddr: proxy, header: hdrXFF(" \t192.0.2.1 \t,\t10.0.0.2  "), want: "192.0.2.1"},
		{name: "no spaces", remoteAddr: proxy, header: hdrXFF("192.0.2.1,10.0.0.2"), want: "192.0.2.1"},
		{name: "ipv4-mapped hop is unmapped", remoteAddr: proxy, header: hdrXFF("::ffff:192.0.2.1"), want: "192.0.2.1"},
		{name: "ipv4-mapped bracketed hop with port", remoteAddr: proxy, header: hdrXFF("[::ffff:192.0.2.1]:80"), want: "192.0.2.1"},
		{name: "ipv4-mapped trusted hop is skipped", remoteAddr: proxy, header: hdrXFF("192.0.2.1, ::ffff:10.0.0.2"), want: "192.0.2.1"},
		{name: "hop in mapped-configured prefix is skipped", remoteAddr: proxy, header: hdrXFF("192.0.2.1, 192.168.0.9"), want: "192.0.2.1"},
		{name: "garbage left of client is ignored", remoteAddr: proxy, header: hdrXFF("unknown, not-an-ip,, 192.0.2.1, 10.0.0.2"), want: "192.0.2.1"},

		// Garbage before an untrusted valid hop: no IP identity.
		{name: "unknown", remoteAddr: proxy, header: hdrXFF("unknown"), want: ""},
		{name: "unknown after trusted hop", remoteAddr: proxy, header: hdrXFF("192.0.2.1, unknown, 10.0.0.2"), want: ""},
		{name: "obfuscated", remoteAddr: proxy, header: hdrXFF("192.0.2.1, _hidden"), want: ""},
		{name: "hostname", remoteAddr: proxy, header: hdrXFF("client.example"), want: ""},
		{name: "empty entry", remoteAddr: proxy, header: hdrXFF("192.0.2.1,,10.0.0.2"), want: ""},
		{name: "blank entry", remoteAddr: proxy, header: hdrXFF("192.0.2.1, \t ,10.0.0.2"), want: ""},
		{name: "trailing comma", remoteAddr: proxy, header: hdrXFF("192.0.2.1,"), want: ""},
		{name: "empty line", remoteAddr: proxy, header: hdrXFF("192.0.2.1", ""), want: ""},
		{name: "zoned hop", remoteAddr: proxy, header: hdrXFF("192.0.2.1, fe80::1%eth0"), want: ""},
		{name: "zoned bracketed hop", remoteAddr: proxy, header: hdrXFF("[fe80::1%eth0]:80"), want: ""},
		{name: "port out of range", remoteAddr: proxy, header: hdrXFF("192.0.2.1:65536"), want: ""},
		{name: "six digit port", remoteAddr: proxy, header: hdrXFF("192.0.2.1:000080"), want: ""},
		{name: "empty port", remoteAddr: proxy, header: hdrXFF("192.0.2.1:"), want: ""},
		{name: "obfuscated port is not allowed in X-Forwarded-For", remoteAddr: proxy, header: hdrXFF("192.0.2.1:_p"), want: ""},
		{name: "two ports", remoteAddr: proxy, header: hdrXFF("192.0.2.1:80:80"), want: ""},
		{name: "bracketed ipv4", remoteAddr: proxy, header: hdrXFF("[192.0.2.1]"), want: ""},
		{name: "unterminated bracket", remoteAddr: proxy, header: hdrXFF("[2001:db8::1"), want: ""},
		{name: "junk after bracket", remoteAddr: proxy, header: hdrXFF("[2001:db8::1]x"), want: ""},
		{name: "leading zeros", remoteAddr: proxy, header: hdrXFF("192.000.2.1"), want: ""},
		{name: "quoted", remoteAddr: proxy, header: hdrXFF(`"192.0.2.1"`), want: ""},
		{name: "Forwarded syntax in X-Forwarded-For", remoteAddr: proxy, header: hdrXFF("for=192.0.2.1"), want: ""},
		{name: "inner space", remoteAddr: proxy, header: hdrXFF("192.0.2 .1"), want: ""},

		// No usable header.
		{name: "no header", remoteAddr: proxy, header: nil, want: ""},
		{name: "only trusted hops", remoteAddr: proxy, header: hdrXFF("10.0.0.2, 172.16.0.1", "fd00::3"), want: ""},
		{name: "X-Real-IP is never read", remoteAddr: proxy, header: http.Header{"X-Real-Ip": {"192.0.2.1"}}, want: ""},
		{name: "True-Client-IP is never read", remoteAddr: proxy, header: http.Header{"True-Client-Ip": {"192.0.2.1"}}, want: ""},
		{name: "CF-Connecting-IP is never read", remoteAddr: proxy, header: http.Header{"Cf-Connecting-Ip": {"192.0.2.1"}}, want: ""},
		{name: "Forwarded is not read in X-Forwarded-For mode", remoteAddr: proxy, header: hdrFwd("for=192.0.2.1"), want: ""},
		{name: "unparseable peer", remoteAddr: "proxy.internal:80", header: hdrXFF("192.0.2.1"), want: ""},

		// Bounds (requirement 7).
		{name: "client at hop 32", remoteAddr: proxy, header: hdrXFF("192.0.2.1, " + repeat("10.0.0.2", ", ", 31)), want: "192.0.2.1"},
		{name: "client at hop 33", remoteAddr: proxy, header: hdrXFF("192.0.2.1, " + repeat("10.0.0.2", ", ", 32)), want: ""},
		{name: "client at hop 33 across lines", remoteAddr: proxy, header: hdrXFF("192.0.2.1", repeat("10.0.0.2", ",", 16), repeat("10.0.0.3", ",", 16)), want: ""},
		{name: "many trusted hops", remoteAddr: proxy, header: hdrXFF(repeat("10.0.0.2", ",", 10000)), want: ""},
		{name: "many trusted lines", remoteAddr: proxy, header: hdrXFF(strings.Split(repeat("10.0.0.2", "\n", 1000), "\n")...), want: ""},
		{name: "huge spoofed prefix", remoteAddr: proxy, header: hdrXFF(repeat("203.0.113.5", ",", 100000) + ", 192.0.2.1, 10.0.0.2"), want: "192.0.2.1"},
		{name: "huge single hop", remoteAddr: proxy, header: hdrXFF(strings.Repeat("1", 1<<20)), want: ""},
	})
}

// TestClientIPForwarded covers the RFC 7239 Forwarded walk behind a trusted
// proxy (requirements 3, 4, 6 and 7).
func TestClientIPForwarded(t *testing.T) {
	r := mustResolver(t, testTrusted, true)
	const proxy = "10.0.0.1:4000"
	run(t, r, []testCase{
		// RFC 7239 examples and the basic walk.
		{name: "rfc example obfuscated identifier", remoteAddr: proxy, header: hdrFwd(`for="_gazonk"`), want: ""},
		{name: "rfc example quoted ipv6 with port", remoteAddr: proxy, header: hdrFwd(`For="[2001:db8:cafe::17]:4711"`), want: "2001:db8:cafe::17"},
		{name: "rfc example with proto and by", remoteAddr: proxy, header: hdrFwd("for=192.0.2.60;proto=http;by=203.0.113.43"), want: "192.0.2.60"},
		{name: "rfc example two elements", remoteAddr: proxy, header: hdrFwd("for=192.0.2.43, for=198.51.100.17"), want: "198.51.100.17"},
		{name: "trusted element is skipped", remoteAddr: proxy, header: hdrFwd("for=192.0.2.43, for=10.0.0.2;by=10.0.0.1"), want: "192.0.2.43"},
		{name: "lines are one list", remoteAddr: proxy, header: hdrFwd("for=203.0.113.1", "for=192.0.2.43, for=10.0.0.2", "for=172.16.0.1"), want: "192.0.2.43"},
		{name: "ipv6 trusted peer", remoteAddr: "[fd00::1]:443", header: hdrFwd(`for="[2001:db8::7]"`), want: "2001:db8::7"},

		// Parameter syntax.
		{name: "parameter names are case-insensitive", remoteAddr: proxy, header: hdrFwd("FOR=192.0.2.1"), want: "192.0.2.1"},
		{name: "for is not first", remoteAddr: proxy, header: hdrFwd("proto=https;host=example.com;for=192.0.2.1"), want: "192.0.2.1"},
		{name: "by is ignored", remoteAddr: proxy, header: hdrFwd("by=192.0.2.99;for=198.51.100.1"), want: "198.51.100.1"},
		{name: "extension parameter is ignored", remoteAddr: proxy, header: hdrFwd("ext-param=x;for=192.0.2.1"), want: "192.0.2.1"},
		{name: "quoted ipv4", remoteAddr: proxy, header: hdrFwd(`for="192.0.2.1"`), want: "192.0.2.1"},
		{name: "quoted ipv4 with port", remoteAddr: proxy, header: hdrFwd(`for="192.0.2.1:8080"`), want: "192.0.2.1"},
		{name: "quoted ipv6 without port", remoteAddr: proxy, header: hdrFwd(`for="[2001:db8::1]"`), want: "2001:db8::1"},
		{name: "obfuscated port", remoteAddr: proxy, header: hdrFwd(`for="[2001:db8::1]:_abc-1.x"`), want: "2001:db8::1"},
		{name: "obfuscated port on ipv4", remoteAddr: proxy, header: hdrFwd(`for="192.0.2.1:_p"`), want: "192.0.2.1"},
		{name: "backslash escapes", remoteAddr: proxy, header: hdrFwd(`for="\[2001:db8::\1]:47\11"`), want: "2001:db8::1"},
		{name: "comma inside quoted value does not split", remoteAddr: proxy, header: hdrFwd(`for=192.0.2.1;host="a,for=203.0.113.1", for=10.0.0.2`), want: "192.0.2.1"},
		{name: "semicolon inside quoted value does not split", remoteAddr: proxy, header: hdrFwd(`host="x;for=203.0.113.1";for=192.0.2.1`), want: "192.0.2.1"},
		{name: "escaped quote inside quoted value", remoteAddr: proxy, header: hdrFwd(`for=192.0.2.1;host="a\",b", for=10.0.0.2`), want: "192.0.2.1"},
		{name: "escaped backslash before closing quote", remoteAddr: proxy, header: hdrFwd(`for=192.0.2.1;host="a\\", for=10.0.0.2`), want: "192.0.2.1"},
		{name: "whitespace around elements and pairs", remoteAddr: proxy, header: hdrFwd(" for=192.0.2.1 ; proto=http\t,\tfor=10.0.0.2 "), want: "192.0.2.1"},
		{name: "empty pairs", remoteAddr: proxy, header: hdrFwd(";for=192.0.2.1;;proto=http;"), want: "192.0.2.1"},
		{name: "lenient unquoted port", remoteAddr: proxy, header: hdrFwd("for=192.0.2.1:8080"), want: "192.0.2.1"},
		{name: "lenient unquoted bracketed ipv6", remoteAddr: proxy, header: hdrFwd("for=[2001:db8::1]:8080"), want: "2001:db8::1"},
		{name: "lenient unbracketed ipv6", remoteAddr: proxy, header: hdrFwd(`for="2001:db8::1"`), want: "2001:db8::1"},
		{name: "ipv4-mapped node is unmapped", remoteAddr: proxy, header: hdrFwd(`for="[::ffff:192.0.2.1]"`), want: "192.0.2.1"},
		{name: "ipv4-mapped trusted node is skipped", remoteAddr: proxy, header: hdrFwd(`for=192.0.2.1, for="[::ffff:10.0.0.2]"`), want: "192.0.2.1"},
		{name: "garbage left of client is ignored", remoteAddr: proxy, header: hdrFwd("for=unknown, proto=http, ,for=192.0.2.1"), want: "192.0.2.1"},
		{name: "unterminated quote left of client is ignored", remoteAddr: proxy, header: hdrFwd(`for="oops, for=192.0.2.1`), want: "192.0.2.1"},
		{name: "unterminated quote in earlier line is ignored", remoteAddr: proxy, header: hdrFwd(`for="oops`, "for=192.0.2.1"), want: "192.0.2.1"},

		// Garbage before an untrusted valid hop: no IP identity.
		{name: "unknown", remoteAddr: proxy, header: hdrFwd("for=unknown"), want: ""},
		{name: "unknown after trusted", remoteAddr: proxy, header: hdrFwd("for=192.0.2.1, for=unknown, for=10.0.0.2"), want: ""},
		{name: "obfuscated node", remoteAddr: proxy, header: hdrFwd("for=192.0.2.1, for=_hidden"), want: ""},
		{name: "obfuscated node with port", remoteAddr: proxy, header: hdrFwd(`for="_hidden:_port"`), want: ""},
		{name: "element without for", remoteAddr: proxy, header: hdrFwd("for=192.0.2.1, proto=https;by=10.0.0.1"), want: ""},
		{name: "empty element", remoteAddr: proxy, header: hdrFwd("for=192.0.2.1,,for=10.0.0.2"), want: ""},
		{name: "trailing comma", remoteAddr: proxy, header: hdrFwd("for=192.0.2.1,"), want: ""},
		{name: "empty line", remoteAddr: proxy, header: hdrFwd("for=192.0.2.1", ""), want: ""},
		{name: "for twice", remoteAddr: proxy, header: hdrFwd("for=192.0.2.1;for=192.0.2.2"), want: ""},
		{name: "empty for", remoteAddr: proxy, header: hdrFwd("for="), want: ""},
		{name: "empty quoted for", remoteAddr: proxy, header: hdrFwd(`for=""`), want: ""},
		{name: "empty other value", remoteAddr: proxy, header: hdrFwd("proto=;for=192.0.2.1"), want: ""},
		{name: "missing equals", remoteAddr: proxy, header: hdrFwd("for"), want: ""},
		{name: "space around equals", remoteAddr: proxy, header: hdrFwd("for = 192.0.2.1"), want: ""},
		{name: "junk after value", remoteAddr: proxy, header: hdrFwd("for=192.0.2.1 x"), want: ""},
		{name: "unterminated quote", remoteAddr: proxy, header: hdrFwd(`for="192.0.2.1`), want: ""},
		{name: "unterminated quote after trusted", remoteAddr: proxy, header: hdrFwd(`for="192.0.2.1, for=10.0.0.2`), want: ""},
		{name: "stray closing quote", remoteAddr: proxy, header: hdrFwd(`for=192.0.2.1"`), want: ""},
		{name: "junk after closing quote", remoteAddr: proxy, header: hdrFwd(`for="192.0.2.1"x`), want: ""},
		{name: "escaped closing quote", remoteAddr: proxy, header: hdrFwd(`for="192.0.2.1\"`), want: ""},
		{name: "control character in quotes", remoteAddr: proxy, header: hdrFwd("for=\"192.0.2.1\x01\""), want: ""},
		{name: "control character after backslash", remoteAddr: proxy, header: hdrFwd("for=\"192.0.2.1\\\x01\""), want: ""},
		{name: "zoned ipv6", remoteAddr: proxy, header: hdrFwd(`for="[fe80::1%25eth0]"`), want: ""},
		{name: "unquoted zoned ipv6", remoteAddr: proxy, header: hdrFwd("for=fe80::1%eth0"), want: ""},
		{name: "bracketed ipv4", remoteAddr: proxy, header: hdrFwd(`for="[192.0.2.1]"`), want: ""},
		{name: "bad port", remoteAddr: proxy, header: hdrFwd(`for="[2001:db8::1]:bad"`), want: ""},
		{name: "bare obfuscated port underscore", remoteAddr: proxy, header: hdrFwd(`for="192.0.2.1:_"`), want: ""},
		{name: "bad obfuscated port", remoteAddr: proxy, header: hdrFwd(`for="192.0.2.1:_a/b"`), want: ""},
		{name: "hostname", remoteAddr: proxy, header: hdrFwd("for=client.example"), want: ""},
		{name: "plain X-Forwarded-For syntax", remoteAddr: proxy, header: hdrFwd("192.0.2.1"), want: ""},

		// No usable header.
		{name: "no header", remoteAddr: proxy, header: nil, want: ""},
		{name: "only trusted elements", remoteAddr: proxy, header: hdrFwd("for=10.0.0.2", `for="[fd00::1]:80", for=172.16.0.1`), want: ""},
		{name: "X-Forwarded-For is not read in Forwarded mode", remoteAddr: proxy, header: hdrXFF("192.0.2.1"), want: ""},
		{name: "X-Real-IP is never read", remoteAddr: proxy, header: http.Header{"X-Real-Ip": {"192.0.2.1"}}, want: ""},

		// Bounds (requirement 7).
		{name: "client at hop 32", remoteAddr: proxy, header: hdrFwd("for=192.0.2.1, " + repeat("for=10.0.0.2", ", ", 31)), want: "192.0.2.1"},
		{name: "client at hop 33", remoteAddr: proxy, header: hdrFwd("for=192.0.2.1, " + repeat("for=10.0.0.2", ", ", 32)), want: ""},
		{name: "many trusted hops", remoteAddr: proxy, header: hdrFwd(repeat(`for="[fd00::2]:1"`, ",", 10000)), want: ""},
		{name: "huge spoofed prefix", remoteAddr: proxy, header: hdrFwd(repeat(`for="x,\"y`, ",", 100000) + ", for=192.0.2.1"), want: "192.0.2.1"},
		{name: "huge quoted string", remoteAddr: proxy, header: hdrFwd(`for="` + strings.Repeat(`\"`, 1<<18) + `"`), want: ""},
		{name: "huge backslash run", remoteAddr: proxy, header: hdrFwd(strings.Repeat(`\`, 1<<18) + `"x"`), want: ""},
	})
}

// TestClientIPNilRequest checks that a nil request yields ok=false rather
// than a panic.
func TestClientIPNilRequest(t *testing.T) {
	for _, forwarded := range []bool{false, true} {
		r := mustResolver(t, testTrusted, forwarded)
		if got, ok := r.ClientIP(nil); ok || got.IsValid() {
			t.Errorf("got %v (ok=%v), want ok=false", got, ok)
		}
	}
}

// TestFwdLastElement checks the right-to-left element splitter directly.
func TestFwdLastElement(t *testing.T) {
	tests := []struct {
		in         string
		elem, rest string
		more, ok   bool
	}{
		{in: "", elem: "", rest: "", more: false, ok: true},
		{in: "a=b", elem: "a=b", more: false, ok: true},
		{in: "a=b, c=d", elem: " c=d", rest: "a=b", more: true, ok: true},
		{in: `a="x,y"`, elem: `a="x,y"`, more: false, ok: true},
		{in: `a=b,c="x\",y"`, elem: `c="x\",y"`, rest: "a=b", more: true, ok: true},
		{in: `a=b,c="x\\",d`, elem: "d", rest: `a=b,c="x\\"`, more: true, ok: true},
		{in: `a=b,c="x\\"`, elem: `c="x\\"`, rest: "a=b", more: true, ok: true},
		{in: `a=b,c=x"`, elem: `a=b,c=x"`, more: false, ok: false},
		{in: `x"`, elem: `x"`, more: false, ok: false},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			elem, rest, more, ok := lastElement(tc.in)
			if ok != tc.ok || more != tc.more {
				t.Fatalf("got more=%v ok=%v, want more=%v ok=%v", more, ok, tc.more, tc.ok)
			}
			if elem != tc.elem || rest != tc.rest {
				t.Errorf("got %q, %q, want %q, %q", elem, rest, tc.elem, tc.rest)
			}
		})
	}
}

// TestClientIPAllocations pins the allocation-light behaviour: none of the
// common paths allocate (requirement 8).
func TestClientIPAllocations(t *testing.T) {
	if testing.CoverMode() != "" {
		t.Skip("coverage instrumentation changes allocation counts")
	}
	for _, bc := range benchCases(t) {
		t.Run(bc.name, func(t *testing.T) {
			var ok bool
			allocs := testing.AllocsPerRun(100, func() { _, ok = bc.r.ClientIP(bc.req) })
			if !ok {
				t.Fatalf("got ok=%v, want true", ok)
			}
			if allocs != 0 {
				t.Errorf("got %v allocs/op, want %v", allocs, 0)
			}
		})
	}
}

// benchCase is one benchmark scenario.
type benchCase struct {
	name string
	r    Resolver
	req  *http.Request
	want netip.Addr
}

// benchCases returns the benchmark scenarios: an untrusted direct peer,
// a trusted proxy with a three-hop X-Forwarded-For, and a trusted proxy with
// a two-element Forwarded header using quoting and ports.
func benchCases(tb testing.TB) []benchCase {
	xffR := mustResolver(tb, testTrusted, false)
	r := mustResolver(tb, testTrusted, true)
	return []benchCase{
		{
			name: "direct",
			r:    xffR,
			req:  request("192.0.2.1:52100", hdrXFF("203.0.113.9")),
			want: netip.MustParseAddr("192.0.2.1"),
		},
		{
			name: "xff-3-hops",
			r:    xffR,
			req:  request("10.0.0.1:52100", hdrXFF("192.0.2.1, 10.0.0.2, 10.0.0.3")),
			want: netip.MustParseAddr("192.0.2.1"),
		},
		{
			name: "forwarded",
			r:    r,
			req:  request("10.0.0.1:52100", hdrFwd(`for="[2001:db8:cafe::17]:4711";proto=https, for=10.0.0.2;by=10.0.0.1`)),
			want: netip.MustParseAddr("2001:db8:cafe::17"),
		},
	}
}

func BenchmarkClientIP(b *testing.B) {
	for _, bc := range benchCases(b) {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			var got netip.Addr
			var ok bool
			for i := 0; i < b.N; i++ {
				got, ok = bc.r.ClientIP(bc.req)
			}
			if !ok || got != bc.want {
				b.Fatalf("got %v (ok=%v), want %v", got, ok, bc.want)
			}
		})
	}
}

// fuzzCheck runs ClientIP on a request built from remoteAddr and header
// (split on '\n' into field lines of headerName) and checks the invariants
// shared by both fuzz targets. It returns the result.
func fuzzCheck(t *testing.T, r Resolver, headerName, remoteAddr, header string) (netip.Addr, bool) {
	t.Helper()
	h := http.Header{headerName: strings.Split(header, "\n")}
	// Unconfigured headers carry the same payload; they must never matter.
	for _, other := range []string{"X-Forwarded-For", "Forwarded", "X-Real-Ip", "True-Client-Ip", "Cf-Connecting-Ip"} {
		if other != headerName {
			h[other] = []string{header}
		}
	}
	req := request(remoteAddr, h)
	got, ok := r.ClientIP(req)
	checkInvariant(t, r, got, ok)
	if got2, ok2 := r.ClientIP(req); got2 != got || ok2 != ok {
		t.Fatalf("second call got %v (ok=%v), want %v (ok=%v)", got2, ok2, got, ok)
	}
	if ok && got.Is4() && netip.MustParsePrefix("192.168.0.0/16").Contains(got) {
		t.Fatalf("got %v, inside the IPv4-mapped trusted prefix ::ffff:192.168.0.0/112", got)
	}
	peer, peerOK := parsePeer(remoteAddr)
	switch {
	case !peerOK:
		if ok {
			t.Fatalf("got %v (ok=%v) for unparseable RemoteAddr %q, want ok=false", got, ok, remoteAddr)
		}
	case !r.trusts(peer):
		if !ok || got != peer {
			t.Fatalf("got %v (ok=%v), want untrusted peer %v", got, ok, peer)
		}
		if z, zok := (Resolver{forwarded: r.forwarded}).ClientIP(req); !zok || z != peer {
			t.Fatalf("zero resolver got %v (ok=%v), want peer %v", z, zok, peer)
		}
	}
	return got, ok
}

// fuzzSeeds are (remoteAddr, header) pairs shared by both fuzz targets.
var fuzzSeeds = [][2]string{
	{"10.0.0.1:1234", "192.0.2.1, 10.0.0.2"},
	{"192.0.2.1:1234", "203.0.113.9"},
	{"[fd00::1]:443", "[2001:db8::1]:4711, fd00::2"},
	{"10.0.0.1", "unknown, 192.0.2.1"},
	{"[::ffff:10.0.0.1]:80", "::ffff:192.168.1.1"},
	{"10.0.0.1:1", "for=192.0.2.60;proto=http;by=203.0.113.43"},
	{"10.0.0.1:1", `for="[2001:db8:cafe::17]:4711", for=10.0.0.2`},
	{"10.0.0.1:1", "for=192.0.2.43\nfor=198.51.100.17, for=_hidden"},
	{"10.0.0.1:1", `host="a,\"b";for=192.0.2.1, for="x\\"`},
	{"10.0.0.1:1", `for="unterminated, for=192.0.2.1`},
	{"[fe80::1%eth0]:80", "fe80::2%eth0"},
}

func FuzzXForwardedFor(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add(s[0], s[1])
	}
	r := mustResolver(f, testTrusted, false)
	f.Fuzz(func(t *testing.T, remoteAddr, header string) {
		got, ok := fuzzCheck(t, r, "X-Forwarded-For", remoteAddr, header)

		// Differential check against a naive split-everything walk.
		peer, peerOK := parsePeer(remoteAddr)
		if peerOK && r.trusts(peer) {
			var hops []string
			for _, line := range strings.Split(header, "\n") {
				hops = append(hops, strings.Split(line, ",")...)
			}
			var want netip.Addr
			wantOK := false
			for i, n := len(hops)-1, 0; i >= 0 && n < maxHops; i, n = i-1, n+1 {
				a, aok := parseNode(strings.Trim(hops[i], " \t"), false)
				if !aok {
					break
				}
				if !r.trusts(a) {
					want, wantOK = a, true
					break
				}
			}
			if got != want || ok != wantOK {
				t.Fatalf("got %v (ok=%v), want %v (ok=%v) from naive walk", got, ok, want, wantOK)
			}

			// Whatever a client sent, a hop appended by a trusted proxy wins.
			for _, tail := range []string{", 198.51.100.77", ",198.51.100.77, 10.0.0.9", "\n[2001:db8::77]:1"} {
				a, aok := r.ClientIP(request(remoteAddr, hdrXFF(strings.Split(header+tail, "\n")...)))
				if !aok || !(a == netip.MustParseAddr("198.51.100.77") || a == netip.MustParseAddr("2001:db8::77")) {
					t.Fatalf("got %v (ok=%v) after appending %q, want the appended client", a, aok, tail)
				}
			}
		}
	})
}

func FuzzForwarded(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add(s[0], s[1])
	}
	r := mustResolver(f, testTrusted, true)
	f.Fuzz(func(t *testing.T, remoteAddr, header string) {
		fuzzCheck(t, r, "Forwarded", remoteAddr, header)

		// Whatever a client sent, an element appended by a trusted proxy wins,
		// even after unbalanced quotes or stray backslashes.
		peer, peerOK := parsePeer(remoteAddr)
		if peerOK && r.trusts(peer) {
			for _, tail := range []string{
				", for=198.51.100.77",
				`, for="[2001:db8::77]:4711";proto=https, for=10.0.0.9`,
				"\nFor=198.51.100.77;by=10.0.0.1",
			} {
				a, aok := r.ClientIP(request(remoteAddr, hdrFwd(strings.Split(header+tail, "\n")...)))
				if !aok || !(a == netip.MustParseAddr("198.51.100.77") || a == netip.MustParseAddr("2001:db8::77")) {
					t.Fatalf("got %v (ok=%v) after appending %q, want the appended client", a, aok, tail)
				}
			}
		}
	})
}
