package statsigmw_test

import (
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/labkit/statsigmw"
)

// TestSetCookieHeader: the Set-Cookie header the middleware writes itself
// is the one net/http writes for the same cookie.
func TestSetCookieHeader(t *testing.T) {
	client := localClient(t)
	for _, maxAge := range []time.Duration{0, time.Second, 30 * 24 * time.Hour} {
		for _, name := range []string{"", "v", "A-very_long-cookie-name-0123456789"} {
			mw, err := statsigmw.New(client, statsigmw.Config{CookieName: name, CookieMaxAge: maxAge})
			if err != nil {
				t.Fatal(err)
			}
			if name == "" {
				name = "visitor_id"
			}
			seconds := int(maxAge / time.Second)
			if maxAge == 0 {
				seconds = 400 * 24 * 3600
			}
			for _, secure := range []bool{false, true} {
				for _, at := range []time.Time{time.Unix(0, 0), time.Unix(1<<32-1, 0), time.Now()} {
					id := uuid.NewString()
					want := (&http.Cookie{Name: name, Value: id + "-" + stamp(at), Path: "/", MaxAge: seconds,
						HttpOnly: true, Secure: secure, SameSite: http.SameSiteLaxMode}).String()
					if got := statsigmw.SetCookieHeader(mw, id, secure, at); got != want {
						t.Errorf("Set-Cookie %q, want %q", got, want)
					}
				}
			}
		}
	}
}

// stamp is the set-time suffix of a visitor cookie: 8 hex digits of the
// Unix time in seconds.
func stamp(t time.Time) string {
	s := strconv.FormatUint(uint64(uint32(t.Unix())), 16)
	for len(s) < 8 {
		s = "0" + s
	}
	return s
}
