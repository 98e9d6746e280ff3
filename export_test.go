package statsigmw

import "time"

// AdvanceClock moves m's clock for exposure windows forward by d. Not safe
// to call while m serves requests.
func AdvanceClock(m *Middleware, d time.Duration) { m.startNano += int64(d) }

// SetCookieHeader is the Set-Cookie header m sends for id set at now.
func SetCookieHeader(m *Middleware, id string, secure bool, now time.Time) string {
	return m.setCookie(id, secure, now)
}
