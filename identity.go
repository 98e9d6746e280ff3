package statsigmw

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"github.com/labkit/statsigmw/internal/clientip"
	"hash"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"sync"

	"github.com/google/uuid"
)

// Source tells where a request's anonymous visitor id came from. It is sent
// to Statsig as the custom user field "id_source", so analysts can filter.
type Source string

// The sources of a visitor id.
const (
	// SourceCookie: a valid visitor cookie the client sent back.
	SourceCookie Source = "cookie"
	// SourceNew: no valid cookie; a new id was minted and set as the cookie.
	SourceNew Source = "new"
	// SourceRandom: the query asked for a new simulated visitor (?random,
	// when Config.AllowRandom is set). In cookie mode its id is set as the
	// cookie, so the visitor keeps it on the next page.
	SourceRandom Source = "random"
	// SourceIP: a keyed hash of the client IP (IPIdentity mode, or no consent
	// to cookies with a HashKey configured).
	SourceIP Source = "ip"
	// SourceEphemeral: a random id for this request alone, used when no
	// stable id may or can be had: no consent and no HashKey, or IPIdentity
	// mode with no trustworthy client IP. It never lands two visitors in one
	// bucket, at the price of not following the visitor.
	SourceEphemeral Source = "ephemeral"
)

// Visitor is the identity the middleware resolved for a request.
type Visitor struct {
	// ID is the anonymous visitor id: a canonical lower-case v4 UUID, or
	// for SourceIP a 64-digit hex HMAC-SHA256. Never empty. It is sent as
	// CustomIDs["stableID"], and as the UserID when nobody is logged in.
	ID string
	// Source tells where ID came from.
	Source Source
	// UserID is the logged-in id the Config.UserID hook returned, or "".
	// It is filled in when the statsig.User is built (on the first
	// experiment, gate, layer, event or User call of the request).
	UserID string
}

// validVisitorID reports whether s is a canonical lower-case v4 UUID with
// the RFC 4122 variant: the only form a visitor cookie may hold. uuid.Parse
// alone accepts braces, urn:uuid: and 32-digit forms and upper case, so it
// is not used: any other form gets a fresh id.
func validVisitorID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i := 0; i < 36; i++ {
		c := s[i]
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		case 14:
			if c != '4' {
				return false
			}
		case 19:
			if c != '8' && c != '9' && c != 'a' && c != 'b' {
				return false
			}
		default:
			if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
				return false
			}
		}
	}
	return true
}

// newVisitorID returns a fresh random v4 UUID in canonical form.
func newVisitorID() string {
	return uuid.New().String()
}

// cookieValue returns the value of the cookie called name and how many
// cookies of that name the request carries, without parsing the others. It
// scans the Cookie header lines as net/http does (pairs separated by ';',
// optional spaces) but allocates nothing.
func cookieValue(h http.Header, name string) (value string, count int) {
	for _, line := range h["Cookie"] {
		for len(line) > 0 {
			var part string
			part, line, _ = strings.Cut(line, ";")
			part = strings.TrimSpace(part)
			k, v, ok := strings.Cut(part, "=")
			if !ok || k != name {
				continue
			}
			count++
			value = v
		}
	}
	return value, count
}

// hasRandomParam reports whether the URL query has the key "random", with
// or without a value. It avoids parsing the query when it cannot match.
func hasRandomParam(u *url.URL) bool {
	q := u.RawQuery
	if q == "" || !strings.Contains(q, "random") && !strings.Contains(q, "%") {
		return false
	}
	for q != "" {
		var kv string
		kv, q, _ = strings.Cut(q, "&")
		k, _, _ := strings.Cut(kv, "=")
		if k == "random" {
			return true
		}
		if strings.ContainsAny(k, "%+") {
			if dk, err := url.QueryUnescape(k); err == nil && dk == "random" {
				return true
			}
		}
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
