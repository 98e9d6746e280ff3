package statsigmw

import (
	"bufio"
	"net"
	"net/http"
	"strings"
)

// responseWriter marks, when the header is written, a response that depends
// on the visitor (the handler read the scope before), so that shared caches
// keep it to that visitor. Optional interfaces beyond
// Flush and Hijack are reached through Unwrap, as http.ResponseController
// does.
type responseWriter struct {
	http.ResponseWriter
	s        *scope
	wrote    bool
	hijacked bool
}

func (w *responseWriter) WriteHeader(code int) {
	if !w.wrote && (code < 100 || code > 199 || code == http.StatusSwitchingProtocols) {
		w.wrote = true
		w.s.headerWritten(w.Header())
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *responseWriter) Write(p []byte) (int, error) {
	if !w.wrote {
		w.WriteHeader(http.StatusOK)
	}
	return w.ResponseWriter.Write(p)
}

// Flush implements http.Flusher.
func (w *responseWriter) Flush() {
	if !w.wrote {
		w.WriteHeader(http.StatusOK)
	}
	_ = http.NewResponseController(w.ResponseWriter).Flush()
}

// Hijack implements http.Hijacker.
func (w *responseWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	c, rw, err := http.NewResponseController(w.ResponseWriter).Hijack()
	if err == nil {
		w.hijacked = true
	}
	return c, rw, err
}

// Unwrap returns the wrapped ResponseWriter, for http.ResponseController.
func (w *responseWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// finish writes the header of a handler that wrote nothing, as net/http
// would, so that it is marked too.
func (w *responseWriter) finish() {
	if !w.wrote && !w.hijacked {
		w.WriteHeader(http.StatusOK)
	}
}

// markPrivate adds "Vary: Cookie" and makes Cache-Control private: a
// response that is already private or no-store is left alone; otherwise
// "public" and "s-maxage" are dropped and "private" added.
func markPrivate(h http.Header) {
	switch vary := h["Vary"]; {
	case len(vary) == 0:
		h["Vary"] = varyCookie[:1:1] // shared: an append copies it
	case !hasToken(vary, "cookie") && !hasToken(vary, "*"):
		h.Add("Vary", "Cookie")
	}
	cc := h["Cache-Control"]
	if len(cc) == 0 {
		h["Cache-Control"] = cachePrivate[:1:1]
		return
	}
	if hasToken(cc, "private") || hasToken(cc, "no-store") {
		return
	}
	kept := []string{"private"}
	for _, line := range cc {
		for _, d := range strings.Split(line, ",") {
			d = strings.TrimSpace(d)
			name, _, _ := strings.Cut(d, "=")
			if d == "" || strings.EqualFold(name, "public") || strings.EqualFold(name, "s-maxage") {
				continue
			}
			kept = append(kept, d)
		}
	}
	h.Set("Cache-Control", strings.Join(kept, ", "))
}

var (
	varyCookie   = []string{"Cookie"}
	cachePrivate = []string{"private"}
)

// hasToken reports whether a comma-separated header has the token (a
// directive name, ignoring any "=value"), in any case.
func hasToken(lines []string, token string) bool {
	for _, line := range lines {
		for line != "" {
			var d string
			d, line, _ = strings.Cut(line, ",")
			name, _, _ := strings.Cut(strings.TrimSpace(d), "=")
			if strings.EqualFold(strings.TrimSpace(name), token) {
				return true
			}
		}
	}
	return false
}
