package statsigmw_test

import (
	"encoding/json"
	"fmt"
	"io"
	"math/rand"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	statsig "github.com/statsig-io/go-sdk"

	"github.com/labkit/statsigmw"
	"github.com/labkit/statsigmw/statsigclient"
)

// TestDifferential reads every gate, experiment, dynamic config and layer
// of several rule sets through the middleware, for random visitors, and
// compares each answer with the SDK's own evaluation of the user the
// request stands for, built by the test from what it sent, while the
// backend changes the rules in the background. The rule sets are
// ruleSet's (every condition type on the user's fields, its user agent,
// nested gates, the time and an ID list) and the SDK's own test files.
// A read whose comparison straddles a rule change is not compared; the
// test asserts that most are.
func TestDifferential(t *testing.T) {
	if testing.Short() {
		t.Skip("differential test skipped in -short mode")
	}
	families := []map[string]any{decodeSpecs(t, ruleSet(t, 1))}
	for _, f := range []string{"download_config_specs.json", "download_config_specs_ua_gates.json", "layer_exposure_download_config_specs.json"} {
		families = append(families, decodeSpecs(t, sdkTestFile(t, f)))
	}
	rules := newRulesServer(t, families)
	var applied atomic.Int64
	opts := &statsig.Options{
		API:                  rules.URL,
		ConfigSyncInterval:   15 * time.Millisecond,
		LoggingInterval:      time.Hour,
		LoggingMaxBufferSize: 1 << 20,
		IPCountryOptions:     statsig.IPCountryOptions{Disabled: true},
		StatsigLoggerOptions: statsig.StatsigLoggerOptions{DisableInitDiagnostics: true, DisableSyncDiagnostics: true, DisableApiDiagnostics: true},
		RulesUpdatedCallback: func(string, int64) { applied.Add(1) },
	}
	client := mustClient(t, statsigclient.Config{Secret: "secret-differential", Options: opts})
	sdk := client.SDK()
	mw, err := statsigmw.New(client, statsigmw.Config{
		TrustedProxies: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")},
		LoginID:        func(r *http.Request) string { return r.Header.Get("X-User") },
		ExtendUser: func(r *http.Request, u *statsig.User) {
			if plan := r.Header.Get("X-Plan"); plan != "" {
				u.Custom["plan"] = plan
				u.Email = plan + "@statsig.com"
			}
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	gates, configs, layers := rules.names()

	var reads, compared, straddled atomic.Int64
	var mu sync.Mutex
	var mismatches []string
	visits := make(map[string]statsig.User) // visit id -> the user the test expects
	handler := mw.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		mu.Lock()
		want := visits[r.Header.Get("X-Visit")]
		mu.Unlock()
		if want.CustomIDs == nil { // a new visitor: the id is the one the middleware made
			u, _ := statsigmw.User(ctx)
			id := u.CustomIDs["stableID"]
			want.CustomIDs = map[string]string{"stableID": id}
			if want.UserID == "" {
				want.UserID = id
			}
		}
		// stable reports whether the rules the client evaluates with
		// stayed one set from before the middleware's read to after the
		// SDK's: every set served was applied, and none was served since.
		appliedBefore, before := applied.Load(), rules.served.Load()
		stable := func() bool {
			return appliedBefore == before && applied.Load() == before && rules.served.Load() == before
		}
		check := func(kind, name string, got, wantV any) {
			reads.Add(1)
			if !stable() {
				straddled.Add(1)
				return
			}
			compared.Add(1)
			if !reflect.DeepEqual(got, wantV) {
				mu.Lock()
				mismatches = append(mismatches, fmt.Sprintf("%s %s for %+v: middleware %+v, SDK %+v", kind, name, want, got, wantV))
				mu.Unlock()
			}
		}
		if u, _ := statsigmw.User(ctx); !reflect.DeepEqual(u, want) {
			mu.Lock()
			mismatches = append(mismatches, fmt.Sprintf("user %+v, want %+v", u, want))
			mu.Unlock()
		}
		for _, name := range gates {
			pass, ok := statsigmw.Gate(ctx, name)
			g := sdk.GetGateWithExposureLoggingDisabled(want, name)
			known := g.EvaluationDetails != nil && g.EvaluationDetails.Reason != statsig.ReasonUnrecognized || g.RuleID == "default" || g.RuleID == "disabled"
			check("gate", name, [2]any{pass, ok}, [2]any{g.Value, known})
		}
		for _, name := range configs {
			cfg, ok := statsigmw.Experiment(ctx, name)
			c := sdk.GetExperimentWithExposureLoggingDisabled(want, name)
			known := c.EvaluationDetails != nil && c.EvaluationDetails.Reason != statsig.ReasonUnrecognized
			check("config", name, [4]any{cfg.Value, cfg.RuleID, cfg.GroupName, ok}, [4]any{c.Value, c.RuleID, c.GroupName, known})
		}
		for _, name := range layers {
			l, _ := statsigmw.Layer(ctx, name)
			o := sdk.GetLayerWithExposureLoggingDisabled(want, name)
			check("layer", name, [3]any{l.Value, l.RuleID, l.GroupName}, [3]any{o.Value, o.RuleID, o.GroupName})
		}
	}))
	srv := httptest.NewServer(handler)
	t.Cleanup(srv.Close)

	stop := make(chan struct{})
	var changer sync.WaitGroup
	changer.Add(1)
	go func() { // the backend changes its rules in the background
		defer changer.Done()
		tick := time.NewTicker(25 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
				rules.next()
			}
		}
	}()

	rng := rand.New(rand.NewSource(1))
	uas := []string{uaChrome, uaFirefox, "", "curl/8.0", "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1"}
	langs := []string{"de-DE,de;q=0.9", "en-US", "", "*", "fr", "x;;"}
	ips := []string{"10.1.2.3", "192.0.2.44", "2001:db8::7", "198.51.100.9"}
	const n = 400
	deadline := time.Now().Add(20 * time.Second)
	for i := 0; i < n && time.Now().Before(deadline); i++ {
		id := uuid.NewString()
		ua, lang, ip := uas[rng.Intn(len(uas))], langs[rng.Intn(len(langs))], ips[rng.Intn(len(ips))]
		want := statsig.User{UserID: id, UserAgent: ua, CustomIDs: map[string]string{"stableID": id},
			Custom: map[string]any{"id_source": "cookie"}, PrivateAttributes: map[string]any{"ip": ip}}
		returning := rng.Intn(4) != 0 // a quarter are new visitors, whose reads log their own exposures
		if !returning {
			want.UserID, want.CustomIDs, want.Custom["id_source"] = "", nil, "new"
		}
		if l := strings.Split(strings.Split(lang, ",")[0], ";")[0]; l != "*" {
			want.Locale = l
		}
		req, _ := http.NewRequest(http.MethodGet, srv.URL, nil)
		if returning {
			req.Header.Set("Cookie", cookieName+"="+stamped(id))
		}
		req.Header.Set("X-Forwarded-For", ip)
		req.Header.Set("X-Visit", strconv.Itoa(i))
		if ua != "" {
			req.Header.Set("User-Agent", ua)
		} else {
			req.Header["User-Agent"] = []string{""} // net/http would send its own
		}
		if lang != "" {
			req.Header.Set("Accept-Language", lang)
		}
		if rng.Intn(3) == 0 {
			login := fmt.Sprintf("user-%d", rng.Intn(50))
			req.Header.Set("X-User", login)
			want.UserID = login
		}
		if rng.Intn(3) == 0 {
			plan := []string{"free", "pro"}[rng.Intn(2)]
			req.Header.Set("X-Plan", plan)
			want.Custom["plan"] = plan
			want.Email = plan + "@statsig.com"
		}
		mu.Lock()
		visits[strconv.Itoa(i)] = want
		mu.Unlock()
		resp, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	close(stop)
	changer.Wait()

	t.Logf("%d reads, %d compared with the SDK, %d straddled a rule change; %d rule sets served; 0 reused (the middleware reuses no evaluation across requests)",
		reads.Load(), compared.Load(), straddled.Load(), rules.served.Load())
	for i, m := range mismatches {
		if i == 10 {
			t.Errorf("... and %d more", len(mismatches)-10)
			break
		}
		t.Error(m)
	}
	if compared.Load() < reads.Load()/2 || rules.served.Load() < 5 {
		t.Errorf("compared %d of %d reads over %d rule sets: too few to mean anything", compared.Load(), reads.Load(), rules.served.Load())
	}
}

// rulesServer serves download_config_specs from a rotation of rule set
// families, each served with its pass percentages and salts varied, under
// a new time at every next().
type rulesServer struct {
	*httptest.Server
	families []map[string]any
	mu       sync.Mutex
	version  int64
	doc      []byte
	served   atomic.Int64 // rule sets served with updates
}

func newRulesServer(t *testing.T, families []map[string]any) *rulesServer {
	s := &rulesServer{families: families}
	s.next()
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case strings.Contains(r.URL.Path, "download_config_specs"):
			since, _ := strconv.ParseInt(r.URL.Query().Get("sinceTime"), 10, 64)
			s.mu.Lock()
			doc, version := s.doc, s.version
			s.mu.Unlock()
			if since >= 1_000_000+version {
				fmt.Fprintf(w, `{"has_updates":false,"time":%d}`, 1_000_000+version)
				return
			}
			s.served.Add(1)
			_, _ = w.Write(doc)
		case strings.Contains(r.URL.Path, "log_event"):
			_, _ = io.Copy(io.Discard, r.Body)
			w.WriteHeader(http.StatusAccepted)
			_, _ = w.Write([]byte(`{"success":true}`))
		default:
			_, _ = w.Write([]byte("{}"))
		}
	}))
	t.Cleanup(s.Close)
	return s
}

// next makes the next rule set the one served.
func (s *rulesServer) next() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.version++
	v := s.version
	doc := cloneDoc(s.families[int(v)%len(s.families)])
	doc["time"] = 1_000_000 + v
	doc["has_updates"] = true
	for _, section := range []string{"feature_gates", "dynamic_configs", "layer_configs"} {
		list, _ := doc[section].([]any)
		for _, c := range list {
			for _, r := range c.(map[string]any)["rules"].([]any) {
				r := r.(map[string]any)
				if p, ok := r["passPercentage"].(float64); ok && p > 0 {
					r["passPercentage"] = []float64{p, p / 2, 100}[v%3]
				}
				if salt, ok := r["salt"].(string); ok && v%2 == 1 {
					r["salt"] = salt + "-v"
				}
			}
		}
	}
	b, err := json.Marshal(doc)
	if err != nil {
		panic(err)
	}
	s.doc = b
}

// names returns every gate, dynamic config and layer name of every family,
// and one name no family has.
func (s *rulesServer) names() (gates, configs, layers []string) {
	seen := map[string]bool{}
	add := func(list *[]string, name string) {
		if !seen[name] {
			seen[name] = true
			*list = append(*list, name)
		}
	}
	for _, f := range s.families {
		for _, section := range []string{"feature_gates", "dynamic_configs", "layer_configs"} {
			list, _ := f[section].([]any)
			for _, c := range list {
				name := c.(map[string]any)["name"].(string)
				switch section {
				case "feature_gates":
					add(&gates, "gate:"+name)
				case "dynamic_configs":
					add(&configs, "config:"+name)
				default:
					add(&layers, "layer:"+name)
				}
			}
		}
	}
	strip := func(l []string) []string {
		for i := range l {
			_, l[i], _ = strings.Cut(l[i], ":")
		}
		return l
	}
	return strip(append(gates, "gate:no_such_gate")), strip(append(configs, "config:no_such_config")), strip(append(layers, "layer:no_such_layer"))
}

func decodeSpecs(t *testing.T, specs string) map[string]any {
	t.Helper()
	var doc map[string]any
	if err := json.Unmarshal([]byte(specs), &doc); err != nil {
		t.Fatal(err)
	}
	return doc
}

func cloneDoc(doc map[string]any) map[string]any {
	b, _ := json.Marshal(doc)
	var c map[string]any
	_ = json.Unmarshal(b, &c)
	return c
}

// sdkTestFile reads a test file of the SDK's module, found with the go
// command that runs the test.
func sdkTestFile(t *testing.T, name string) string {
	t.Helper()
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "github.com/statsig-io/go-sdk").Output()
	if err != nil {
		t.Fatalf("locating the SDK's module: %v", err)
	}
	b, err := os.ReadFile(filepath.Join(strings.TrimSpace(string(out)), name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
