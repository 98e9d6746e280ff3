package clientip

import (
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// maxHops is the maximum number of forwarding-list hops ClientIP examines,
// counted from the right-hand (most recently appended) end of the list. A
// list whose client lies further left than that yields no client address.
const maxHops = 32

// Canonical names of the forwarding headers ClientIP can read.
const (
	// headerXForwardedFor is the de-facto standard X-Forwarded-For header.
	headerXForwardedFor = "X-Forwarded-For"
	// headerForwarded is the RFC 7239 Forwarded header.
	headerForwarded = "Forwarded"
)

// Resolver derives the client address of a request. The zero value trusts no proxy.
//
// The peer of the connection (http.Request.RemoteAddr) is the client unless it
// lies inside one of the trusted prefixes. Only then is the configured
// forwarding header consulted, walking it from the right and skipping trusted
// hops; the first untrusted hop is the client. Any other forwarding header
// (X-Real-IP, True-Client-IP, CF-Connecting-IP, and whichever of
// X-Forwarded-For/Forwarded is not configured) is never read.
type Resolver struct {
	trusted   []netip.Prefix // peers (and forwarding-list hops) whose forwarding headers are believed; stored Masked()
	forwarded bool           // true: read RFC 7239 "Forwarded"; false: read "X-Forwarded-For"
	unix      bool           // trust the peer of a request that came over a unix socket
}

// New validates and copies the prefixes (an invalid prefix is an error starting with "statsigmw: " and quoting the value with %q). IPv4-mapped IPv6 prefixes like ::ffff:10.0.0.0/104 are normalised to their IPv4 form.
//
// Every stored prefix is Masked(). IPv4-mapped prefixes of length /96 or more
// become the equivalent IPv4 prefix (::ffff:10.0.0.0/104 -> 10.0.0.0/8), since
// ClientIP compares normalised (unmapped) addresses. Shorter IPv6 prefixes are
// kept as IPv6 and therefore never match an IPv4 address; that direction can
// only make the resolver trust less, never more.
//
// With trustUnix, the peer of a request that arrived on a unix socket
// listener (http.LocalAddrContextKey holds an address of network "unix")
// is a trusted proxy: such a peer has no IP address to match a prefix.
func New(trusted []netip.Prefix, forwarded, trustUnix bool) (Resolver, error) {
	r := Resolver{forwarded: forwarded, unix: trustUnix}
	if len(trusted) == 0 {
		return r, nil
	}
	r.trusted = make([]netip.Prefix, 0, len(trusted))
	for i, p := range trusted {
		if !p.IsValid() {
			return Resolver{}, fmt.Errorf("statsigmw: invalid trusted proxy prefix %q at index %d", p.String(), i)
		}
		if a := p.Addr(); a.Is4In6() && p.Bits() >= 96 {
			p = netip.PrefixFrom(a.Unmap(), p.Bits()-96)
		}
		r.trusted = append(r.trusted, p.Masked())
	}
	return r, nil
}

// ClientIP returns the client's address, or ok=false when no trustworthy client address exists.
//
// A returned address is always valid, normalised by Normalize and outside
// every trusted prefix. ok is false when RemoteAddr cannot be parsed, when the
// peer is trusted but the configured header is absent, lists only trusted hops,
// has a malformed or anonymised hop ("unknown", "_hidden", empty entry, zoned
// IP, bad quoting) to the right of the first untrusted hop, or would need more
// than maxHops hops to be walked.
func (r Resolver) ClientIP(req *http.Request) (addr netip.Addr, ok bool) {
	addr, _, ok = r.Resolve(req)
	return addr, ok
}

// Resolve is ClientIP that also reports whether the address is the peer's
// own (the peer is not trusted): then it depends on req.RemoteAddr alone, and
// a caller may remember it for that RemoteAddr.
func (r Resolver) Resolve(req *http.Request) (addr netip.Addr, peer, ok bool) {
	if req == nil {
		return netip.Addr{}, false, false
	}
	p, ok := parsePeer(req.RemoteAddr)
	switch {
	case !ok && !(r.unix && overUnixSocket(req)):
		return netip.Addr{}, false, false
	case ok && !r.trusts(p):
		return p, true, true
	}
	if r.forwarded {
		addr, ok = r.walkForwarded(req.Header.Values(headerForwarded))
	} else {
		addr, ok = r.walkXForwardedFor(req.Header.Values(headerXForwardedFor))
	}
	return addr, false, ok
}

// overUnixSocket reports whether req arrived on a unix socket listener.
func overUnixSocket(req *http.Request) bool {
	a, ok := req.Context().Value(http.LocalAddrContextKey).(net.Addr)
	return ok && a != nil && (a.Network() == "unix" || a.Network() == "unixpacket")
}

// Normalize unmaps IPv4-mapped IPv6 (::ffff:a.b.c.d -> a.b.c.d) and drops any IPv6 zone.
func Normalize(a netip.Addr) netip.Addr {
	return a.Unmap().WithZone("")
}

// trusts reports whether a lies inside one of the trusted prefixes.
func (r Resolver) trusts(a netip.Addr) bool {
	for _, p := range r.trusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// walk walks forwarding field lines as one comma-separated list from the
// right and returns the first untrusted hop. last splits the rightmost item
// off a line (ok false for a malformed line); parse reads an item's address.
// It looks at no more than maxHops items and never splits whole lines.
func (r Resolver) walk(lines []string,
	last func(line string) (item, rest string, more, ok bool),
	parse func(item string) (netip.Addr, bool),
) (netip.Addr, bool) {
	hops := 0
	for i := len(lines) - 1; i >= 0; i-- {
		rest := lines[i]
		for more := true; more; {
			if hops == maxHops {
				return netip.Addr{}, false
			}
			hops++
			var item string
			var ok bool
			if item, rest, more, ok = last(rest); !ok {
				return netip.Addr{}, false
			}
			a, ok := parse(item)
			if !ok {
				return netip.Addr{}, false
			}
			if !r.trusts(a) {
				return a, true
			}
		}
	}
	return netip.Addr{}, false
}

// walkXForwardedFor walks the X-Forwarded-For field lines (see walk).
func (r Resolver) walkXForwardedFor(lines []string) (netip.Addr, bool) {
	return r.walk(lines, xffLastHop, xffParseHop)
}

// xffLastHop splits the rightmost comma-separated hop off s.
func xffLastHop(s string) (hop, rest string, more, ok bool) {
	if j := strings.LastIndexByte(s, ','); j >= 0 {
		return s[j+1:], s[:j], true, true
	}
	return s, "", false, true
}

// xffParseHop reads an X-Forwarded-For hop: an IP, with an optional port,
// surrounded by optional whitespace.
func xffParseHop(hop string) (netip.Addr, bool) {
	return parseNode(trimOWS(hop), false)
}

// walkForwarded walks the RFC 7239 Forwarded field lines as one
// comma-separated list of forwarded-elements from the right and returns the
// for= node of the first element whose node is untrusted. Each field line is
// tokenised on its own, from its right end, so a malformed (for example
// unterminated) quoted-string to the left of the client's element, which is
// where client-supplied values sit, cannot hide the elements appended by the
// trusted proxies.
func (r Resolver) walkForwarded(lines []string) (netip.Addr, bool) {
	return r.walk(lines, lastElement, parseElement)
}

// parsePeer parses http.Request.RemoteAddr: "ip:port", "[ipv6]:port"
// (optionally with a zone) or a bare IP. The result is normalised. The
// syntax is chosen up front so that well-formed input never allocates an
// error value.
func parsePeer(s string) (netip.Addr, bool) {
	if strings.HasPrefix(s, "[") || strings.Count(s, ":") == 1 {
		ap, err := netip.ParseAddrPort(s)
		if err != nil {
			return netip.Addr{}, false
		}
		return Normalize(ap.Addr()), true
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Addr{}, false
	}
	return Normalize(a), true
}

// parseNode parses one forwarding hop: "ip", "ipv4:port", "[ipv6]" or
// "[ipv6]:port". An unbracketed string with more than one colon is taken as
// a bare IPv6 address. Addresses with a zone, bracketed IPv4 and invalid
// ports are rejected. When obfPort is true an RFC 7239 obfuscated port
// ("_abc") is accepted in place of a numeric one. The result is normalised.
func parseNode(s string, obfPort bool) (netip.Addr, bool) {
	if s == "" {
		return netip.Addr{}, false
	}
	var host, port string
	hasPort, wantV6 := false, false
	switch {
	case s[0] == '[':
		end := strings.IndexByte(s, ']')
		if end < 0 {
			return netip.Addr{}, false
		}
		host, wantV6 = s[1:end], true
		if rest := s[end+1:]; rest != "" {
			if rest[0] != ':' {
				return netip.Addr{}, false
			}
			port, hasPort = rest[1:], true
		}
	case strings.Count(s, ":") == 1:
		i := strings.IndexByte(s, ':')
		host, port, hasPort = s[:i], s[i+1:], true
	default:
		host = s
	}
	if hasPort && !validPort(port, obfPort) {
		return netip.Addr{}, false
	}
	a, err := netip.ParseAddr(host)
	if err != nil || a.Zone() != "" {
		return netip.Addr{}, false
	}
	if wantV6 && !a.Is6() || hasPort && !wantV6 && !a.Is4() {
		return netip.Addr{}, false
	}
	return Normalize(a), true
}

// validPort reports whether s is a decimal port 0-65535 (at most five
// digits), or, when obf is true, an RFC 7239 obfport: "_" followed by one or
// more ALPHA / DIGIT / "." / "_" / "-".
func validPort(s string, obf bool) bool {
	if s == "" {
		return false
	}
	if s[0] == '_' {
		if !obf || len(s) == 1 {
			return false
		}
		for i := 1; i < len(s); i++ {
			c := s[i]
			if !(isAlnum(c) || c == '.' || c == '_' || c == '-') {
				return false
			}
		}
		return true
	}
	if len(s) > 5 {
		return false
	}
	n := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return false
		}
		n = n*10 + int(c-'0')
	}
	return n <= 65535
}

// lastElement splits the last forwarded-element off an RFC 7239 field
// line, scanning from the right so that only the tail of the line is
// touched. Commas inside quoted-strings do not split. It returns the element
// (untrimmed), the remainder left of the separating comma, whether such a
// comma (and hence a further element) exists, and ok=false when a closing
// quote has no matching opening quote.
func lastElement(s string) (elem, rest string, more, ok bool) {
	for i := len(s) - 1; i >= 0; i-- {
		switch s[i] {
		case ',':
			return s[i+1:], s[:i], true, true
		case '"':
			j := openingQuote(s, i)
			if j < 0 {
				return s, "", false, false
			}
			i = j
		}
	}
	return s, "", false, true
}

// openingQuote returns the index of the quote opening the quoted-string
// that the quote at s[closing] terminates, or -1. Scanning leftwards, a quote
// preceded by an odd run of backslashes is a quoted-pair (\") inside the
// string; the first quote preceded by an even run opens it. This matches a
// left-to-right reading for every well-formed quoted-string, and runs in time
// linear in the distance scanned.
func openingQuote(s string, closing int) int {
	for j := closing - 1; j >= 0; j-- {
		if s[j] != '"' {
			continue
		}
		n := 0
		for k := j - 1; k >= 0 && s[k] == '\\'; k-- {
			n++
		}
		if n%2 == 0 {
			return j
		}
		j -= n // skip the backslash run; it cannot contain a quote
	}
	return -1
}

// parseElement parses one RFC 7239 forwarded-element, pairs separated by
// ";" (optional whitespace around pairs is tolerated) with case-insensitive
// parameter names, and returns its normalised for= node. An element with no
// for= parameter, with for= twice, with an empty or malformed value, or whose
// node is not an IP address ("unknown", "_obfuscated") is rejected. by=,
// proto=, host= and extension parameters are syntax-checked but otherwise
// ignored. Unquoted values may leniently contain ':', '[' and ']' (as sent
// by some proxies for "ip:port" and IPv6 nodes).
func parseElement(elem string) (netip.Addr, bool) {
	elem = trimOWS(elem)
	var node string
	found, escaped := false, false
	for elem != "" {
		if elem[0] == ';' {
			elem = trimOWSLeft(elem[1:])
			continue
		}
		n := 0
		for n < len(elem) && isTchar(elem[n]) {
			n++
		}
		if n == 0 || n == len(elem) || elem[n] != '=' {
			return netip.Addr{}, false
		}
		name := elem[:n]
		elem = elem[n+1:]
		var val string
		esc := false
		if elem != "" && elem[0] == '"' {
			var ok bool
			val, esc, elem, ok = quotedString(elem)
			if !ok {
				return netip.Addr{}, false
			}
		} else {
			m := 0
			for m < len(elem) && isValueByte(elem[m]) {
				m++
			}
			if m == 0 {
				return netip.Addr{}, false
			}
			val, elem = elem[:m], elem[m:]
		}
		elem = trimOWSLeft(elem)
		if elem != "" {
			if elem[0] != ';' {
				return netip.Addr{}, false
			}
			elem = trimOWSLeft(elem[1:])
		}
		if strings.EqualFold(name, "for") {
			if found {
				return netip.Addr{}, false
			}
			found, node, escaped = true, val, esc
		}
	}
	if !found {
		return netip.Addr{}, false
	}
	if escaped {
		node = unescape(node)
	}
	return parseNode(node, true)
}

// quotedString parses the quoted-string at the start of s (s[0] == '"').
// It returns the raw content between the quotes, whether that content holds
// quoted-pairs (and so needs unescape), the text after the closing quote,
// and ok=false for an unterminated string or a control character.
func quotedString(s string) (content string, escaped bool, rest string, ok bool) {
	for i := 1; i < len(s); i++ {
		switch c := s[i]; {
		case c == '"':
			return s[1:i], escaped, s[i+1:], true
		case c == '\\':
			if i+1 >= len(s) || isCTL(s[i+1]) {
				return "", false, "", false
			}
			escaped = true
			i++
		case isCTL(c):
			return "", false, "", false
		}
	}
	return "", false, "", false
}

// unescape removes the backslash of every quoted-pair in the content of a
// well-formed quoted-string.
func unescape(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+1 < len(s) {
			i++
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// trimOWS trims RFC 9110 optional whitespace (spaces and horizontal tabs)
// from both ends of s.
func trimOWS(s string) string {
	s = trimOWSLeft(s)
	for s != "" && (s[len(s)-1] == ' ' || s[len(s)-1] == '\t') {
		s = s[:len(s)-1]
	}
	return s
}

// trimOWSLeft trims spaces and horizontal tabs from the start of s.
func trimOWSLeft(s string) string {
	for s != "" && (s[0] == ' ' || s[0] == '\t') {
		s = s[1:]
	}
	return s
}

// isAlnum reports whether c is an ASCII letter or digit.
func isAlnum(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9'
}

// isTchar reports whether c is an RFC 9110 token character.
func isTchar(c byte) bool {
	return isAlnum(c) || strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0
}

// isValueByte reports whether c may appear in an unquoted RFC 7239 value:
// a token character or, leniently, ':', '[' or ']'.
func isValueByte(c byte) bool {
	return isTchar(c) || c == ':' || c == '[' || c == ']'
}

// isCTL reports whether c is a control character not allowed in a
// quoted-string (anything below 0x20 except HTAB, and DEL).
func isCTL(c byte) bool {
	return c < 0x20 && c != '\t' || c == 0x7f
}
