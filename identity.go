package statsigmw

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"hash"
	"hash/maphash"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/labkit/statsigmw/internal/clientip"
	"github.com/labkit/statsigmw/internal/exposure"
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

// visitorCookieValue is the cookie value for id set at t.
func visitorCookieValue(id string, t time.Time) string {
	const digits = "0123456789abcdef"
	var b [stampedLen]byte
	copy(b[:], id)
	b[uuidLen] = '-'
	sec := uint32(t.Unix())
	for i := stampedLen - 1; i > uuidLen; i-- {
		b[i] = digits[sec&0xf]
		sec >>= 4
	}
	return string(b[:])
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

// cookieValue returns the value of the cookie called name and how many
// cookies of that name the request carries. It reads the Cookie header lines
// as net/http does (pairs separated by ';', each trimmed of white space) but
// allocates nothing, and looks only at the pairs that start with name.
func cookieValue(h http.Header, name string) (value string, count int) {
	for _, line := range h["Cookie"] {
		for i := 0; ; {
			j := strings.Index(line[i:], name)
			if j < 0 {
				break
			}
			at := i + j
			i = at + len(name)
			if i == len(line) || line[i] != '=' || !pairStart(line[:at]) {
				continue
			}
			end := strings.IndexByte(line[i:], ';')
			if end < 0 {
				end = len(line) - i
			}
			// line[at] is not a space: TrimSpace trims the value's end only.
			value = strings.TrimSpace(line[at : i+end])[len(name)+1:]
			count++
		}
	}
	return value, count
}

// pairStart reports whether a pair starts after before: whether before is
// empty or ends with ';' followed only by white space.
func pairStart(before string) bool {
	for before != "" {
		r, size := utf8.DecodeLastRuneInString(before)
		switch {
		case r == ';':
			return true
		case !unicode.IsSpace(r):
			return false
		}
		before = before[:len(before)-size]
	}
	return true
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

// ipAttrTable remembers the PrivateAttributes map of recent client IPs, so
// that a returning visitor's request does not format its IP and build a map
// again. It is a direct-mapped table of read-only entries: a collision only
// replaces an entry. Safe for concurrent use.
type ipAttrTable [1 << ipAttrBits]atomic.Pointer[ipAttr]

const ipAttrBits = 10

type ipAttr struct {
	addr  netip.Addr
	text  string
	attrs map[string]any // {"ip": text}; never written after it is made
}

func (t *ipAttrTable) get(a netip.Addr) *ipAttr {
	b := a.As16()
	h := (binary.LittleEndian.Uint64(b[:8]) ^ binary.LittleEndian.Uint64(b[8:])*0x9e3779b97f4a7c15) * 0xbf58476d1ce4e5b9
	slot := &t[h>>(64-ipAttrBits)] // the top bits: each depends on every bit of the address
	if p := slot.Load(); p != nil && p.addr == a {
		return p
	}
	text := a.String()
	p := &ipAttr{addr: a, text: text, attrs: map[string]any{"ip": text}}
	slot.Store(p)
	return p
}

// peerTable remembers the attributes of recent untrusted peers by their
// RemoteAddr, so that the requests of a keep-alive connection do not parse
// its address again. A trusted peer's requests are resolved from their
// forwarding headers every time.
type peerTable struct {
	seed  maphash.Seed
	slots [1024]atomic.Pointer[peerAttr]
}

type peerAttr struct {
	remote string
	attr   *ipAttr
}

// clientAttrs returns the attributes of r's client IP, or nil when it has
// no trustworthy one.
func (m *Middleware) clientAttrs(r *http.Request) *ipAttr {
	slot := &m.peers.slots[maphash.String(m.peers.seed, r.RemoteAddr)%uint64(len(m.peers.slots))]
	if p := slot.Load(); p != nil && p.remote == r.RemoteAddr {
		return p.attr
	}
	ip, peer, ok := m.ips.Resolve(r)
	if !ok {
		return nil
	}
	a := m.ipAttrs.get(ip)
	if peer {
		slot.Store(&peerAttr{remote: r.RemoteAddr, attr: a})
	}
	return a
}

// visitorTable remembers, for recent visitor ids, the CustomIDs map of
// their users and the de-duplication key of their unit, so that a returning
// visitor's request builds neither again. Like ipAttrTable, it is a
// direct-mapped table of read-only entries. Safe for concurrent use.
type visitorTable struct {
	seed  maphash.Seed
	slots [1024]atomic.Pointer[visitorIDs]
}

type visitorIDs struct {
	id   string
	ids  map[string]string // {"stableID": id}; never written after it is made
	unit exposure.Key      // the key of the unit (UserID: id, stableID: id)
}

func (t *visitorTable) get(id string, keys exposure.Hasher) *visitorIDs {
	slot := &t.slots[maphash.String(t.seed, id)%uint64(len(t.slots))]
	if p := slot.Load(); p != nil && p.id == id {
		return p
	}
	p := &visitorIDs{id: id, ids: map[string]string{"stableID": id}, unit: keys.Key(id, "stableID", id)}
	slot.Store(p)
	return p
}
