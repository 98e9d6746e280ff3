package statsigmw

import "time"

// AdvanceClock moves m's clock for exposure windows forward by d. Not safe
// to call while m serves requests.
func AdvanceClock(m *Middleware, d time.Duration) { m.startNano += int64(d) }
