package main

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/labkit/statsigmw"
)

// The lab login: POST /login with a name sets a signed session cookie, and
// an auth middleware that runs inside the statsigmw middleware puts the name
// in the request context, where Config.LoginID finds it. It is a lab's
// login, with no password: it shows how a logged-in id reaches Statsig.
const (
	sessionCookie = "lab_session"
	// sessionTTL is how long a login lasts; the cookie's expiry and the
	// signed expiry inside it agree.
	sessionTTL = 7 * 24 * time.Hour
	// maxLoginLen bounds a login name, in bytes.
	maxLoginLen = 64
	// maxLoginBody bounds the body of POST /login.
	maxLoginBody = 4 << 10
	// sessionMACContext separates this MAC from any other use of the key.
	sessionMACContext = "lab-session-v1:"
)

// sessions signs and reads the session cookie. It is safe for concurrent
// use.
type sessions struct {
	key    []byte
	secure statsigmw.SecureMode
	now    func() time.Time
}

// loginKey is the context key of the logged-in name.
type loginKey struct{}

// loginFrom returns the logged-in name that authenticate put in ctx, or "".
func loginFrom(ctx context.Context) string {
	name, _ := ctx.Value(loginKey{}).(string)
	return name
}

// validLogin reports whether name is a login name: 1 to 64 letters, digits,
// '-', '_' or '.'.
func validLogin(name string) bool {
	if name == "" || len(name) > maxLoginLen {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_' || c == '.') {
			return false
		}
	}
	return true
}

// mac is the signature of a session for name that expires at exp.
func (s *sessions) mac(name string, exp int64) []byte {
	h := hmac.New(sha256.New, s.key)
	h.Write([]byte(sessionMACContext + name + ":" + strconv.FormatInt(exp, 10)))
	return h.Sum(nil)
}

// encode returns the cookie value of a session for name expiring at exp:
// "name:exp:base64url(HMAC-SHA256(key, context+name:exp))". ':' is not a
// name character, so the value splits in one way only.
func (s *sessions) encode(name string, exp int64) string {
	return name + ":" + strconv.FormatInt(exp, 10) + ":" + base64.RawURLEncoding.EncodeToString(s.mac(name, exp))
}

// decode returns the name of a valid, unexpired session value, or false for
// anything else: a forged, garbled, truncated or expired value.
func (s *sessions) decode(v string) (string, bool) {
	if len(v) > 2*maxLoginLen+64 {
		return "", false
	}
	name, rest, ok1 := strings.Cut(v, ":")
	expText, sig, ok2 := strings.Cut(rest, ":")
	if !ok1 || !ok2 || !validLogin(name) || expText == "" || len(expText) > 12 {
		return "", false
	}
	for i := 0; i < len(expText); i++ {
		if expText[i] < '0' || expText[i] > '9' {
			return "", false
		}
	}
	exp, err := strconv.ParseInt(expText, 10, 64)
	if err != nil || exp <= s.now().Unix() {
		return "", false
	}
	got, err := base64.RawURLEncoding.Strict().DecodeString(sig)
	if err != nil || !hmac.Equal(got, s.mac(name, exp)) {
		return "", false
	}
	return name, true
}

func (s *sessions) secureFor(r *http.Request) bool {
	switch s.secure {
	case statsigmw.SecureAlways:
		return true
	case statsigmw.SecureNever:
		return false
	}
	return r.TLS != nil
}

// authenticate is the auth middleware: it puts the name of a valid session
// into the request context (see loginFrom). A missing or invalid session
// cookie means an anonymous visitor, never an error. The example runs it
// inside the statsigmw middleware, as auth often runs in real services;
// Config.LoginID reads the name from the context of the handler's calls.
func (s *sessions) authenticate(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if c, err := r.Cookie(sessionCookie); err == nil {
			if name, ok := s.decode(c.Value); ok {
				r = r.WithContext(context.WithValue(r.Context(), loginKey{}, name))
			}
		}
		next.ServeHTTP(w, r)
	})
}

// login handles POST /login: the form field "user" is the name. It sets the
// session cookie and answers 303 to /tasks; a bad name is a 400, a
// cross-site post a 403.
func (s *sessions) login(w http.ResponseWriter, r *http.Request) {
	if !sameOrigin(r) {
		http.Error(w, "cross-site login refused", http.StatusForbidden)
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxLoginBody)
	if err := r.ParseForm(); err != nil {
		http.Error(w, "a login is a form with the field user", http.StatusBadRequest)
		return
	}
	users := r.PostForm["user"]
	if len(users) != 1 || !validLogin(users[0]) {
		http.Error(w, "user: 1 to 64 letters, digits, '-', '_' or '.'", http.StatusBadRequest)
		return
	}
	exp := s.now().Add(sessionTTL)
	http.SetCookie(w, &http.Cookie{
		Name:     sessionCookie,
		Value:    s.encode(users[0], exp.Unix()),
		Path:     "/",
		MaxAge:   int(sessionTTL / time.Second),
		HttpOnly: true,
		Secure:   s.secureFor(r),
		SameSite: http.SameSiteLaxMode,
	})
	w.Header().Set("Cache-Control", "no-store")
	http.Redirect(w, r, "/tasks", http.StatusSeeOther)
}

// logout handles POST /logout: it clears the session cookie and answers 303
// to /. The visitor cookie stays: the visitor is anonymous again, with the
// same stableID.
func (s *sessions) logout(w http.ResponseWriter, r *http.Request) {
	if !sameOrigin(r) {
		http.Error(w, "cross-site logout refused", http.StatusForbidden)
		return
	}
	http.SetCookie(w, &http.Cookie{
		Name:     sessionCookie,
		Value:    "",
		Path:     "/",
		MaxAge:   -1,
		HttpOnly: true,
		Secure:   s.secureFor(r),
		SameSite: http.SameSiteLaxMode,
	})
	w.Header().Set("Cache-Control", "no-store")
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

// sameOrigin reports whether a state-changing request comes from this
// site's own pages, as Go 1.25's http.CrossOriginProtection decides (the
// module targets Go 1.22): a browser's Sec-Fetch-Site must say
// "same-origin" (or "none": the user typed it); without it, an Origin
// header must name this host. A request with neither is not a browser's
// cross-site form (every current browser sends one of them on a
// cross-origin POST), so curl and tests pass. SameSite=Lax on the session
// cookie would not be enough alone: it stops a cross-site logout but not a
// login CSRF, which signs the victim in as the attacker.
func sameOrigin(r *http.Request) bool {
	switch r.Header.Get("Sec-Fetch-Site") {
	case "same-origin", "none":
		return true
	case "":
	default:
		return false
	}
	origin := r.Header.Get("Origin")
	if origin == "" {
		return true
	}
	u, err := url.Parse(origin)
	return err == nil && u.Host != "" && u.Host == r.Host
}
