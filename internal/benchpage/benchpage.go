// Package benchpage is the experiment page that the benchmarks of statsigmw
// measure, written three ways over one LocalMode client configuration: with
// no experiment at all, by hand against the SDK, and with the middleware.
// The in-process benchmarks (the root package's BenchmarkPage) and the
// loopback server (internal/benchserver) serve exactly these handlers, with
// the same visitor cookies.
//
// It uses only the public API of statsigmw, statsigclient and statsigtest.
package benchpage

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/google/uuid"
	statsig "github.com/statsig-io/go-sdk"

	"github.com/labkit/statsigmw"
	"github.com/labkit/statsigmw/statsigclient"
	"github.com/labkit/statsigmw/statsigtest"
)

// CookieName is the visitor cookie's name: the middleware's default, which
// the hand-rolled page reads and writes too.
const CookieName = "visitor_id"

// Experiment is the name of the experiment the page reads.
const Experiment = "exp"

// Names of the pages, in the order the benchmarks run them.
const (
	Plain      = "plain"      // no middleware, no SDK: a fixed colour
	HandRolled = "handrolled" // cookie, statsig.User and GetExperiment by hand
	MW         = "mw"         // statsigmw.Handler and statsigmw.Experiment
)

// Pages lists the page names.
var Pages = []string{Plain, HandRolled, MW}

// Header values of the benchmark requests. The visitor cookie sits among
// two others, as it does in a browser.
const (
	UserAgent      = "Mozilla/5.0 (X11; Linux x86_64)"
	AcceptLanguage = "en-US,en;q=0.9"
	cookiesBefore  = "_ga=GA1.2.3; "
	cookiesAfter   = "; theme=dark"
	// NoVisitorCookie is the Cookie header of a new visitor.
	NoVisitorCookie = "_ga=GA1.2.3; theme=dark"
)

// Spec is the client configuration: a four-group experiment on stableID.
func Spec() statsigtest.Config {
	exp := statsigtest.ExperimentSpec{Name: Experiment, Unit: statsigtest.UnitStableID, Defaults: map[string]any{"color": "default"}}
	for _, g := range []string{"Blue", "Green", "Red", "Orange"} {
		exp.Groups = append(exp.Groups, statsigtest.Group{Name: g, Weight: 25, Params: map[string]any{"color": strings.ToLower(g)}})
	}
	return statsigtest.Config{Experiments: []statsigtest.ExperimentSpec{exp}}
}

// NewClient returns a client bootstrapped with Spec, with the user-agent
// parser and IP country lookup off.
//
// With events "", it is a LocalMode client: it evaluates as a client of a
// Statsig backend does, but its event batches go nowhere, so that a
// benchmark measures the page and not a server decoding batches on the same
// cores. Otherwise events is the base URL of a backend (a Sink) that the
// client syncs its configs with and sends its events to, as in production:
// the SDK encodes and compresses every batch of exposures it logs.
func NewClient(events string) (*statsigclient.Client, error) {
	specs, err := Spec().JSON()
	if err != nil {
		return nil, err
	}
	opts := &statsig.Options{
		LocalMode:        events == "",
		API:              events,
		BootstrapValues:  string(specs),
		UAParserOptions:  statsig.UAParserOptions{Disabled: true},
		IPCountryOptions: statsig.IPCountryOptions{Disabled: true},
		StatsigLoggerOptions: statsig.StatsigLoggerOptions{
			DisableInitDiagnostics: true,
			DisableSyncDiagnostics: true,
			DisableApiDiagnostics:  true,
		},
	}
	cfg := statsigclient.Config{Options: opts}
	if events != "" {
		cfg.Secret = "secret-benchpage"
	}
	return statsigclient.New(cfg)
}

// Sink is a backend for NewClient's clients that serves Spec and accepts
// and discards everything else: event batches are read whole and dropped.
func Sink() (http.Handler, error) {
	specs, err := Spec().JSON()
	if err != nil {
		return nil, err
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		switch {
		case strings.Contains(r.URL.Path, "/download_config_specs"):
			_, _ = w.Write(specs)
		case strings.HasSuffix(r.URL.Path, "/log_event"):
			_, _ = io.WriteString(w, `{"success":true}`)
		default:
			_, _ = io.WriteString(w, "{}")
		}
	}), nil
}

// VisitorID returns the id of visitor i (0 <= i < 2^48): a canonical
// lower-case v4 UUID, distinct for each i. The loopback script's Lua
// generator writes the same ids.
func VisitorID(i int) string {
	return fmt.Sprintf("%08x-7d1c-4e3a-9b2f-%012x", uint32(i)*2654435761, uint64(i)&(1<<48-1))
}

// AppendCookieHeader appends to dst the Cookie header of returning visitor
// i, whose visitor cookie holds VisitorID(i) stamped with set, the Unix time
// in seconds when the middleware set it (a stamp within the last 40 days
// means no refresh). It allocates nothing when dst has room, so that a
// benchmark can make each request's header afresh, as net/http does, at the
// cost of one copy, instead of keeping every visitor's header in its heap.
func AppendCookieHeader(dst []byte, i int, set int64) []byte {
	dst = append(dst, cookiesBefore+CookieName+"="...)
	dst = appendHex(dst, uint64(uint32(i)*2654435761), 8)
	dst = append(dst, "-7d1c-4e3a-9b2f-"...)
	dst = appendHex(dst, uint64(i)&(1<<48-1), 12)
	dst = append(dst, '-')
	dst = appendHex(dst, uint64(uint32(set)), 8)
	return append(dst, cookiesAfter...)
}

// appendHex appends the n lowest hex digits of x, zero-padded.
func appendHex(dst []byte, x uint64, n int) []byte {
	const digits = "0123456789abcdef"
	for shift := 4 * (n - 1); shift >= 0; shift -= 4 {
		dst = append(dst, digits[x>>shift&0xf])
	}
	return dst
}

// appHeap is what HoldAppHeap holds.
var appHeap []byte

// HoldAppHeap keeps mb megabytes of pointer-free memory live for the rest
// of the process (replacing what an earlier call held), standing for the
// live heap of the application a page belongs to. The garbage collector
// paces itself on the live heap (with GOGC=100 it runs when the heap has
// doubled, and at least every 4 MB): a benchmark process whose only live
// data is one page's runs a cycle every few hundred requests, and a page's
// tables (the middleware's exposure cache) would then change its speed
// through how often the collector runs rather than through their own work.
// The pages compared hold the same amount.
func HoldAppHeap(mb int) {
	appHeap = nil
	if mb > 0 {
		appHeap = make([]byte, mb<<20)
		for i := 0; i < len(appHeap); i += 4096 {
			appHeap[i] = 1 // resident, as an application's data is
		}
	}
}

// Options configure the pages of New.
type Options struct {
	// Events is the base URL of the backend the clients send their events
	// to; "" for LocalMode clients. See NewClient.
	Events string
	// ExposureCacheSize is the middleware's Config.ExposureCacheSize.
	ExposureCacheSize int
}

// New returns the page called name (Plain, HandRolled or MW) with a client
// of its own (NewClient(opts.Events)), so that no page pays for another's
// buffered exposures, and a function that shuts that client down.
func New(name string, opts Options) (http.Handler, func(), error) {
	if name == Plain {
		return PlainPage(), func() {}, nil
	}
	if name != HandRolled && name != MW {
		return nil, nil, fmt.Errorf("benchpage: unknown page %q", name)
	}
	client, err := NewClient(opts.Events)
	if err != nil {
		return nil, nil, err
	}
	shutdown := func() { _ = client.Shutdown(context.Background()) }
	if name == HandRolled {
		return HandRolledPage(client), shutdown, nil
	}
	h, err := Middleware(client, statsigmw.Config{ExposureCacheSize: opts.ExposureCacheSize})
	if err != nil {
		shutdown()
		return nil, nil, err
	}
	return h, shutdown, nil
}

// write renders the page with the button colour.
func write(w http.ResponseWriter, color string) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	_, _ = w.Write([]byte(`<!doctype html><title>Tasks</title><button class="` + color + `">Add</button>`))
}

// PlainPage is the page with no experiment: the floor.
func PlainPage() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { write(w, "blue") })
}

// HandRolledPage is the page as a careful user writes it without the
// middleware: read the visitor cookie and accept only a canonical v4 UUID
// (optionally with the middleware's set-time suffix); otherwise mint one and
// set it; build a statsig.User with the id as UserID and stableID and the
// user agent; call GetExperiment, which logs an exposure at every call; and
// keep the response out of shared caches.
func HandRolledPage(client *statsigclient.Client) http.Handler {
	sdk := client.SDK()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var id string
		if c, err := r.Cookie(CookieName); err == nil {
			id = parseCookie(c.Value)
		}
		if id == "" {
			id = uuid.NewString()
			http.SetCookie(w, &http.Cookie{Name: CookieName, Value: id, Path: "/", MaxAge: 400 * 24 * 3600,
				HttpOnly: true, Secure: r.TLS != nil, SameSite: http.SameSiteLaxMode})
		}
		user := statsig.User{UserID: id, UserAgent: r.UserAgent(), CustomIDs: map[string]string{"stableID": id}}
		exp := sdk.GetExperiment(user, Experiment)
		w.Header().Set("Vary", "Cookie")
		w.Header().Set("Cache-Control", "private")
		write(w, exp.GetString("color", "blue"))
	})
}

// parseCookie returns the visitor id of a cookie value, or "" if it holds
// none.
func parseCookie(v string) string {
	if len(v) != 36 && (len(v) != 45 || v[36] != '-') {
		return ""
	}
	id := v[:36]
	u, err := uuid.Parse(id)
	if err != nil || u.Version() != 4 || u.String() != id {
		return ""
	}
	return id
}

// Middleware is the page through statsigmw with cfg (the benchmarks use
// the defaults): one Experiment read.
func Middleware(client *statsigclient.Client, cfg statsigmw.Config) (http.Handler, error) {
	mw, err := statsigmw.New(client, cfg)
	if err != nil {
		return nil, err
	}
	return mw.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		exp, _ := statsigmw.Experiment(r.Context(), Experiment)
		write(w, exp.GetString("color", "blue"))
	})), nil
}
