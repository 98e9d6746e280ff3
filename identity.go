package statsigmw

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"hash"
	"net/http"
	"net/netip"
	"net/textproto"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/labkit/statsigmw/internal/clientip"
)

// The sources of a visitor id, sent as the custom user field "id_source".
const (
	sourceCookie    = "cookie"    // a valid visitor cookie came back
	sourceNew       = "new"       // no valid cookie: a new id, set as the cookie
	sourceRandom    = "random"    // ?random: a new simulated visitor
	sourceIP        = "ip"        // keyed hash of the client IP
	sourceEphemeral = "ephemeral" // an id for this request alone
	sourceContext   = "context"   // given to NewContext
)

// The visitor cookie's value is a canonical lower-case v4 UUID, optionally
// followed by "-" and eight hex digits: the Unix time, in seconds, when the
// middleware last set the cookie. The time lets it refresh the cookie of an
// active visitor before it expires without a Set-Cookie on every response.
const (
	uuidLen      = 36
	stampedLen   = uuidLen + 1 + 8
	maxCookieLen = stampedLen
)

// parseVisitorCookie returns the visitor id and the Unix time, in seconds,
// when the cookie was set (zero for a cookie without a time) of a cookie
// value, or ok=false when the value is not exactly one of the two forms.
// uuid.Parse alone accepts braces, urn:uuid:, 32-digit forms and upper case,
// so it is not used: any other form gets a fresh id.
func parseVisitorCookie(v string) (id string, set int64, ok bool) {
	switch len(v) {
	case uuidLen:
	case stampedLen:
		if v[uuidLen] != '-' {
			return "", 0, false
		}
		for i := uuidLen + 1; i < stampedLen; i++ {
			d := hexDigit(v[i])
			if d < 0 {
				return "", 0, false
			}
			set = set<<4 | int64(d)
		}
	default:
		return "", 0, false
	}
	id = v[:uuidLen]
	if !validVisitorID(id) {
		return "", 0, false
	}
	return id, set, true
}

func hexDigit(c byte) int {
	switch {
	case '0' <= c && c <= '9':
		return int(c - '0')
	case 'a' <= c && c <= 'f':
		return int(c-'a') + 10
	}
	return -1
}

// appendVisitorCookieValue appends the cookie value for id set at t.
func appendVisitorCookieValue(b []byte, id string, t time.Time) []byte {
	const digits = "0123456789abcdef"
	b = append(b, id...)
	b = append(b, '-')
	sec := uint32(t.Unix())
	for shift := 28; shift >= 0; shift -= 4 {
		b = append(b, digits[sec>>shift&0xf])
	}
	return b
}

// validVisitorID reports whether s is a canonical lower-case v4 UUID with
// the RFC 4122 variant.
func validVisitorID(s string) bool {
	if len(s) != uuidLen {
		return false
	}
	for i := 0; i < uuidLen; i++ {
		if want := uuidPattern[i]; want != 0 {
			if s[i] != want {
				return false
			}
		} else if !lowerHex[s[i]] {
			return false
		}
	}
	switch s[19] {
	case '8', '9', 'a', 'b':
		return true
	}
	return false
}

// uuidPattern has the fixed bytes of a v4 UUID; zero means a hex digit.
var uuidPattern = [uuidLen]byte{8: '-', 13: '-', 14: '4', 18: '-', 23: '-'}

var lowerHex = [256]bool{
	'0': true, '1': true, '2': true, '3': true, '4': true, '5': true, '6': true, '7': true,
	'8': true, '9': true, 'a': true, 'b': true, 'c': true, 'd': true, 'e': true, 'f': true,
}

func newVisitorID() string { return uuid.New().String() }

// visitorCookie returns the visitor id and set time of the first cookie
// called name whose value is valid, in the order of the Cookie header
// lines and of the pairs in each (browsers send the cookie of the most
// specific path first), and how many cookies of that name the request
// carries. It reads the header as net/http does (pairs separated by ';',
// each trimmed of white space), allocating nothing.
func visitorCookie(h http.Header, name string) (id string, set int64, count int) {
	for _, line := range h["Cookie"] {
		for line != "" {
			var pair string
			pair, line, _ = strings.Cut(line, ";")
			k, v, ok := strings.Cut(textproto.TrimString(pair), "=")
			if !ok || k != name {
				continue
			}
			count++
			if id == "" {
				id, set, _ = parseVisitorCookie(v)
			}
		}
	}
	return id, set, count
}

// wantsRandom reports whether the query asks for a new simulated visitor:
// the key "random" with no value, an empty value, or one of 1, true, yes, on
// (any case). Any other value (0, false, no, off, junk) does not. When the
// key appears more than once, the first one decides.
func wantsRandom(u *url.URL) bool {
	q := u.RawQuery
	if q == "" || !strings.Contains(q, "random") && !strings.Contains(q, "%") {
		return false
	}
	for q != "" {
		var kv string
		kv, q, _ = strings.Cut(q, "&")
		k, v, _ := strings.Cut(kv, "=")
		if k != "random" {
			if !strings.ContainsAny(k, "%+") {
				continue
			}
			if dk, err := url.QueryUnescape(k); err != nil || dk != "random" {
				continue
			}
		}
		if strings.ContainsAny(v, "%+") {
			dv, err := url.QueryUnescape(v)
			if err != nil {
				return false
			}
			v = dv
		}
		switch strings.ToLower(v) {
		case "", "1", "true", "yes", "on":
			return true
		}
		return false
	}
	return false
}

// ipHasher computes keyed hashes of client IPs. It is safe for concurrent
// use; a pool of HMAC states avoids allocating one per request.
type ipHasher struct {
	pool     sync.Pool
	v6Prefix int
}

func newIPHasher(key []byte, v6Prefix int) *ipHasher {
	k := append([]byte(nil), key...)
	return &ipHasher{
		pool:     sync.Pool{New: func() any { return hmac.New(sha256.New, k) }},
		v6Prefix: v6Prefix,
	}
}

// id returns the hex HMAC-SHA256 of the normalised address: IPv4-mapped
// IPv6 is unmapped, the zone dropped, and IPv6 is cut to its prefix so that
// the addresses of one network (privacy extensions rotate the low 64 bits)
// are one visitor.
func (h *ipHasher) id(a netip.Addr) string {
	a = clientip.Normalize(a)
	var buf [17]byte
	var in []byte
	if a.Is4() {
		b := a.As4()
		buf[0] = 4
		copy(buf[1:], b[:])
		in = buf[:5]
	} else {
		if p, err := a.Prefix(h.v6Prefix); err == nil {
			a = p.Addr()
		}
		b := a.As16()
		buf[0] = 6
		copy(buf[1:], b[:])
		in = buf[:17]
	}
	m := h.pool.Get().(hash.Hash)
	m.Reset()
	m.Write(in)
	var sum [sha256.Size]byte
	m.Sum(sum[:0])
	h.pool.Put(m)
	return hex.EncodeToString(sum[:])
}
