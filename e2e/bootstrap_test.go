package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/labkit/statsigmw"
	"github.com/labkit/statsigmw/statsigtest"
)

// What the interop test evaluates: an experiment on each unit, each with a
// parameter whose value names the group, and a gate.
const (
	bsExpUser     = "checkout_flow" // unit userID
	bsExpStable   = "button_color"  // unit stableID
	bsParamUser   = "steps"
	bsParamStable = "Button Color"
	bsGate        = "new_nav"

	bsVisitors   = 200
	bsClientDir  = "js"
	bsClientPkg  = "@statsig/js-client"
	bsLoginField = "X-Login" // header the test's login hook reads
)

// bsMiddleware starts a Statsig-compatible backend with the test's
// experiments and gate and returns the middleware under test, evaluating with
// a real SDK client of that backend.
func bsMiddleware(t *testing.T, cfg statsigmw.Config) *statsigmw.Middleware {
	t.Helper()
	srv := statsigtest.NewServer(statsigtest.Config{
		Experiments: []statsigtest.ExperimentSpec{
			{Name: bsExpUser, Unit: statsigtest.UnitUserID, Groups: []statsigtest.Group{
				{Name: "Control", Weight: 50, Params: map[string]any{bsParamUser: "three"}},
				{Name: "Short", Weight: 50, Params: map[string]any{bsParamUser: "one"}},
			}},
			{Name: bsExpStable, Unit: statsigtest.UnitStableID, Groups: []statsigtest.Group{
				{Name: "Blue", Weight: 25, Params: map[string]any{bsParamStable: "blue"}},
				{Name: "Green", Weight: 25, Params: map[string]any{bsParamStable: "green"}},
				{Name: "Red", Weight: 25, Params: map[string]any{bsParamStable: "red"}},
				{Name: "Orange", Weight: 25, Params: map[string]any{bsParamStable: "orange"}},
			}},
		},
		Gates: []statsigtest.GateSpec{{Name: bsGate, PassPercentage: 50}},
	})
	t.Cleanup(srv.Close)
	m, err := statsigmw.New(srv.NewClient(t), cfg)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// bsServerView is what a page of the service saw for one request, and the
// bootstrap document it served.
type bsServerView struct {
	Experiments map[string]bsExperiment `json:"experiments"`
	Gates       map[string]bsGateValue  `json:"gates"`
	Doc         json.RawMessage         `json:"doc"`
}

type bsExperiment struct {
	Group  string `json:"group"`
	Param  any    `json:"param"`
	Reason string `json:"reason,omitempty"`
}

type bsGateValue struct {
	Value  bool   `json:"value"`
	Reason string `json:"reason,omitempty"`
}

// bsDoc is the part of a bootstrap document the test checks itself.
type bsDoc struct {
	User struct {
		UserID    string            `json:"userID"`
		CustomIDs map[string]string `json:"customIDs"`
	} `json:"user"`
	Data struct {
		User json.RawMessage `json:"user"`
	} `json:"data"`
}

// bsApp is the page: it reads the experiments and the gate as any handler
// would, and serves the bootstrap document next to what it saw.
func bsApp(t *testing.T) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		pass, ok := statsigmw.Gate(ctx, bsGate)
		if !ok {
			http.Error(w, "gate "+bsGate+" unknown", http.StatusInternalServerError)
			return
		}
		v := bsServerView{
			Experiments: map[string]bsExperiment{},
			Gates:       map[string]bsGateValue{bsGate: {Value: pass}},
		}
		for name, param := range map[string]string{bsExpUser: bsParamUser, bsExpStable: bsParamStable} {
			cfg, ok := statsigmw.Experiment(ctx, name)
			if !ok {
				t.Errorf("experiment %q not evaluated", name)
			}
			v.Experiments[name] = bsExperiment{Group: cfg.GroupName, Param: cfg.GetString(param, "")}
		}
		doc, err := statsigmw.Bootstrap(ctx)
		if err != nil {
			t.Errorf("Bootstrap: %v", err)
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		v.Doc = doc
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(v)
	})
}

// bsVisitor is one simulated browser.
type bsVisitor struct {
	id     string
	client *http.Client
	header http.Header
	login  string // logged-in id, or "" for an anonymous visitor
	visits int    // requests before the one whose document is checked
}

func (v *bsVisitor) get(t *testing.T, url string, login string) bsServerView {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header = v.header.Clone()
	if login != "" {
		req.Header.Set(bsLoginField, login)
	}
	resp, err := v.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d %v: %s", url, resp.StatusCode, err, body)
	}
	var sv bsServerView
	if err := json.Unmarshal(body, &sv); err != nil {
		t.Fatalf("%v in %s", err, body)
	}
	return sv
}

// bsNode finds node and the pinned js-client, or skips (fails under CI=true)
// naming what to install.
func bsNode(t *testing.T) string {
	t.Helper()
	unavailable := func(format string, args ...any) {
		t.Helper()
		if os.Getenv("CI") == "true" {
			t.Fatalf(format, args...)
		}
		t.Skipf(format, args...)
	}
	node, err := exec.LookPath("node")
	if err != nil {
		unavailable("node not found (%v): install it with `apt-get install nodejs npm`", err)
	}
	var lock struct {
		Packages map[string]struct {
			Version string `json:"version"`
		} `json:"packages"`
	}
	b, err := os.ReadFile(filepath.Join(bsClientDir, "package-lock.json"))
	if err == nil {
		err = json.Unmarshal(b, &lock)
	}
	if err != nil {
		t.Fatalf("reading the lockfile: %v", err)
	}
	want := lock.Packages["node_modules/"+bsClientPkg].Version
	if want == "" {
		t.Fatalf("the lockfile pins no %s", bsClientPkg)
	}
	var installed struct {
		Version string `json:"version"`
	}
	b, err = os.ReadFile(filepath.Join(bsClientDir, "node_modules", bsClientPkg, "package.json"))
	if errors.Is(err, os.ErrNotExist) {
		unavailable("%s is not installed: run `npm ci --prefix e2e/js`", bsClientPkg)
	}
	if err == nil {
		err = json.Unmarshal(b, &installed)
	}
	if err != nil {
		t.Fatalf("reading the installed %s: %v", bsClientPkg, err)
	}
	if installed.Version != want {
		t.Fatalf("%s %s is installed, the lockfile pins %s: run `npm ci --prefix e2e/js`", bsClientPkg, installed.Version, want)
	}
	return node
}

// bsNodeInput is what the node script reads.
type bsNodeInput struct {
	Experiments []bsNodeExperiment `json:"experiments"`
	Gates       []string           `json:"gates"`
	Visitors    []bsNodeVisitor    `json:"visitors"`
}

type bsNodeExperiment struct {
	Name  string `json:"name"`
	Param string `json:"param"`
}

type bsNodeVisitor struct {
	ID      string          `json:"id"`
	Doc     json.RawMessage `json:"doc"`
	Variant string          `json:"variant,omitempty"`
}

type bsNodeOutput struct {
	ClientVersion string `json:"clientVersion"`
	Results       []struct {
		ID          string                  `json:"id"`
		InitReason  string                  `json:"initReason"`
		Experiments map[string]bsExperiment `json:"experiments"`
		Gates       map[string]bsGateValue  `json:"gates"`
	} `json:"results"`
}

// bsRunNode evaluates every visitor's document with the real js-client in
// one node process.
func bsRunNode(t *testing.T, node string, in bsNodeInput) bsNodeOutput {
	t.Helper()
	input, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, filepath.Join(bsClientDir, "bootstrap-check.js"))
	cmd.Stdin = bytes.NewReader(input)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("node: %v\nstderr:\n%s", err, stderr.Bytes())
	}
	var out bsNodeOutput
	if err := json.Unmarshal(stdout.Bytes(), &out); err != nil {
		t.Fatalf("node printed no result (%v): %.500s\nstderr:\n%s", err, stdout.Bytes(), stderr.Bytes())
	}
	if len(out.Results) != len(in.Visitors) {
		t.Fatalf("node evaluated %d visitors, want %d", len(out.Results), len(in.Visitors))
	}
	return out
}

// TestBootstrapJSClient serves 200 visitors (anonymous and logged in, new and
// returning) through the real middleware, then starts the real
// @statsig/js-client on each visitor's bootstrap document, offline, as the
// documentation says to, and checks that it agrees with the server on every
// group, parameter and gate, with reason "Bootstrap:Recognized".
func TestBootstrapJSClient(t *testing.T) {
	node := bsNode(t)
	m := bsMiddleware(t, statsigmw.Config{
		TrustedProxies: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")},
		LoginID:        func(r *http.Request) string { return r.Header.Get(bsLoginField) },
	})
	srv := httptest.NewServer(m.Handler(bsApp(t)))
	t.Cleanup(srv.Close)

	// User agents and languages vary, some with characters JSON must escape,
	// so that a user rebuilt or re-encoded anywhere would differ.
	agents := []string{
		"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36",
		`Mozilla/5.0 "quoted" \ backslash <tag> &amp;`,
		"Mozilla/5.0 (Macintosh; Intel Mac OS X 14_0) Gecko/20100101 Firefox/133.0 Zürich ✓",
		"",
	}
	langs := []string{"en-US,en;q=0.9", "de-CH", "", "*"}

	visitors := make([]*bsVisitor, bsVisitors)
	for i := range visitors {
		jar, err := cookiejar.New(nil)
		if err != nil {
			t.Fatal(err)
		}
		h := http.Header{}
		if ua := agents[i%len(agents)]; ua != "" {
			h.Set("User-Agent", ua)
		} else {
			h["User-Agent"] = []string{""} // no User-Agent at all
		}
		if l := langs[(i/len(agents))%len(langs)]; l != "" {
			h.Set("Accept-Language", l)
		}
		// Documentation addresses (RFC 5737) that must not reach the document.
		h.Set("X-Forwarded-For", fmt.Sprintf("198.51.100.%d", i%250+1))
		v := &bsVisitor{id: fmt.Sprintf("v%03d", i), client: &http.Client{Jar: jar}, header: h, visits: i % 2}
		if i >= bsVisitors/2 {
			v.login = fmt.Sprintf("member-%d", i)
		}
		visitors[i] = v
	}

	in := bsNodeInput{
		Experiments: []bsNodeExperiment{{bsExpUser, bsParamUser}, {bsExpStable, bsParamStable}},
		Gates:       []string{bsGate},
	}
	server := make(map[string]bsServerView, len(visitors))
	groups := map[string]map[string]int{bsExpUser: {}, bsExpStable: {}}
	gatePasses := 0
	for _, v := range visitors {
		var first bsDoc
		for k := 0; k < v.visits; k++ { // an earlier anonymous page view
			if err := json.Unmarshal(v.get(t, srv.URL+"/", "").Doc, &first); err != nil {
				t.Fatal(err)
			}
		}
		sv := v.get(t, srv.URL+"/", v.login)
		server[v.id] = sv
		in.Visitors = append(in.Visitors, bsNodeVisitor{ID: v.id, Doc: sv.Doc})
		for name, e := range sv.Experiments {
			groups[name][e.Group]++
		}
		if sv.Gates[bsGate].Value {
			gatePasses++
		}

		// The document's own account of the identity.
		var doc bsDoc
		if err := json.Unmarshal(sv.Doc, &doc); err != nil {
			t.Fatal(err)
		}
		stable := doc.User.CustomIDs["stableID"]
		wantUID := v.login
		if wantUID == "" {
			wantUID = stable
		}
		if stable == "" || doc.User.UserID != wantUID {
			t.Errorf("%s: document user %s/%s, want userID %q and a stableID", v.id, doc.User.UserID, stable, wantUID)
		}
		if v.visits > 0 && first.User.CustomIDs["stableID"] != stable {
			t.Errorf("%s: stableID %q on the first page, %q on the second", v.id, first.User.CustomIDs["stableID"], stable)
		}
		if bytes.Contains(sv.Doc, []byte("198.51.100.")) || bytes.Contains(sv.Doc, []byte("privateAttributes")) {
			t.Errorf("%s: the document carries the IP or private attributes: %s", v.id, sv.Doc)
		}
		var whole struct {
			User json.RawMessage `json:"user"`
		}
		_ = json.Unmarshal(sv.Doc, &whole)
		if !bytes.Equal(whole.User, doc.Data.User) {
			t.Errorf("%s: user %s differs from data.user %s", v.id, whole.User, doc.Data.User)
		}
	}
	// Agreement means something only if the visitors are spread.
	if len(groups[bsExpUser]) != 2 || len(groups[bsExpStable]) != 4 || gatePasses == 0 || gatePasses == len(visitors) {
		t.Fatalf("visitors not spread over the groups: %v, gate passed by %d/%d", groups, gatePasses, len(visitors))
	}

	// Misuses, on a few visitors of each kind, after the documented use so
	// that they cannot disturb it: they show that the check below can fail.
	controls := map[string][]string{}
	for _, variant := range []string{"noStableID", "idsOnly", "dataObject"} {
		for _, v := range append(visitors[:4:4], visitors[bsVisitors-4:]...) {
			id := variant + "/" + v.id
			controls[variant] = append(controls[variant], id)
			in.Visitors = append(in.Visitors, bsNodeVisitor{ID: id, Doc: server[v.id].Doc, Variant: variant})
		}
	}

	out := bsRunNode(t, node, in)
	t.Logf("@statsig/js-client %s", out.ClientVersion)
	results := map[string]bsExperiment{} // by visitor id and config name, for the controls
	agree := map[string]int{}            // by config name: the browser's value is the server's
	recognized := map[string]int{}       // by config name: reason Bootstrap:Recognized
	var problems []string
	for _, r := range out.Results {
		for name, e := range r.Experiments {
			results[r.ID+" "+name] = e
		}
		for name, g := range r.Gates {
			results[r.ID+" "+name] = bsExperiment{Group: fmt.Sprint(g.Value), Reason: g.Reason}
		}
		sv, ok := server[r.ID]
		if !ok {
			continue // a control
		}
		var p []string
		check := func(name string, same bool, got, want any, reason string) {
			if same {
				agree[name]++
			} else {
				p = append(p, fmt.Sprintf("%s: browser %v, server %v", name, got, want))
			}
			if reason == "Bootstrap:Recognized" {
				recognized[name]++
			} else {
				p = append(p, fmt.Sprintf("%s: reason %s", name, reason))
			}
		}
		for name, want := range sv.Experiments {
			got := r.Experiments[name]
			check(name, got.Group == want.Group && got.Param == want.Param,
				fmt.Sprintf("%q/%v", got.Group, got.Param), fmt.Sprintf("%q/%v", want.Group, want.Param), got.Reason)
		}
		got, want := r.Gates[bsGate], sv.Gates[bsGate]
		check(bsGate, got.Value == want.Value, got.Value, want.Value, got.Reason)
		if len(p) > 0 {
			problems = append(problems, r.ID+": "+strings.Join(p, "; "))
		}
	}
	t.Logf("out of %d visitors, agreeing / reason Bootstrap:Recognized: %s %d/%d, %s %d/%d, %s %d/%d",
		bsVisitors, bsExpUser, agree[bsExpUser], recognized[bsExpUser], bsExpStable, agree[bsExpStable],
		recognized[bsExpStable], bsGate, agree[bsGate], recognized[bsGate])
	if len(problems) > 0 {
		n := len(problems)
		if n > 5 {
			problems = append(problems[:5], "...")
		}
		t.Errorf("the browser does not match the server for %d of %d visitors:\n%s", n, bsVisitors, strings.Join(problems, "\n"))
	}

	// What each misuse costs, as the documentation says.
	for variant, ids := range controls {
		for _, id := range ids {
			v := strings.TrimPrefix(id, variant+"/")
			for _, name := range []string{bsExpUser, bsExpStable, bsGate} {
				got := results[id+" "+name]
				want := server[v].Experiments[name].Group
				if name == bsGate {
					want = fmt.Sprint(server[v].Gates[bsGate].Value)
				}
				switch variant {
				case "idsOnly":
					// Values found, but flagged as meant for another user.
					if got.Reason != "BootstrapPartialUserMatch:Recognized" || got.Group != want {
						t.Errorf("%s %s: %q %s, want the server's %q with BootstrapPartialUserMatch:Recognized", id, name, got.Group, got.Reason, want)
					}
				default:
					// Nothing found: every default, silently.
					if got.Reason != "NoValues" || (name != bsGate && got.Group != "") {
						t.Errorf("%s %s: %q %s, want no group and NoValues", id, name, got.Group, got.Reason)
					}
				}
			}
		}
	}
}
