package ofprovider_test

import (
	"context"
	"testing"
	"time"

	"github.com/open-feature/go-sdk/openfeature"
	statsig "github.com/statsig-io/go-sdk"

	"github.com/labkit/statsigmw"
	"github.com/labkit/statsigmw/ofprovider"
	"github.com/labkit/statsigmw/statsigclient"
	"github.com/labkit/statsigmw/statsigtest"
)

// Without a request scope, the provider evaluates for the user of the
// evaluation context.
func TestOutsideScope(t *testing.T) {
	e := newEnv(t)
	bg := context.Background()
	attrs := map[string]any{"plan": "pro", "email": "a@example.com", "ip": "192.0.2.1"}
	var groups = map[string]bool{}
	for i := 0; i < 8; i++ {
		id := "job-user-" + string(rune('a'+i))
		d, err := e.of.StringValueDetails(bg, "exp.color", "def", openfeature.NewEvaluationContext(id, attrs))
		if err != nil {
			t.Fatal(err)
		}
		cfg, _ := statsigmw.PeekExperiment(statsigmw.NewContext(bg, e.client, statsig.User{UserID: id}), "exp")
		if d.Value != cfg.GetString("color", "?") || d.Variant != cfg.GroupName {
			t.Errorf("%s: OpenFeature %q (%s), statsigmw %q (%s)", id, d.Value, d.Variant, cfg.GetString("color", "?"), cfg.GroupName)
		}
		groups[cfg.GroupName] = true
	}
	if len(groups) < 2 {
		t.Errorf("every user in group(s) %v: the comparison proves little", groups)
	}

	for _, tc := range []struct {
		name string
		ec   openfeature.EvaluationContext
		code openfeature.ErrorCode
	}{
		{"no targeting key", openfeature.NewTargetlessEvaluationContext(map[string]any{"plan": "pro"}), openfeature.TargetingKeyMissingCode},
		{"stableID only", openfeature.NewTargetlessEvaluationContext(map[string]any{"stableID": "s-1"}), ""},
		{"email not a string", openfeature.NewEvaluationContext("u", map[string]any{"email": 5}), openfeature.InvalidContextCode},
		{"customIDs not a map", openfeature.NewEvaluationContext("u", map[string]any{"customIDs": "x"}), openfeature.InvalidContextCode},
	} {
		d, _ := e.of.BooleanValueDetails(bg, "half", false, tc.ec)
		if d.ErrorCode != tc.code {
			t.Errorf("%s: error code %q, want %q", tc.name, d.ErrorCode, tc.code)
		}
	}

	e.srv.Flush(t, e.client)
	found := false
	for _, x := range e.srv.Exposures() {
		if x.User.UserID == "job-user-a" && x.Name == "exp" {
			found = true
			if x.User.Custom["plan"] != "pro" || x.User.Email != "a@example.com" || x.User.IpAddress != "" {
				t.Errorf("exposure's user %+v: want plan pro, the email, and no IP", x.User)
			}
		}
	}
	if !found {
		t.Error("no exposure for job-user-a")
	}
}

func TestUserOf(t *testing.T) {
	u, err := ofprovider.UserOf(openfeature.NewEvaluationContext("u1", map[string]any{
		"stableID": "s1", "customIDs": map[string]any{"companyID": "c1"}, "email": "e", "userAgent": "ua",
		"country": "NZ", "locale": "en-NZ", "appVersion": "1.2", "ip": "192.0.2.1",
		"privateAttributes": map[string]any{"secret": 1}, "plan": "pro",
	}))
	if err != nil {
		t.Fatal(err)
	}
	if u.UserID != "u1" || u.CustomIDs["stableID"] != "s1" || u.CustomIDs["companyID"] != "c1" || u.Email != "e" ||
		u.UserAgent != "ua" || u.Country != "NZ" || u.Locale != "en-NZ" || u.AppVersion != "1.2" || u.IpAddress != "" ||
		u.PrivateAttributes["ip"] != "192.0.2.1" || u.PrivateAttributes["secret"] != 1 || u.Custom["plan"] != "pro" || len(u.Custom) != 1 {
		t.Errorf("UserOf = %+v", u)
	}
	if _, err := ofprovider.UserOf(openfeature.EvaluationContext{}); err == nil {
		t.Error("UserOf of an empty context: no error")
	}
}

// A provider whose client has no configs starts in ERROR, answers
// PROVIDER_NOT_READY, and becomes READY once the client downloads configs.
func TestReadyLater(t *testing.T) {
	srv := statsigtest.NewServer(testConfig())
	t.Cleanup(srv.Close)
	srv.SetFault(statsigtest.EndpointConfigSpecs, statsigtest.Fault{Status: 500})
	cc := srv.ClientConfig()
	cc.Options.ConfigSyncInterval = 50 * time.Millisecond
	client, err := statsigclient.New(cc)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = client.Shutdown(context.Background()) })
	if client.Initialized() {
		t.Fatal("client initialised against a failing backend")
	}

	api, of := openFeature(t)
	ready := make(chan struct{}, 1)
	onReady := func(openfeature.EventDetails) {
		select {
		case ready <- struct{}{}:
		default:
		}
	}
	api.AddHandler(openfeature.ProviderReady, &onReady)
	p := mustProvider(t, client)
	if err := api.SetProviderAndWait(context.Background(), p); err == nil {
		t.Fatal("SetProviderAndWait: no error for a client without configs")
	}
	if s := of.State(); s != openfeature.ErrorState {
		t.Fatalf("state %s, want %s", s, openfeature.ErrorState)
	}
	ctx := statsigmw.NewContext(context.Background(), client, statsig.User{UserID: "u"})
	if d, _ := of.BooleanValueDetails(ctx, "half", true, openfeature.EvaluationContext{}); d.ErrorCode != openfeature.ProviderNotReadyCode || !d.Value {
		t.Errorf("before configs: %v, %q; want the default and %s", d.Value, d.ErrorCode, openfeature.ProviderNotReadyCode)
	}

	srv.SetFault(statsigtest.EndpointConfigSpecs, statsigtest.Fault{})
	select {
	case <-ready:
	case <-time.After(10 * time.Second):
		t.Fatal("no PROVIDER_READY 10 s after the backend recovered")
	}
	if s := of.State(); s != openfeature.ReadyState {
		t.Errorf("state %s after PROVIDER_READY", s)
	}
	if d, _ := of.StringValueDetails(ctx, "exp.color", "def", openfeature.EvaluationContext{}); d.ErrorCode != "" || d.Variant == "" {
		t.Errorf("after configs: %q (%s), error %q", d.Value, d.Variant, d.ErrorCode)
	}
}

// Shutdown ends the watch of a provider that was never ready (the leak
// check of TestMain fails otherwise), and the provider can be set again.
func TestShutdownBeforeReady(t *testing.T) {
	srv := statsigtest.NewServer(testConfig())
	t.Cleanup(srv.Close)
	srv.SetFault(statsigtest.EndpointConfigSpecs, statsigtest.Fault{Status: 500})
	client, err := statsigclient.New(srv.ClientConfig())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = client.Shutdown(context.Background()) })
	p := mustProvider(t, client)
	for i := 0; i < 2; i++ {
		if err := p.Init(openfeature.EvaluationContext{}); err == nil {
			t.Fatal("Init: no error for a client without configs")
		}
		p.Shutdown()
	}
	if _, err := ofprovider.New(nil, ofprovider.Config{}); err == nil {
		t.Error("New(nil): no error")
	}
}
