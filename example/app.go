package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"io"
	"log/slog"
	"math"
	"net/http"
	"strings"
	"time"

	statsig "github.com/statsig-io/go-sdk"

	"github.com/labkit/statsigmw"
	"github.com/labkit/statsigmw/statsigclient"
)

//go:embed templates/*.html
var templateFS embed.FS

var pages = template.Must(template.New("").Funcs(template.FuncMap{
	"percent":        percent,
	"signedPoints":   signedPoints,
	"pValue":         pValueText,
	"pClause":        pClause,
	"interval":       interval,
	"pointsInterval": pointsInterval,
	"weightText":     weightText,
	"chiSquareText":  chiSquareText,
}).ParseFS(templateFS, "templates/*.html"))

// appConfig holds the dependencies of the app's handler.
type appConfig struct {
	// Client evaluates experiments and logs events. Required; a client
	// that cannot reach Statsig fails open: every page shows the defaults.
	Client *statsigclient.Client
	// Middleware configures visitor identity. AllowRandom is always turned
	// on: ?random is how the lab simulates many visitors. LoginID is
	// always the lab login's (see session.go).
	Middleware statsigmw.Config
	// SessionKey signs the login session cookie, at least 16 bytes; nil
	// means a random key of this app. The session cookie is Secure as
	// Middleware.Secure says.
	SessionKey []byte
	// Events, when set, is the in-process backend whose events /results
	// reads (offline mode). Nil means a real Statsig project, whose results
	// live in the Statsig console.
	Events eventSource
	// FlushInterval is how often the client sends its events, shown on the
	// results page in offline mode.
	FlushInterval time.Duration
	// Store holds the tasks; nil means a new store with the original two.
	Store *taskStore
	// Logger receives warnings (a conversion that could not be logged);
	// nil discards them.
	Logger *slog.Logger
	// FixedGroup, when set, is a group of the experiment (see labArms) as
	// which GET /tasks is rendered for everyone, without the middleware:
	// no visitor identity, no cookie, no evaluation, no exposure. It is a
	// load-test baseline (FIXED_GROUP), the same page without statsigmw;
	// every other route is unchanged.
	FixedGroup string
}

// visitor is what the pages show of the request's visitor.
type visitor struct {
	ID     string // the anonymous visitor id, the user's stableID
	Source string // where it came from: new, cookie, random, ip, ephemeral
	Login  string // the logged-in name, or ""
}

// visitorOf returns the visitor of the request context.
func visitorOf(ctx context.Context) visitor {
	u, _ := statsigmw.User(ctx)
	source, _ := u.Custom["id_source"].(string)
	return visitor{ID: u.CustomIDs["stableID"], Source: source, Login: loginFrom(ctx)}
}

// fixedVisitor is what the /tasks page shows as the visitor in FixedGroup
// mode, where there is none.
var fixedVisitor = visitor{ID: "none", Source: "FIXED_GROUP"}

// app serves the lab's pages.
type app struct {
	cfg      appConfig
	store    *taskStore
	sessions *sessions
	log      *slog.Logger
}

// newApp returns the handler of every route of the example:
//
//	GET    /                an index of the pages
//	GET    /tasks           the experiment page (logs one exposure)
//	GET    /signup          logs visited_signup, shows the signup page
//	GET    /whoami          the visitor and its assignment, without exposure
//	GET    /bootstrap.json  the browser client's bootstrap document
//	POST   /login           the lab login: form field user, 303 to /tasks
//	POST   /logout          ends the login, 303 to /
//	GET    /results         conversion per group, with a chart
//	GET    /results.json    the same numbers as JSON
//	GET    /tasks/{id}      JSON API: one task
//	POST   /tasks           JSON API: create a task
//	PUT    /tasks/{id}      JSON API: update a task
//	DELETE /tasks/{id}      JSON API: delete a task
//
// The visitor pages (/tasks, /signup, /whoami, /bootstrap.json) run under
// the statsigmw middleware, and inside it the lab's auth middleware; the
// index, the login, the API and /results need no visitor and set no visitor
// cookie. Every JSON route answers its errors in JSON, a wrong method (405)
// included. It returns an error for a missing client or an invalid
// configuration.
func newApp(cfg appConfig) (http.Handler, error) {
	if cfg.Client == nil {
		return nil, errors.New("example: no Statsig client")
	}
	key := cfg.SessionKey
	switch {
	case key == nil:
		key = make([]byte, 32)
		if _, err := rand.Read(key); err != nil {
			return nil, err
		}
	case len(key) < minKeyLen:
		return nil, fmt.Errorf("example: session key has %d bytes, want at least %d", len(key), minKeyLen)
	}
	sess := &sessions{key: key, secure: cfg.Middleware.Secure, now: time.Now}

	mwCfg := cfg.Middleware
	mwCfg.AllowRandom = true
	mwCfg.LoginID = func(r *http.Request) string { return loginFrom(r.Context()) }
	mw, err := statsigmw.New(cfg.Client, mwCfg)
	if err != nil {
		return nil, err
	}
	a := &app{cfg: cfg, store: cfg.Store, sessions: sess, log: cfg.Logger}
	if a.store == nil {
		a.store = newTaskStore()
	}
	if a.log == nil {
		a.log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	// visitorPage runs h for a visitor: the identity middleware outside,
	// the auth middleware inside it.
	visitorPage := func(h http.HandlerFunc) http.Handler { return mw.Handler(sess.authenticate(h)) }
	tasks := visitorPage(a.tasksPage)
	if cfg.FixedGroup != "" {
		if a.cfg.FixedGroup, err = canonicalGroup(cfg.FixedGroup); err != nil {
			return nil, fmt.Errorf("FixedGroup: %w", err)
		}
		tasks = http.HandlerFunc(a.fixedTasksPage)
	}

	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", a.home)
	mux.Handle("GET /tasks", tasks)
	mux.Handle("GET /signup", visitorPage(a.signupPage))
	mux.Handle("GET /whoami", visitorPage(a.whoami))
	mux.HandleFunc("/whoami", methodNotAllowed("GET, HEAD"))
	mux.Handle("GET /bootstrap.json", visitorPage(a.bootstrap))
	mux.HandleFunc("/bootstrap.json", methodNotAllowed("GET, HEAD"))
	mux.HandleFunc("POST /login", sess.login)
	mux.HandleFunc("POST /logout", sess.logout)
	mux.HandleFunc("GET /results", a.resultsPage)
	mux.HandleFunc("GET /results.json", a.resultsJSON)
	mux.HandleFunc("/results.json", methodNotAllowed("GET, HEAD"))
	(&taskAPI{store: a.store}).register(mux)
	return mux, nil
}

// home is the index: one line on each page.
func (a *app) home(w http.ResponseWriter, r *http.Request) {
	a.render(w, "index.html", struct{ Experiment, Event string }{experimentName, signupEvent})
}

// render executes the named page into a buffer, so that a template error is
// a clean 500 rather than half a page, and writes it with the security
// headers. Caching is left to the middleware, which marks a page that
// depends on the visitor private, with Vary: Cookie.
func (a *app) render(w http.ResponseWriter, name string, data any) {
	var buf bytes.Buffer
	if err := pages.ExecuteTemplate(&buf, name, data); err != nil {
		a.log.Error("rendering a page", "page", name, "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
	_, _ = buf.WriteTo(w)
}

// assignment is what a page shows of the visitor's group.
type assignment struct {
	Group     string // empty outside every group
	Color     string
	Paragraph string
}

// assignmentOf reads the visitor's assignment to the experiment from ctx.
// With expose it logs the exposure, as the experiment page must; without,
// it only looks, for pages that wear the group's colour but are not where
// the experiment is measured. Without a client it gives the defaults.
func assignmentOf(ctx context.Context, expose bool) assignment {
	var exp statsig.DynamicConfig
	if expose {
		exp, _ = statsigmw.Experiment(ctx, experimentName)
	} else {
		exp, _ = statsigmw.PeekExperiment(ctx, experimentName)
	}
	return assignment{
		Group:     exp.GroupName,
		Color:     exp.GetString(paramColor, defaultColor),
		Paragraph: exp.GetString(paramText, defaultParagraph),
	}
}

type tasksData struct {
	Color     string
	Group     string
	Paragraph string
	Visitor   visitor
	Tasks     []Task
	Half      string
}

// tasksPage is the experiment page: it reads button_color_v3 once, which
// logs the visitor's one exposure of the request.
func (a *app) tasksPage(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	as := assignmentOf(ctx, true)
	v := visitorOf(ctx)
	tasks, half := visibleTasks(as.Color, a.store.list())
	a.render(w, "tasks.html", tasksData{
		Color:     as.Color,
		Group:     as.Group,
		Paragraph: as.Paragraph,
		Visitor:   v,
		Tasks:     tasks,
		Half:      half,
	})
}

// fixedTasksPage is tasksPage for everyone as the group cfg.FixedGroup,
// with no middleware: no visitor, no cookie, no SDK call, no exposure. It
// renders the page that group's visitors get, from the same template and
// the same parameters the backend serves offline (labConfig).
func (a *app) fixedTasksPage(w http.ResponseWriter, r *http.Request) {
	color := defaultColor
	for _, arm := range labArms {
		if arm.Group == a.cfg.FixedGroup {
			color = arm.Color
		}
	}
	tasks, half := visibleTasks(color, a.store.list())
	a.render(w, "tasks.html", tasksData{
		Color:     color,
		Group:     a.cfg.FixedGroup,
		Paragraph: labParagraphs[a.cfg.FixedGroup],
		Visitor:   fixedVisitor,
		Tasks:     tasks,
		Half:      half,
	})
}

// visibleTasks returns the tasks a group sees, as the original app chose
// them: odd ids for blue and green, even ids for red and orange. Any other
// colour (a console edit) sees every task.
func visibleTasks(color string, all []Task) ([]Task, string) {
	var parity int
	var half string
	switch strings.ToLower(color) {
	case "blue", "green":
		parity, half = 1, "odd"
	case "red", "orange":
		parity, half = 0, "even"
	default:
		return all, "all"
	}
	out := make([]Task, 0, len(all))
	for _, t := range all {
		if t.ID%2 == parity {
			out = append(out, t)
		}
	}
	return out, half
}

// signupPage logs the conversion for the visitor and shows the signup
// page in the visitor's group colour. It looks at the assignment without
// logging an exposure: the experiment is the /tasks page, and a visitor who
// comes straight here is no part of it.
func (a *app) signupPage(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	logged := true
	if err := statsigmw.LogEvent(ctx, signupEvent); err != nil {
		logged = false
		a.log.Warn("the signup could not be logged", "event", signupEvent, "err", err)
	}
	v := visitorOf(ctx)
	as := assignmentOf(ctx, false)
	a.render(w, "signup.html", struct {
		Visitor      visitor
		Logged       bool
		Event        string
		Color, Group string
	}{v, logged, signupEvent, as.Color, as.Group})
}

// whoami reports the visitor and its assignment without logging an
// exposure.
func (a *app) whoami(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	exp, _ := statsigmw.PeekExperiment(ctx, experimentName)
	u, _ := statsigmw.User(ctx)
	v := visitorOf(ctx)
	params := exp.Value
	if params == nil {
		params = map[string]any{}
	}
	type assignment struct {
		Group  string         `json:"group"`
		Params map[string]any `json:"params"`
	}
	writeJSON(w, http.StatusOK, struct {
		UserID      string                `json:"userID"`
		StableID    string                `json:"stableID"`
		Source      string                `json:"source"`
		Login       string                `json:"login"`
		Experiments map[string]assignment `json:"experiments"`
	}{
		UserID:      u.UserID,
		StableID:    v.ID,
		Source:      v.Source,
		Login:       v.Login,
		Experiments: map[string]assignment{experimentName: {Group: exp.GroupName, Params: params}},
	})
}

// bootstrap answers the document a browser's Statsig client starts from
// (statsigmw.Bootstrap): {"user": ..., "data": ...} for this visitor, with
// the assignments the server pages use. It logs no exposure.
func (a *app) bootstrap(w http.ResponseWriter, r *http.Request) {
	doc, err := statsigmw.Bootstrap(r.Context())
	if err != nil {
		a.log.Warn("no bootstrap document", "err", err)
		writeError(w, http.StatusServiceUnavailable, "no bootstrap document: the server has no Statsig configs yet")
		return
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("X-Content-Type-Options", "nosniff")
	_, _ = w.Write(doc)
}

// currentResults computes the results from the backend's events, or says
// where they are when there is no in-process backend.
func (a *app) currentResults() results {
	if a.cfg.Events == nil {
		return results{
			Experiment: experimentName,
			Event:      signupEvent,
			Note:       "Connected to Statsig: results live in the Statsig console (console.statsig.com), under Experiments → " + experimentName + ".",
			Groups:     []groupResult{},
		}
	}
	res := computeResults(a.cfg.Events, experimentName, signupEvent, labArms)
	res.Note = "Offline: counted from the events the in-process backend received. The client sends its events every " +
		a.cfg.FlushInterval.String() + ", so a visit shows here within about that long; reload to update."
	return res
}

func (a *app) resultsJSON(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store") // live numbers
	writeJSON(w, http.StatusOK, a.currentResults())
}

func (a *app) resultsPage(w http.ResponseWriter, r *http.Request) {
	res := a.currentResults()
	w.Header().Set("Cache-Control", "no-store") // live numbers
	a.render(w, "results.html", struct {
		Results results
		Chart   *barChart
	}{res, newBarChart(res)})
}

// barChart is the geometry of the inline SVG chart of conversion rates with
// their 95% intervals. Coordinates are preformatted strings, so the
// template only places them.
type barChart struct {
	Width, Height string
	Left, Right   string // x of the plot's edges
	AxisY         string // y of the x axis
	Ticks         []chartTick
	Bars          []chartBar
}

type chartTick struct {
	Y, Label string
}

type chartBar struct {
	X, Y, W, H     string
	Color          string
	Label, LabelX  string
	Rate           string
	RateY          string
	WhiskerX       string
	WhiskerY1      string
	WhiskerY2      string
	CapX1, CapX2   string
	HasRate        bool
	Exposed, Convd int
}

// newBarChart lays out the chart of res, or returns nil when there is
// nothing to draw.
func newBarChart(res results) *barChart {
	if !res.Live || len(res.Groups) == 0 {
		return nil
	}
	const (
		width, height = 520.0, 260.0
		left, right   = 48.0, 12.0
		top, bottom   = 16.0, 40.0
		barShare      = 0.6
		maxTicks      = 5
	)
	highest := 0.05 // the scale shows at least 0-5%
	for _, g := range res.Groups {
		if g.High != nil && *g.High > highest {
			highest = *g.High
		}
	}
	// The first round step that covers the highest bound in at most
	// maxTicks steps.
	step, steps := 0.25, 4
	for _, s := range []float64{0.01, 0.02, 0.05, 0.1, 0.2, 0.25} {
		if n := int(math.Ceil(highest/s - 1e-9)); n <= maxTicks {
			step, steps = s, n
			break
		}
	}
	scale := step * float64(steps)
	plotH := height - top - bottom
	slot := (width - left - right) / float64(len(res.Groups))
	y := func(rate float64) float64 { return top + plotH*(1-rate/scale) }
	f := func(v float64) string { return fmt.Sprintf("%.1f", v) }

	c := &barChart{Width: f(width), Height: f(height), Left: f(left), Right: f(width - right), AxisY: f(top + plotH)}
	for i := 0; i <= steps; i++ {
		r := step * float64(i)
		c.Ticks = append(c.Ticks, chartTick{Y: f(y(r)), Label: fmt.Sprintf("%.0f%%", r*100)})
	}
	for i, g := range res.Groups {
		x := left + slot*float64(i) + slot*(1-barShare)/2
		w := slot * barShare
		b := chartBar{
			X: f(x), W: f(w), Color: g.Color,
			Label: g.Group, LabelX: f(x + w/2),
			WhiskerX: f(x + w/2), CapX1: f(x + w/2 - 6), CapX2: f(x + w/2 + 6),
			Exposed: g.Exposed, Convd: g.Converted,
		}
		rate, labelY := 0.0, y(0)
		if g.Rate != nil {
			rate = *g.Rate
			b.HasRate = true
			b.WhiskerY1, b.WhiskerY2 = f(y(*g.Low)), f(y(*g.High))
			labelY = y(*g.High)
		}
		b.Y, b.H = f(y(rate)), f(top+plotH-y(rate))
		b.Rate = percent(g.Rate)
		b.RateY = f(labelY - 4)
		c.Bars = append(c.Bars, b)
	}
	return c
}
