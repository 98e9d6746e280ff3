package statsigmw_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	statsig "github.com/statsig-io/go-sdk"

	"github.com/labkit/statsigmw"
	"github.com/labkit/statsigmw/statsigtest"
)

// A rule set in the download_config_specs format with the conditions the
// SDK can evaluate: on the user's fields, its user agent, nested gates, the
// time and an ID list. statsigtest builds only weight splits.

func cond(typ, op, field string, target any, extra ...any) map[string]any {
	c := map[string]any{"type": typ, "operator": op, "field": field, "targetValue": target, "idType": "userID"}
	if len(extra) == 2 {
		c["additionalValues"] = map[string]any{extra[0].(string): extra[1]}
	}
	return c
}

// stableID makes c read the stableID unit.
func stableID(c map[string]any) map[string]any {
	c["idType"] = "stableID"
	return c
}

func rule(id, group string, pass float64, value map[string]any, conds ...map[string]any) map[string]any {
	r := map[string]any{"name": id, "id": id, "salt": id, "passPercentage": pass, "conditions": conds, "idType": "userID"}
	if value != nil {
		r["returnValue"] = value
		r["groupName"] = group
		r["isExperimentGroup"] = true
	} else {
		r["returnValue"] = true
	}
	return r
}

func gateDoc(name string, rules ...map[string]any) map[string]any {
	return map[string]any{"name": name, "type": "feature_gate", "entity": "feature_gate", "salt": name, "enabled": true,
		"defaultValue": false, "idType": "userID", "rules": rules}
}

func experimentDoc(name string, rules ...map[string]any) map[string]any {
	return map[string]any{"name": name, "type": "dynamic_config", "entity": "experiment", "salt": name, "enabled": true,
		"defaultValue": map[string]any{"v": "default"}, "idType": "userID", "isActive": true, "rules": rules}
}

func ruleSet(t testing.TB, time int64) string {
	t.Helper()
	doc := map[string]any{
		"has_updates": true, "time": time,
		"feature_gates": []any{
			gateDoc("ua_chrome", rule("g1", "", 100, nil, cond("ua_based", "any", "browser_name", []any{"Chrome"}))),
			gateDoc("locale_de", rule("g2", "", 100, nil, cond("user_field", "str_starts_with_any", "locale", []any{"de"}))),
			gateDoc("ip_ten", rule("g3", "", 100, nil, cond("user_field", "str_starts_with_any", "ip", []any{"10."}))),
			gateDoc("half", rule("g4", "", 50, nil, cond("public", "", "", nil))),
			gateDoc("chrome_and_half", rule("g5", "", 100, nil,
				cond("pass_gate", "", "", "ua_chrome"), cond("pass_gate", "", "", "half"))),
			gateDoc("clock", rule("g6", "", 100, nil, cond("current_time", "gt", "", 0))),
			gateDoc("listed", rule("g7", "", 100, nil, cond("unit_id", "not_in_segment_list", "", "beta"))),
		},
		"dynamic_configs": []any{
			experimentDoc("exp_multi",
				rule("m1", "German", 100, map[string]any{"v": "de"}, cond("pass_gate", "", "", "locale_de")),
				rule("m2", "ChromeHalf", 100, map[string]any{"v": "chrome"}, cond("pass_gate", "", "", "chrome_and_half")),
				rule("m3", "Low", 100, map[string]any{"v": "low"}, cond("user_bucket", "lt", "", 500, "salt", "exp_multi")),
				rule("m4", "High", 100, map[string]any{"v": "high"}, cond("public", "", "", nil))),
			experimentDoc("exp_login",
				rule("l1", "LoggedIn", 100, map[string]any{"v": "in"}, cond("user_field", "str_starts_with_any", "userID", []any{"user-"}))),
			experimentDoc("exp_source",
				rule("s1", "New", 100, map[string]any{"v": "new"}, cond("user_field", "any", "id_source", []any{"new"})),
				rule("s2", "Other", 100, map[string]any{"v": "other"}, cond("public", "", "", nil))),
			experimentDoc("exp_fields", // a group for each field of the user
				rule("f1", "IP10", 100, map[string]any{"v": "ip"}, cond("user_field", "str_starts_with_any", "ip", []any{"10."})),
				rule("f2", "LoggedIn", 100, map[string]any{"v": "in"}, cond("user_field", "str_starts_with_any", "userID", []any{"user-"})),
				rule("f3", "German", 100, map[string]any{"v": "de"}, cond("user_field", "str_starts_with_any", "locale", []any{"de"})),
				rule("f4", "Chrome", 100, map[string]any{"v": "chrome"}, cond("ua_based", "any", "browser_name", []any{"Chrome"})),
				rule("f5", "New", 100, map[string]any{"v": "new"}, cond("user_field", "any", "id_source", []any{"new"})),
				rule("f6", "Bucket", 100, map[string]any{"v": "bucket"}, stableID(cond("user_bucket", "lt", "", 500, "salt", "exp_fields"))),
				rule("f7", "Other", 100, map[string]any{"v": "other"}, cond("public", "", "", nil))),
			experimentDoc("exp_clock",
				rule("c1", "Timed", 100, map[string]any{"v": "timed"}, cond("pass_gate", "", "", "clock"))),
		},
		"layer_configs": []any{}, "layers": map[string]any{},
	}
	b, err := json.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

const (
	uaChrome  = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36"
	uaFirefox = "Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0"
)

type visit struct {
	cookie, ua, lang, remote, login string
}

func (v visit) request() *http.Request {
	r := httptest.NewRequest("GET", "/", nil)
	r.RemoteAddr = v.remote
	if v.cookie != "" {
		r.Header.Set("Cookie", cookieName+"="+v.cookie)
	}
	if v.ua != "" {
		r.Header.Set("User-Agent", v.ua)
	}
	if v.lang != "" {
		r.Header.Set("Accept-Language", v.lang)
	}
	if v.login != "" {
		r.Header.Set("X-User", v.login)
	}
	return r
}

// TestGateFailingByDefault reads a gate whose rules the user does not match.
// The SDK gives such a result no evaluation details; the gate is still
// known, and its exposure (value false) is logged.
func TestGateFailingByDefault(t *testing.T) {
	srv := startBackend(t, statsigtest.Config{})
	cc := srv.ClientConfig()
	opts := *cc.Options
	opts.BootstrapValues = ruleSet(t, 1<<50) // newer than the backend's: it is kept
	opts.UAParserOptions = statsig.UAParserOptions{}
	cc.Options = &opts
	client := mustClient(t, cc)
	mw, err := statsigmw.New(client, statsigmw.Config{})
	if err != nil {
		t.Fatal(err)
	}
	var pass, ok bool
	h := mw.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		pass, ok = statsigmw.Gate(r.Context(), "ua_chrome")
	}))
	h.ServeHTTP(httptest.NewRecorder(), visit{ua: uaFirefox, remote: "192.0.2.1:1"}.request())
	if pass || !ok {
		t.Fatalf("Gate = %v, %v; want false, true", pass, ok)
	}
	srv.Flush(t, client)
	xs := exposuresOf(srv.Exposures(), statsigtest.GateExposure, "ua_chrome")
	if len(xs) != 1 || xs[0].GateValue {
		t.Fatalf("gate exposures %+v, want one with value false", xs)
	}
}
