package statsigmw_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"unicode/utf16"

	statsig "github.com/statsig-io/go-sdk"

	"github.com/labkit/statsigmw"
	"github.com/labkit/statsigmw/statsigtest"
)

// bootstrapConfig is the backend of the Bootstrap tests: a four-group
// experiment on stableID.
func bootstrapConfig() statsigtest.Config {
	exp := statsigtest.ExperimentSpec{Name: "bs_exp", Unit: statsigtest.UnitStableID}
	for _, g := range []string{"Blue", "Green", "Red", "Orange"} {
		exp.Groups = append(exp.Groups, statsigtest.Group{Name: g, Weight: 25, Params: map[string]any{"color": g}})
	}
	return statsigtest.Config{Experiments: []statsigtest.ExperimentSpec{exp}}
}

// bootstrapDoc is a bootstrap document, with the members the tests check.
type bootstrapDoc struct {
	User json.RawMessage `json:"user"`
	Data struct {
		User           json.RawMessage `json:"user"`
		HashUsed       string          `json:"hash_used"`
		DynamicConfigs map[string]struct {
			GroupName string `json:"group_name"`
		} `json:"dynamic_configs"`
	} `json:"data"`
}

// checkBootstrapDoc checks what every document must satisfy: exactly the
// members user and data, data's user the same bytes as user, names hashed
// with djb2, and neither the IP nor any private attribute.
func checkBootstrapDoc(t *testing.T, b []byte) (doc bootstrapDoc, user statsig.User) {
	t.Helper()
	var members map[string]json.RawMessage
	if err := json.Unmarshal(b, &members); err != nil {
		t.Fatalf("%v in %s", err, b)
	}
	if _, ok := members["user"]; !ok || len(members) != 2 {
		t.Fatalf("members %v, want user and data: %s", keys(members), b)
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatalf("%v in %s", err, b)
	}
	if !bytes.Equal(doc.User, doc.Data.User) {
		t.Errorf("user %s, data.user %s: want the same bytes", doc.User, doc.Data.User)
	}
	if doc.Data.HashUsed != "djb2" {
		t.Errorf("hash_used %q, want djb2", doc.Data.HashUsed)
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(doc.User, &fields); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"ip", "privateAttributes"} {
		if v, ok := fields[k]; ok {
			t.Errorf("the user carries %s: %s", k, v)
		}
	}
	if err := json.Unmarshal(doc.User, &user); err != nil {
		t.Fatal(err)
	}
	return doc, user
}

func keys(m map[string]json.RawMessage) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	return ks
}

// djb2 is @statsig/js-client's name hash (Hashing.ts _DJB2): over UTF-16
// code units, as an unsigned 32-bit decimal.
func djb2(s string) string {
	var h int32
	for _, c := range utf16.Encode([]rune(s)) {
		h = h<<5 - h + int32(c)
	}
	return strconv.FormatUint(uint64(uint32(h)), 10)
}

func TestBootstrapDocument(t *testing.T) {
	t.Parallel()
	srv := startBackend(t, bootstrapConfig())
	client := srv.NewClient(t)
	m, err := statsigmw.New(client, statsigmw.Config{
		UnsafeSendIP: true, // the document must leave the IP out even so
		ExtendUser: func(r *http.Request, u *statsig.User) {
			if u.PrivateAttributes == nil {
				u.PrivateAttributes = map[string]any{}
			}
			u.PrivateAttributes["email"] = "private@example.com"
			u.Custom["plan"] = "pro"
		},
	})
	if err != nil {
		t.Fatal(err)
	}

	var doc []byte
	var server statsig.User
	var group string
	h := m.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/read" {
			cfg, _ := statsigmw.Experiment(r.Context(), "bs_exp")
			group = cfg.GroupName
			return
		}
		var err error
		if doc, err = statsigmw.Bootstrap(r.Context()); err != nil {
			t.Error(err)
		}
		server, _ = statsigmw.User(r.Context())
	}))
	r := httptest.NewRequest(http.MethodGet, "/bootstrap.json", nil)
	r.RemoteAddr = "192.0.2.44:1234"
	r.Header.Set("User-Agent", `Mozilla/5.0 "quoted"`)
	r.Header.Set("Accept-Language", "de-CH,de;q=0.9")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, r)

	d, user := checkBootstrapDoc(t, doc)
	if bytes.Contains(doc, []byte("192.0.2.44")) || bytes.Contains(doc, []byte("private@example.com")) {
		t.Errorf("the document carries the IP or a private attribute: %s", doc)
	}
	if server.IpAddress != "192.0.2.44" || server.PrivateAttributes["email"] == nil {
		t.Fatalf("the server's user %+v lacks the IP or the private attribute: the test proves nothing", server)
	}
	if user.UserID != server.UserID || user.CustomIDs["stableID"] != server.CustomIDs["stableID"] ||
		user.UserAgent != server.UserAgent || user.Locale != "de-CH" || user.Custom["plan"] != "pro" {
		t.Errorf("document user %+v, want the server's %+v without its private parts", user, server)
	}

	// The same visitor's next page reads the experiment: the document
	// must hold the group it gets.
	r2 := httptest.NewRequest(http.MethodGet, "/read", nil)
	r2.RemoteAddr = r.RemoteAddr
	for _, c := range rec.Result().Cookies() {
		r2.AddCookie(c)
	}
	h.ServeHTTP(httptest.NewRecorder(), r2)
	if got := d.Data.DynamicConfigs[djb2("bs_exp")].GroupName; group == "" || got != group {
		t.Errorf("document group %q, server group %q", got, group)
	}
	if _, ok := d.Data.DynamicConfigs["bs_exp"]; ok {
		t.Error("the document names the experiment in clear")
	}

	// Bootstrap logs nothing; the read on the second page logs one exposure.
	srv.Flush(t, client)
	if xs := srv.Exposures(); len(xs) != 1 {
		t.Errorf("%d exposures, want 1 (from the read, none from Bootstrap): %+v", len(xs), xs)
	}
}

func TestBootstrapErrors(t *testing.T) {
	t.Parallel()
	if _, err := statsigmw.Bootstrap(context.Background()); !errors.Is(err, statsigmw.ErrNoScope) {
		t.Errorf("without a scope: %v, want ErrNoScope", err)
	}
	ctx := statsigmw.NewContext(context.Background(), nil, statsig.User{UserID: "u"})
	if _, err := statsigmw.Bootstrap(ctx); err == nil || errors.Is(err, statsigmw.ErrNoScope) {
		t.Errorf("without a client: %v, want an error about the client", err)
	}
}

// FuzzBootstrapUser feeds user fields a request controls (user agent,
// locale) and a hook may set to Bootstrap: the document stays valid, its two
// users identical, with no IP and no private attribute.
func FuzzBootstrapUser(f *testing.F) {
	client := localClientOf(f, bootstrapConfig())
	f.Add("member-1", "Mozilla/5.0", "en-US", "pro")
	f.Add("", `"\u2028</script>`, "\xff", "\x00")
	f.Fuzz(func(t *testing.T, uid, ua, locale, custom string) {
		ctx := statsigmw.NewContext(context.Background(), client, statsig.User{
			UserID:            uid,
			UserAgent:         ua,
			Locale:            locale,
			IpAddress:         "192.0.2.7",
			Custom:            map[string]any{"plan": custom},
			PrivateAttributes: map[string]any{"email": "private@example.com"},
		})
		b, err := statsigmw.Bootstrap(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if !json.Valid(b) {
			t.Fatalf("invalid JSON: %q", b)
		}
		_, user := checkBootstrapDoc(t, b)
		if user.CustomIDs["stableID"] == "" || user.UserID == "" {
			t.Errorf("document user without ids: %+v", user)
		}
	})
}

// BenchmarkBootstrap compares Bootstrap with the SDK call and encoding it
// wraps, for one fixed user.
func BenchmarkBootstrap(b *testing.B) {
	client := localClientOf(b, bootstrapConfig())
	user := statsig.User{UserID: "member-1", UserAgent: "Mozilla/5.0", Locale: "en-US",
		CustomIDs: map[string]string{"stableID": "7f0c6e8e-3b8a-4c1e-9d57-2f1a3b4c5d6e"},
		Custom:    map[string]any{"id_source": "cookie"}}
	ctx := statsigmw.NewContext(context.Background(), client, user)
	b.Run("sdk", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			resp := client.SDK().GetClientInitializeResponseWithOptions(user, &statsig.GCIROptions{HashAlgorithm: "djb2"})
			if _, err := json.Marshal(resp); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("Bootstrap", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			if _, err := statsigmw.Bootstrap(ctx); err != nil {
				b.Fatal(err)
			}
		}
	})
}
