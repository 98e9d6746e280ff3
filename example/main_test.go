package main

import (
	"context"
	"errors"
	"flag"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/labkit/statsigmw"
	"github.com/labkit/statsigmw/statsigclient"
	"github.com/labkit/statsigmw/statsigtest"
)

var (
	urlRE       = regexp.MustCompile(`url=(http://[^\s/]+)/`)
	listeningRE = regexp.MustCompile(`open (http://\S+/) for an index.* url=(http://\S+/)`)
)

// runningExample is run started on a goroutine.
type runningExample struct {
	URL    string
	Out    *syncBuffer
	cancel context.CancelFunc
	done   chan struct{} // closed when run has returned, with err
	err    error
}

// startRun starts the real wiring, run, with env as the environment and
// ADDR=127.0.0.1:0, and waits for it to log the URL it serves.
func startRun(t *testing.T, env map[string]string) *runningExample {
	t.Helper()
	env["ADDR"] = "127.0.0.1:0"
	ctx, cancel := context.WithCancel(context.Background())
	r := &runningExample{Out: &syncBuffer{}, cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(r.done)
		r.err = run(ctx, nil, func(k string) string { return env[k] }, r.Out)
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-r.done:
		case <-time.After(shutdownTimeout + 5*time.Second):
		}
	})
	ok := waitFor(context.Background(), 10*time.Second, func() bool {
		select {
		case <-r.done:
			t.Fatalf("run returned early: %v\n%s", r.err, r.Out)
		default:
		}
		m := urlRE.FindStringSubmatch(r.Out.String())
		if m != nil {
			r.URL = m[1]
		}
		return m != nil
	})
	if !ok {
		t.Fatalf("run did not log its URL within 10 s:\n%s", r.Out)
	}
	return r
}

// stop cancels run's context, as SIGINT does, and returns how long run took
// to return.
func (r *runningExample) stop(t *testing.T) time.Duration {
	t.Helper()
	start := time.Now()
	r.cancel()
	select {
	case <-r.done:
		if r.err != nil {
			t.Errorf("run returned %v, want nil", r.err)
		}
	case <-time.After(shutdownTimeout + 5*time.Second):
		t.Fatalf("run did not return %v after it was cancelled:\n%s", shutdownTimeout+5*time.Second, r.Out)
	}
	return time.Since(start)
}

// TestRunOffline runs the real wiring with no configuration, as
// `go run ./example` does on a fresh machine: it serves the pages, its
// results are live within a second or two, and it shuts down cleanly.
func TestRunOffline(t *testing.T) {
	r := startRun(t, map[string]string{})
	if out := r.Out.String(); !strings.Contains(out, "offline: using the in-process Statsig backend") {
		t.Errorf("the log does not say it is offline:\n%s", out)
	}
	listening := regexp.MustCompile(`msg="listening; [^"]*"`).FindString(r.Out.String())
	for _, want := range []string{r.URL + "/ ", "/tasks?random=1", "/signup", "/results", "/whoami", "Ctrl-C"} {
		if !strings.Contains(listening, want) {
			t.Errorf("the start line %q does not name %q", listening, want)
		}
	}
	browser := newBrowser(t)
	p := parseTasksPage(t, get(t, browser, r.URL+"/tasks"))
	get(t, browser, r.URL+"/signup")

	var res results
	ok := waitFor(context.Background(), 5*time.Second, func() bool {
		getJSON(t, browser, r.URL+"/results.json", &res)
		return res.Converted == 1
	})
	if !ok || res.Exposed != 1 {
		t.Fatalf("/results.json counts %d exposed, %d converted, want 1 and 1 within 5 s", res.Exposed, res.Converted)
	}
	for _, g := range res.Groups {
		if want := g.Group == p.Group; (g.Converted == 1) != want {
			t.Errorf("group %s: %d converted; the visitor was in %s", g.Group, g.Converted, p.Group)
		}
	}

	took := r.stop(t)
	t.Logf("shutdown took %v", took)
	if took > shutdownTimeout {
		t.Errorf("shutdown took %v, over %v", took, shutdownTimeout)
	}
	out := r.Out.String()
	for _, want := range []string{"shutting down", "msg=stopped", "events_dropped=0 events_failed=0"} {
		if !strings.Contains(out, want) {
			t.Errorf("the log lacks %q:\n%s", want, out)
		}
	}
	// Offline with no settings, nothing is worth a warning: the random
	// session key is an info line.
	for _, line := range strings.Split(out, "\n") {
		if strings.Contains(line, "level=ERROR") || strings.Contains(line, "level=WARN") {
			t.Errorf("a warning or error in the log of a clean run: %s", line)
		}
	}
	if !strings.Contains(out, "level=INFO msg=\"SESSION_KEY is not set") {
		t.Errorf("no info line about the random session key:\n%s", out)
	}
	// One URL, the index, and every page named.
	if m := listeningRE.FindStringSubmatch(out); m == nil || m[1] != m[2] || m[1] != r.URL+"/" {
		t.Errorf("the listening line does not give %s/ as the one URL:\n%s", r.URL, out)
	}
	for _, page := range []string{"/tasks,", "/tasks?random=1", "/signup", "/results,", "/results.json", "/whoami", "/bootstrap.json"} {
		if !strings.Contains(out, page) {
			t.Errorf("the start-up log does not name %s:\n%s", page, out)
		}
	}
	if _, err := http.Get(r.URL + "/"); err == nil {
		t.Error("the server still answers after run returned")
	}
}

// TestRunOfflineIPIdentity checks that IDENTITY=ip works offline with the
// development key, and says so.
func TestRunOfflineIPIdentity(t *testing.T) {
	r := startRun(t, map[string]string{"IDENTITY": "ip"})
	if out := r.Out.String(); !strings.Contains(out, "level=WARN") || !strings.Contains(out, "development key") {
		t.Errorf("no warning about the development key:\n%s", out)
	}
	var a, b whoamiResponse
	getJSON(t, newBrowser(t), r.URL+"/whoami", &a)
	getJSON(t, newBrowser(t), r.URL+"/whoami", &b)
	if a.Source != "ip" || a.StableID == "" || a.StableID != b.StableID {
		t.Errorf("two browsers on one IP: %+v and %+v, want one id from source ip", a, b)
	}
	r.stop(t)
}

// TestRunShutdownWithFailingBackend runs the wiring against a Statsig
// backend (STATSIG_SERVER_SECRET and STATSIG_API) whose event endpoint
// fails, and checks that shutdown still ends within shutdownTimeout and
// reports the events it could not deliver.
func TestRunShutdownWithFailingBackend(t *testing.T) {
	for _, tt := range []struct {
		name  string
		fault statsigtest.Fault
	}{
		{"503", statsigtest.Fault{Status: http.StatusServiceUnavailable}},
		{"hang", statsigtest.Fault{Hang: true}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			backend := startBackend(t)
			backend.SetFault(statsigtest.EndpointLogEvent, tt.fault)
			r := startRun(t, map[string]string{"STATSIG_SERVER_SECRET": backend.ClientConfig().Secret, "STATSIG_API": backend.URL, "SESSION_KEY": testSessionKey})
			browser := newBrowser(t)
			parseTasksPage(t, get(t, browser, r.URL+"/tasks?random"))
			get(t, browser, r.URL+"/signup")
			var res results
			getJSON(t, browser, r.URL+"/results.json", &res)
			if res.Live || !strings.Contains(res.Note, "Statsig console") {
				t.Errorf("online /results.json = %+v, want a pointer to the Statsig console", res)
			}

			took := r.stop(t)
			t.Logf("shutdown against a failing backend (%s) took %v", tt.name, took)
			if took > shutdownTimeout {
				t.Errorf("shutdown took %v, over %v", took, shutdownTimeout)
			}
			if out := r.Out.String(); !strings.Contains(out, "some events were not delivered") {
				t.Errorf("the log does not report the lost events:\n%s", out)
			}
		})
	}
}

// TestRunErrors checks that run refuses a bad configuration with a clear
// error instead of serving.
func TestRunErrors(t *testing.T) {
	tests := []struct {
		name string
		args []string
		env  map[string]string
		want string
	}{
		{"ip online without key", nil, map[string]string{"IDENTITY": "ip", "STATSIG_SERVER_SECRET": "secret-x"}, "IDENTITY_HASH_KEY"},
		{"unknown identity", nil, map[string]string{"IDENTITY": "email"}, `IDENTITY="email"`},
		{"short hash key", nil, map[string]string{"IDENTITY_HASH_KEY": "short"}, "at least 16"},
		{"bad proxy", nil, map[string]string{"TRUSTED_PROXIES": "10.0.0.0/8, proxy.internal"}, `"proxy.internal"`},
		{"not a secret key", nil, map[string]string{"STATSIG_SERVER_SECRET": "client-abc", "SESSION_KEY": testSessionKey}, "does not start with"},
		{"bad address", nil, map[string]string{"ADDR": "127.0.0.1:99999"}, "99999"},
		{"unknown flag", []string{"-bogus"}, map[string]string{}, "bogus"},
		{"stray argument", []string{"extra"}, map[string]string{}, "unexpected arguments"},
		{"help", []string{"-h"}, map[string]string{}, flag.ErrHelp.Error()},
		{"bad cookie secure", nil, map[string]string{"COOKIE_SECURE": "sometimes"}, `COOKIE_SECURE="sometimes": want auto`},
		{"bad cookie secure flag", []string{"-cookie-secure", "yes"}, map[string]string{}, `COOKIE_SECURE="yes"`},
		{"short session key", nil, map[string]string{"SESSION_KEY": "short"}, "SESSION_KEY has 5 bytes, want at least 16"},
		{"online without session key", nil, map[string]string{"STATSIG_SERVER_SECRET": "secret-x"}, "SESSION_KEY is required"},
		{"redis URL scheme", nil, map[string]string{"REDIS_URL": "http://localhost:6379"}, "REDIS_URL: want redis://"},
		{"redis URL database", nil, map[string]string{"REDIS_URL": "redis://localhost:6379/x"}, "invalid database number"},
		{"redis URL option", nil, map[string]string{"REDIS_URL": "redis://localhost:6379?bogus=1"}, "unexpected option"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := run(context.Background(), tt.args, func(k string) string { return tt.env[k] }, io.Discard)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("run = %v, want an error containing %q", err, tt.want)
			}
		})
	}
}

func TestParseConfig(t *testing.T) {
	env := func(kv ...string) func(string) string {
		m := map[string]string{}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return func(k string) string { return m[k] }
	}
	t.Run("defaults", func(t *testing.T) {
		c, err := parseConfig(nil, env(), io.Discard)
		if err != nil {
			t.Fatal(err)
		}
		if c.Addr != "localhost:8080" || !c.Offline() || c.Identity != statsigmw.CookieIdentity || c.HashKey != nil || c.TrustedProxies != nil {
			t.Errorf("defaults = %+v", c)
		}
	})
	t.Run("flags win over the environment", func(t *testing.T) {
		c, err := parseConfig([]string{"-addr", ":9000", "-identity", "cookie", "-trusted-proxies", "192.0.2.1"},
			env("ADDR", ":1", "IDENTITY", "ip", "TRUSTED_PROXIES", "10.0.0.0/8"), io.Discard)
		if err != nil {
			t.Fatal(err)
		}
		if c.Addr != ":9000" || c.Identity != statsigmw.CookieIdentity || len(c.TrustedProxies) != 1 || c.TrustedProxies[0].String() != "192.0.2.1/32" {
			t.Errorf("got %+v", c)
		}
	})
	t.Run("online", func(t *testing.T) {
		c, err := parseConfig(nil, env("STATSIG_SERVER_SECRET", "secret-abc", "STATSIG_API", "https://api.example/v1",
			"IDENTITY", "IP", "IDENTITY_HASH_KEY", "0123456789abcdef", "SESSION_KEY", testSessionKey), io.Discard)
		if err != nil {
			t.Fatal(err)
		}
		if c.Offline() || c.Secret != "secret-abc" || c.API != "https://api.example/v1" || c.Identity != statsigmw.IPIdentity ||
			string(c.HashKey) != "0123456789abcdef" || c.DevHashKey || string(c.SessionKey) != testSessionKey || c.RandomSessionKey {
			t.Errorf("got %+v", c)
		}
	})
	t.Run("ip offline without key", func(t *testing.T) {
		c, err := parseConfig(nil, env("IDENTITY", "ip"), io.Discard)
		if err != nil {
			t.Fatal(err)
		}
		if !c.DevHashKey || string(c.HashKey) != devHashKey || len(c.HashKey) < minKeyLen {
			t.Errorf("got %+v, want the development key", c)
		}
	})
	t.Run("ip online without key", func(t *testing.T) {
		if _, err := parseConfig(nil, env("IDENTITY", "ip", "STATSIG_SERVER_SECRET", "secret-abc"), io.Discard); err == nil {
			t.Error("no error")
		}
	})
	t.Run("cookie secure", func(t *testing.T) {
		for _, tt := range []struct {
			args []string
			env  string
			want statsigmw.SecureMode
		}{
			{nil, "", statsigmw.SecureAuto},
			{nil, "auto", statsigmw.SecureAuto},
			{nil, "Always", statsigmw.SecureAlways},
			{nil, " never ", statsigmw.SecureNever},
			{[]string{"-cookie-secure", "never"}, "always", statsigmw.SecureNever},
		} {
			c, err := parseConfig(tt.args, env("COOKIE_SECURE", tt.env), io.Discard)
			if err != nil || c.Secure != tt.want {
				t.Errorf("COOKIE_SECURE=%q args %q: %v, %v; want mode %d", tt.env, tt.args, c.Secure, err, tt.want)
			}
		}
	})
	t.Run("session key", func(t *testing.T) {
		a, err := parseConfig(nil, env(), io.Discard)
		if err != nil {
			t.Fatal(err)
		}
		b, err := parseConfig(nil, env(), io.Discard)
		if err != nil {
			t.Fatal(err)
		}
		if !a.RandomSessionKey || len(a.SessionKey) != 32 || string(a.SessionKey) == string(b.SessionKey) {
			t.Errorf("offline without SESSION_KEY: %x and %x, want two random 32-byte keys", a.SessionKey, b.SessionKey)
		}
		c, err := parseConfig(nil, env("SESSION_KEY", testSessionKey), io.Discard)
		if err != nil || c.RandomSessionKey || string(c.SessionKey) != testSessionKey {
			t.Errorf("SESSION_KEY set: %+v, %v", c, err)
		}
	})
	t.Run("redis", func(t *testing.T) {
		c, err := parseConfig(nil, env(), io.Discard)
		if err != nil || c.Redis != nil {
			t.Errorf("without REDIS_URL: %+v, %v; want no Redis", c.Redis, err)
		}
		c, err = parseConfig(nil, env("REDIS_URL", "redis://:pw@127.0.0.1:6380/2?dial_timeout=2s"), io.Discard)
		if err != nil {
			t.Fatal(err)
		}
		if r := c.Redis; r == nil || r.Addr != "127.0.0.1:6380" || r.DB != 2 || r.Password != "pw" || !r.ContextTimeoutEnabled || r.DialTimeout != 2*time.Second {
			t.Errorf("REDIS_URL parsed as %+v, want 127.0.0.1:6380 db 2 with ContextTimeoutEnabled", r)
		}
		// A malformed URL's error does not repeat the URL and its password.
		_, err = parseConfig(nil, env("REDIS_URL", "redis://user:hunter2@[::1"), io.Discard)
		if err == nil || strings.Contains(err.Error(), "hunter2") || !strings.Contains(err.Error(), "REDIS_URL") {
			t.Errorf("malformed REDIS_URL: %v, want an error naming REDIS_URL without the password", err)
		}
	})
	t.Run("help", func(t *testing.T) {
		var out strings.Builder
		_, err := parseConfig([]string{"-h"}, env(), &out)
		if !errors.Is(err, flag.ErrHelp) {
			t.Errorf("err = %v, want flag.ErrHelp", err)
		}
		for _, name := range []string{"ADDR", "STATSIG_SERVER_SECRET", "STATSIG_API", "IDENTITY", "IDENTITY_HASH_KEY", "TRUSTED_PROXIES", "COOKIE_SECURE", "SESSION_KEY", "REDIS_URL"} {
			if !strings.Contains(out.String(), name) {
				t.Errorf("the usage does not mention %s:\n%s", name, out.String())
			}
		}
	})
}

func TestParseTrustedProxies(t *testing.T) {
	tests := []struct {
		in   string
		want []string
		err  string
	}{
		{"", nil, ""},
		{" , ", nil, ""},
		{"10.0.0.0/8", []string{"10.0.0.0/8"}, ""},
		{"10.1.2.3/8", []string{"10.0.0.0/8"}, ""}, // host bits cleared
		{"192.0.2.1", []string{"192.0.2.1/32"}, ""},
		{"2001:db8::1", []string{"2001:db8::1/128"}, ""},
		{"10.0.0.0/8, 2001:db8::/32,192.0.2.7", []string{"10.0.0.0/8", "2001:db8::/32", "192.0.2.7/32"}, ""},
		{"10.0.0.0/33", nil, `"10.0.0.0/33" is not a CIDR prefix`},
		{"10.0.0.0/8,proxy", nil, `"proxy" is neither a CIDR prefix`},
		{"fe80::1%eth0", nil, "zone"},
		{"10.0.0.0/8;192.0.2.1", nil, "TRUSTED_PROXIES"},
	}
	for _, tt := range tests {
		got, err := parseTrustedProxies(tt.in)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) || !strings.HasPrefix(err.Error(), "TRUSTED_PROXIES: ") {
				t.Errorf("parseTrustedProxies(%q) error = %v, want one starting TRUSTED_PROXIES: and containing %q", tt.in, err, tt.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("parseTrustedProxies(%q): %v", tt.in, err)
			continue
		}
		var want []netip.Prefix
		for _, s := range tt.want {
			want = append(want, netip.MustParsePrefix(s))
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("parseTrustedProxies(%q) = %v, want %v", tt.in, got, want)
		}
	}
}

// TestServeDrainsInFlightRequests checks the order of shutdown: a request
// under way when the signal comes is finished, new connections are refused,
// and the events it logged are flushed before serve returns.
func TestServeDrainsInFlightRequests(t *testing.T) {
	backend := startBackend(t)
	client, err := statsigclient.New(backend.ClientConfig())
	if err != nil {
		t.Fatal(err)
	}
	started, release := make(chan struct{}), make(chan struct{})
	mw, err := statsigmw.New(client, statsigmw.Config{})
	if err != nil {
		t.Fatal(err)
	}
	slow := mw.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(started)
		<-release
		if err := statsigmw.LogEvent(r.Context(), signupEvent); err != nil {
			t.Error(err)
		}
		io.WriteString(w, "finished")
	}))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() {
		served <- serve(ctx, ln, slow, client, config{Addr: ln.Addr().String()}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	}()

	url := "http://" + ln.Addr().String() + "/"
	answer := make(chan response, 1)
	go func() { answer <- do(t, &http.Client{}, "GET", url, "", "") }()
	<-started
	cancel() // the signal, while the request runs
	ok := waitFor(context.Background(), 5*time.Second, func() bool {
		_, err := net.DialTimeout("tcp", ln.Addr().String(), time.Second)
		return err != nil
	})
	if !ok {
		t.Error("new connections are still accepted after the signal")
	}
	close(release)
	if r := <-answer; r.Status != 200 || r.Body != "finished" {
		t.Errorf("the request under way got %d %q, want 200 finished", r.Status, r.Body)
	}
	select {
	case err := <-served:
		if err != nil {
			t.Errorf("serve = %v", err)
		}
	case <-time.After(shutdownTimeout):
		t.Fatal("serve did not return")
	}
	if evs := backend.Events(); len(evs) != 1 || evs[0].Name != signupEvent {
		t.Errorf("the backend got %+v, want the one event of the drained request", evs)
	}
}

// TestRunOfflineWithRedis runs the wiring offline with REDIS_URL: the store
// keeps the lab's config and the visitors' assignments under the offline
// prefix, and its counts are logged at shutdown. A Redis that does not
// answer at start is a warning, not a failure.
func TestRunOfflineWithRedis(t *testing.T) {
	rs, rdb := startRedisClient(t)
	r := startRun(t, map[string]string{"REDIS_URL": "redis://" + rs.Addr + "/0"})
	if out := r.Out.String(); !strings.Contains(out, `msg="Redis: config cache and sticky assignments"`) || !strings.Contains(out, "prefix="+redisOfflinePrefix) {
		t.Errorf("the log does not name the Redis store:\n%s", out)
	}
	// The second visitor: what the first read of a name by a new instance
	// does to its visitor is TestStickyOnANewInstance's concern.
	get(t, newBrowser(t), r.URL+"/tasks")
	browser := newBrowser(t)
	p := parseTasksPage(t, get(t, browser, r.URL+"/tasks"))
	ctx := context.Background()
	if !rdb.HExists(ctx, redisOfflinePrefix+"sticky:"+p.Visitor+":"+stickyUnit, experimentName).Val() {
		t.Errorf("no sticky value for visitor %s under %q; keys: %q", p.Visitor, redisOfflinePrefix, rdb.Keys(ctx, "*").Val())
	}
	ok := waitFor(ctx, 5*time.Second, func() bool { return rdb.Exists(ctx, redisOfflinePrefix+"statsig.cache").Val() == 1 })
	if !ok {
		t.Errorf("no config under %q; keys: %q", redisOfflinePrefix, rdb.Keys(ctx, "*").Val())
	}
	if n := len(rdb.Keys(ctx, redisPrefix+"*").Val()); n != 0 {
		t.Errorf("an offline run wrote %d keys under the online prefix %q", n, redisPrefix)
	}
	r.stop(t)
	if !regexp.MustCompile(`msg="redis store" sticky_loads=[1-9]\d* sticky_saves=[1-9]`).MatchString(r.Out.String()) {
		t.Errorf("no store counts with loads and saves at shutdown:\n%s", r.Out.String())
	}

	// Nothing listens on the address of a stopped server.
	rs.Kill()
	r = startRun(t, map[string]string{"REDIS_URL": "redis://" + rs.Addr})
	if out := r.Out.String(); !strings.Contains(out, "level=WARN") || !strings.Contains(out, "Redis does not answer") {
		t.Errorf("no warning about the unreachable Redis:\n%s", out)
	}
	if p := parseTasksPage(t, get(t, browser, r.URL+"/tasks?random=1")); !isLabGroup(p.Group) {
		t.Errorf("with Redis down, /tasks shows group %q, want a group of the experiment", p.Group)
	}
	r.stop(t)
}
