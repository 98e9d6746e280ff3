package statsigmw

import (
	"context"
	"net/http"
	"sort"
	"strings"
	"unicode/utf8"

	statsig "github.com/statsig-io/go-sdk"

	"github.com/labkit/statsigmw/internal/exposure"
)

// idFields holds a read-only Custom map shared by the users of every
// request, one per source: the SDK never writes to a user's maps (it reads
// them, and drops PrivateAttributes from its copy of a user when it logs an
// event). A Config.ExtendUser hook gets copies. A pointer, so that sources
// compare in one instruction.
type idFields struct{ custom map[string]any }

var (
	fieldsCookie    = sourceFields(sourceCookie)
	fieldsNew       = sourceFields(sourceNew)
	fieldsRandom    = sourceFields(sourceRandom)
	fieldsIP        = sourceFields(sourceIP)
	fieldsEphemeral = sourceFields(sourceEphemeral)
)

func sourceFields(source string) *idFields {
	return &idFields{map[string]any{"id_source": source}}
}

// getUser resolves the visitor and builds the request's statsig.User on
// first use, with ctx: the context of the first call that needs it.
func (s *scope) getUser(ctx context.Context) *statsig.User {
	s.userOnce.Do(func() {
		s.resolve()
		s.buildUser(ctx)
	})
	return &s.user
}

func (s *scope) buildUser(ctx context.Context) {
	m, r := s.m, s.r
	cfg := &m.cfg
	u := &s.user // built in place: a local copy would escape to the hooks
	*u = statsig.User{
		UserID:    s.id,
		UserAgent: truncate(header(r.Header, "User-Agent"), maxUserAgentLen),
		Locale:    locale(header(r.Header, "Accept-Language")),
		CustomIDs: map[string]string{"stableID": s.id},
		Custom:    s.fields.custom,
	}
	if ip, ok := m.ips.ClientIP(r); ok {
		text := ip.String()
		u.PrivateAttributes = map[string]any{"ip": text}
		if cfg.UnsafeSendIP {
			u.IpAddress = text
		}
	}
	if cfg.LoginID != nil || cfg.ExtendUser != nil {
		hr := r
		if ctx != nil && ctx != r.Context() {
			hr = r.WithContext(ctx)
		}
		if cfg.LoginID != nil {
			if uid := cfg.LoginID(hr); uid != "" && len(uid) <= maxLoginIDLen {
				u.UserID = uid
			}
		}
		if cfg.ExtendUser != nil {
			u.Custom = cloneMap(u.Custom) // shared: the hook gets a copy
			cfg.ExtendUser(hr, u)
			// No request may leave without its ids.
			if u.UserID == "" {
				u.UserID = s.id
			}
			if u.CustomIDs == nil {
				u.CustomIDs = map[string]string{}
			}
			if u.CustomIDs["stableID"] == "" {
				u.CustomIDs["stableID"] = s.id
			}
		}
	}
	s.fresh = s.fields != fieldsCookie && s.fields != fieldsIP && u.CustomIDs["stableID"] == s.id
	if m.dedup != nil {
		s.unit = unitKey(m.keys, u)
	}
}

// unitKey hashes every id of u, custom ids in order of their type: a
// superset of the unit any config is evaluated on, so that two visitors
// never share an exposure key.
func unitKey(h exposure.Hasher, u *statsig.User) exposure.Key {
	if len(u.CustomIDs) == 1 {
		for t, id := range u.CustomIDs {
			return h.Key(u.UserID, t, id)
		}
	}
	types := make([]string, 0, len(u.CustomIDs))
	for t := range u.CustomIDs {
		types = append(types, t)
	}
	sort.Strings(types)
	parts := make([]string, 0, 1+2*len(types))
	parts = append(parts, u.UserID)
	for _, t := range types {
		parts = append(parts, t, u.CustomIDs[t])
	}
	return h.Key(parts...)
}

func cloneUser(u statsig.User) statsig.User {
	u.Custom = cloneMap(u.Custom)
	u.PrivateAttributes = cloneMap(u.PrivateAttributes)
	u.StatsigEnvironment = cloneMap(u.StatsigEnvironment)
	u.CustomIDs = cloneMap(u.CustomIDs)
	return u
}

func cloneMap[K comparable, V any](m map[K]V) map[K]V {
	if m == nil {
		return nil
	}
	c := make(map[K]V, len(m))
	for k, v := range m {
		c[k] = v
	}
	return c
}

// header returns the first value of a header whose canonical name is key.
func header(h http.Header, key string) string {
	if v := h[key]; len(v) > 0 {
		return v[0]
	}
	return ""
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	s = s[:n]
	for len(s) > 0 && !utf8.ValidString(s) {
		s = s[:len(s)-1]
	}
	return s
}

// locale returns the first language tag of an Accept-Language header, or ""
// when it is not a plausible tag.
func locale(h string) string {
	tag, _, _ := strings.Cut(h, ",")
	tag, _, _ = strings.Cut(tag, ";")
	tag = strings.TrimSpace(tag)
	if tag == "" || tag == "*" || len(tag) > 35 {
		return ""
	}
	for i := 0; i < len(tag); i++ {
		c := tag[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-') {
			return ""
		}
	}
	return tag
}
