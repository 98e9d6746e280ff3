package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	statsig "github.com/statsig-io/go-sdk"

	"github.com/labkit/statsigmw/internal/redisserver"
	"github.com/labkit/statsigmw/statsigtest"
)

// latencySlack is added to the bound on a page's latency while Redis is
// down (normal latency plus the store's timeout), for the scheduling noise
// of a loaded machine. A Redis call left unbounded costs go-redis's dial
// or read timeout (seconds), far above it.
const latencySlack = 500 * time.Millisecond

// movedConfig is labConfig after an allocation change: the weights moved
// from 25% each to 10/10/10/70, so that most visitors of Blue, Green and
// Red would move to another group if their assignment were not sticky.
func movedConfig() statsigtest.Config {
	cfg := labConfig()
	exp := &cfg.Experiments[0]
	exp.Groups = slices.Clone(exp.Groups)
	for i, w := range []float64{10, 10, 10, 70} {
		exp.Groups[i].Weight = w
	}
	return cfg
}

// allocation returns what cfg assigns a visitor (userID and stableID id) in
// the lab experiment, evaluated by the real SDK against a backend of its own.
func allocation(t *testing.T, cfg statsigtest.Config) func(id string) string {
	t.Helper()
	srv := statsigtest.NewServer(cfg)
	t.Cleanup(srv.Close)
	sdk := srv.NewClient(t).SDK()
	return func(id string) string {
		u := statsig.User{UserID: id, CustomIDs: map[string]string{"stableID": id}}
		return sdk.GetExperimentWithOptions(u, experimentName, &statsig.GetExperimentOptions{DisableLogExposures: true}).GroupName
	}
}

// configTime returns the time of the config the instance at base evaluates
// with, read from /bootstrap.json as probe (which logs no exposure and
// saves no sticky value).
func configTime(t *testing.T, probe *http.Client, base string) int64 {
	t.Helper()
	var doc struct {
		Data struct {
			Time int64 `json:"time"`
		} `json:"data"`
	}
	if err := json.Unmarshal([]byte(get(t, probe, base+"/bootstrap.json")), &doc); err != nil {
		t.Fatal(err)
	}
	return doc.Data.Time
}

// await polls cond every 10 ms until it holds, failing t after d.
func await(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	if !waitFor(context.Background(), d, cond) {
		t.Fatalf("gave up after %v waiting for %s", d, what)
	}
}

// fleetVisitor is one browser of the fleet test and the group it was
// assigned.
type fleetVisitor struct {
	browser   *http.Client
	id, group string
}

// fleetRedis runs three processes of the example that share a Redis, as a
// fleet does, and checks the four promises of the Redis store:
//
//  1. with the backend refusing config downloads from the start, instances
//     started after one healthy instance serve the experiment's real
//     groups, from the config in Redis;
//  2. a visitor (one cookie) sees the same group on all three;
//  3. after the allocation changes, visitors already assigned keep their
//     group on every instance, while new visitors follow the new
//     allocation;
//  4. with Redis hung, then dead, pages are served within their normal
//     latency plus the store's timeout, and the failures are logged.
func fleetRedis(t *testing.T, bin string) {
	rs := redisserver.Start(t)
	rdb := redis.NewClient(&redis.Options{Addr: rs.Addr, ContextTimeoutEnabled: true})
	t.Cleanup(func() { rdb.Close() })
	ctx := context.Background()
	backend := startBackend(t)
	oldAlloc, newAlloc := allocation(t, labConfig()), allocation(t, movedConfig())
	env := map[string]string{
		"STATSIG_SERVER_SECRET": backend.ClientConfig().Secret,
		"STATSIG_API":           backend.URL,
		"SESSION_KEY":           testSessionKey,
		"REDIS_URL":             "redis://" + rs.Addr,
	}
	const configKey = redisPrefix + "statsig.cache"
	stickyKey := func(id string) string { return redisPrefix + "sticky:" + id + ":" + stickyUnit }

	// 1. One healthy instance puts the config in Redis; then Statsig is
	// unreachable, and two more instances start.
	start := time.Now()
	a := startProcess(t, bin, env)
	await(t, 10*time.Second, "the first instance's config in Redis", func() bool {
		return rdb.Exists(ctx, configKey).Val() == 1
	})
	backend.SetFault(statsigtest.EndpointConfigSpecs, statsigtest.Fault{Refuse: true})
	since := len(backend.Requests())
	b, c := startProcess(t, bin, env), startProcess(t, bin, env)
	procs := []*exampleProcess{a, b, c}
	t.Logf("three instances serving %v after the first started", time.Since(start).Round(time.Millisecond))
	for i, p := range procs {
		if out := p.out.String(); !strings.Contains(out, "initialized=true") || !strings.Contains(out, "msg=\"Redis: config cache and sticky assignments\"") {
			t.Errorf("process %d: not initialised with Redis:\n%s", i+1, out)
		}
	}
	probe := newBrowser(t)
	version := configTime(t, probe, a.URL)
	for i, p := range procs {
		if v := configTime(t, probe, p.URL); v == 0 || v != version {
			t.Errorf("process %d evaluates the config of time %d, process 1 that of %d; want one version", i+1, v, version)
		}
	}

	// 2. Visitors, each arriving at one instance and then visiting the
	// others, until some would change group with the new allocation.
	var olds []fleetVisitor
	movers := 0
	for i := 0; i < 200 && (len(olds) < 12 || movers < 5); i++ {
		v := fleetVisitor{browser: newBrowser(t)}
		for j := range procs {
			p := procs[(i+j)%len(procs)]
			page := parseTasksPage(t, get(t, v.browser, p.URL+"/tasks"))
			if j == 0 {
				v.id, v.group = page.Visitor, page.Group
				if want := oldAlloc(v.id); v.group != want || !isLabGroup(v.group) {
					t.Fatalf("visitor %s got %q on its first instance, the config assigns %q", v.id, v.group, want)
				}
				continue
			}
			if page.Visitor != v.id || page.Group != v.group {
				t.Errorf("visitor %s in %s on one instance is %s in %s on another", v.id, v.group, page.Visitor, page.Group)
			}
		}
		if !rdb.HExists(ctx, stickyKey(v.id), experimentName).Val() {
			t.Errorf("visitor %s: no sticky value in Redis after visits to every instance", v.id)
		}
		if newAlloc(v.id) != v.group {
			movers++
		}
		olds = append(olds, v)
	}
	t.Logf("%d visitors, %d of whom the new allocation would move, each saw one group on all three instances", len(olds), movers)
	if movers < 5 {
		t.Fatalf("only %d of %d visitors would move with the new allocation", movers, len(olds))
	}
	for _, r := range backend.Requests()[since:] {
		if r.Endpoint == statsigtest.EndpointConfigSpecs && r.Status != 0 {
			t.Errorf("a config download was answered (%d) while the backend refused them", r.Status)
		}
	}

	// 3. Statsig is back, with the allocation changed. Each instance polls
	// it (every 10 s); await the new version on each.
	backend.SetFault(statsigtest.EndpointConfigSpecs, statsigtest.Fault{})
	if err := backend.SetConfig(movedConfig()); err != nil {
		t.Fatal(err)
	}
	changed := time.Now()
	for i, p := range procs {
		await(t, 30*time.Second, fmt.Sprintf("process %d to poll the new config", i+1), func() bool {
			return configTime(t, probe, p.URL) > version
		})
	}
	t.Logf("every instance had the new allocation %v after the change", time.Since(changed).Round(time.Millisecond))
	for _, v := range olds {
		for i, p := range procs {
			if page := parseTasksPage(t, get(t, v.browser, p.URL+"/tasks")); page.Group != v.group {
				t.Errorf("process %d: visitor %s assigned %s before the change is now in %s (the new allocation says %s)",
					i+1, v.id, v.group, page.Group, newAlloc(v.id))
			}
		}
	}
	var news []fleetVisitor
	movers = 0
	for i := 0; i < 200 && (len(news) < 12 || movers < 5); i++ {
		v := fleetVisitor{browser: newBrowser(t)}
		for j := range procs {
			p := procs[(i+j)%len(procs)]
			page := parseTasksPage(t, get(t, v.browser, p.URL+"/tasks"))
			if j == 0 {
				v.id, v.group = page.Visitor, page.Group
				if want := newAlloc(v.id); v.group != want {
					t.Errorf("new visitor %s got %s, the new allocation says %s", v.id, v.group, want)
				}
			} else if page.Group != v.group {
				t.Errorf("new visitor %s in %s on one instance is in %s on another", v.id, v.group, page.Group)
			}
		}
		if oldAlloc(v.id) != v.group {
			movers++
		}
		news = append(news, v)
	}
	t.Logf("%d new visitors followed the new allocation, %d of them into a group the old one would not have given", len(news), movers)
	if movers < 5 {
		t.Errorf("only %d of %d new visitors differ between the allocations", movers, len(news))
	}

	// 4. Redis stops answering (paused: a hung server), then dies. Pages
	// still come within their normal latency plus the store's timeout.
	returning := append(slices.Clone(olds[:4]), news[:4]...)
	visit := func(v fleetVisitor, p *exampleProcess) time.Duration {
		t0 := time.Now()
		page := parseTasksPage(t, get(t, v.browser, p.URL+"/tasks"))
		d := time.Since(t0)
		if !isLabGroup(page.Group) {
			t.Errorf("visitor %s got group %q, want one of the experiment's", v.id, page.Group)
		}
		return d
	}
	var normal []time.Duration
	for _, p := range procs {
		for _, v := range returning {
			normal = append(normal, visit(v, p))
		}
	}
	slices.Sort(normal)
	bound := normal[len(normal)-1] + redisStickyTimeout + latencySlack
	t.Logf("with Redis: /tasks p50 %v, max %v over %d requests; bound while Redis is down: %v",
		normal[len(normal)/2], normal[len(normal)-1], len(normal), bound)

	down := time.Now().UnixMilli()
	for _, phase := range []struct {
		name string
		stop func()
	}{
		{"hung", func() { rs.Pause(t) }},
		{"dead", rs.Kill},
	} {
		phase.stop()
		var took []time.Duration
		for _, p := range procs {
			for _, v := range append(returning, fleetVisitor{browser: newBrowser(t)}) {
				d := visit(v, p)
				took = append(took, d)
				if d > bound {
					t.Errorf("Redis %s: a page took %v, over %v (normal latency plus the store's %v timeout and %v slack)",
						phase.name, d, bound, redisStickyTimeout, latencySlack)
				}
			}
		}
		slices.Sort(took)
		t.Logf("Redis %s: /tasks p50 %v, max %v over %d requests", phase.name, took[len(took)/2], took[len(took)-1], len(took))
	}
	for i, p := range procs {
		await(t, 10*time.Second, fmt.Sprintf("process %d to log the failures", i+1), func() bool {
			return strings.Contains(p.out.String(), "redisstore: sticky load failed; serving live assignments")
		})
	}
	for i, p := range procs {
		out := p.interrupt(t, i+1)
		m := stickyFailuresRE.FindStringSubmatch(out)
		if m == nil {
			t.Errorf("process %d: no store counts in its log:\n%s", i+1, out)
			continue
		}
		if n, _ := strconv.Atoi(m[1]); n == 0 {
			t.Errorf("process %d counted no sticky failure:\n%s", i+1, m[0])
		}
		t.Logf("process %d: %s", i+1, m[0])
	}

	// Until Redis went down, every exposure carried the group the visitor
	// saw, before the allocation changed and after.
	groups := map[string]string{}
	for _, v := range append(olds, news...) {
		groups[v.id] = v.group
	}
	var checked int
	for _, x := range backend.Exposures() {
		if want, ok := groups[x.User.UserID]; ok && x.Time < down {
			checked++
			if x.Group != want {
				t.Errorf("an exposure of visitor %s in %s; the visitor saw %s", x.User.UserID, x.Group, want)
			}
		}
	}
	if want := 3 * len(groups); checked < want {
		t.Errorf("%d exposures of the visitors before Redis went down, want at least %d (one per instance each)", checked, want)
	}
}

var stickyFailuresRE = regexp.MustCompile(`msg="redis store".* sticky_failures=(\d+).*`)
