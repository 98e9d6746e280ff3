package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/labkit/statsigmw/statsigtest"
)

// fleetHashKey is the IDENTITY_HASH_KEY every instance of the fleet shares.
const fleetHashKey = "fleet-test-hash-key-0123456789abcdef"

// TestFleet runs separate processes of the example against one backend, as
// instances behind a load balancer. Two, without Redis: a visitor is the
// same visitor, in the same group, on both, by hashed IP with a shared key
// and by a cookie one instance issued and the other honours. Three, sharing
// a Redis: see fleetRedis.
func TestFleet(t *testing.T) {
	bin := buildExample(t)
	t.Run("redis", func(t *testing.T) { fleetRedis(t, bin) })

	t.Run("ip", func(t *testing.T) {
		backend := startBackend(t)
		env := map[string]string{
			"STATSIG_SERVER_SECRET": backend.ClientConfig().Secret,
			"STATSIG_API":           backend.URL,
			"SESSION_KEY":           testSessionKey,
			"IDENTITY":              "ip",
			"IDENTITY_HASH_KEY":     fleetHashKey,
			"TRUSTED_PROXIES":       "127.0.0.1/32",
		}
		procs := []*exampleProcess{startProcess(t, bin, env), startProcess(t, bin, env)}

		// The load balancer (the trusted loopback peer) forwards the client
		// IP in X-Forwarded-For; no cookie jar: IP mode needs none.
		lb := &http.Client{Timeout: 10 * time.Second}
		const ipA, ipB = "203.0.113.7", "198.51.100.23"
		ids := map[string]string{} // client IP -> userID
		for _, ip := range []string{ipA, ipB} {
			var first whoamiResponse
			for i, p := range procs {
				who := whoamiVia(t, lb, p.URL, ip)
				if who.Source != "ip" || !hexID.MatchString(who.UserID) || who.StableID != who.UserID {
					t.Errorf("process %d, client %s: whoami %+v, want a 64-hex userID = stableID from source ip", i+1, ip, who)
				}
				group := who.Experiments[experimentName].Group
				if !isLabGroup(group) {
					t.Errorf("process %d, client %s: group %q, want one of the experiment's", i+1, ip, group)
				}
				page := tasksVia(t, lb, p.URL, ip)
				if page.Visitor != who.UserID || page.Group != group {
					t.Errorf("process %d, client %s: /tasks shows visitor %s group %s, /whoami %s %s", i+1, ip, page.Visitor, page.Group, who.UserID, group)
				}
				if i == 0 {
					first = who
					continue
				}
				if who.UserID != first.UserID || group != first.Experiments[experimentName].Group {
					t.Errorf("client %s: process 1 says %s in %s, process 2 says %s in %s; want the same visitor and group",
						ip, first.UserID, first.Experiments[experimentName].Group, who.UserID, group)
				}
			}
			ids[ip] = first.UserID
		}
		if ids[ipA] == ids[ipB] {
			t.Errorf("clients %s and %s got the same id %s", ipA, ipB, ids[ipA])
		}

		for i, p := range procs {
			p.stop(t, i+1)
		}
		// What both instances sent: each /tasks visit one exposure, for the
		// same user and group from either process, and no raw client IP.
		exposures := backend.Exposures()
		if len(exposures) != 4 {
			t.Errorf("the backend got %d exposures, want 4 (two clients on two processes)", len(exposures))
		}
		groups := map[string]map[string]int{} // userID -> group -> exposures
		for _, x := range exposures {
			if groups[x.User.UserID] == nil {
				groups[x.User.UserID] = map[string]int{}
			}
			groups[x.User.UserID][x.Group]++
			if raw := string(x.Raw); strings.Contains(raw, ipA) || strings.Contains(raw, ipB) {
				t.Errorf("an exposure carries a raw client IP: %s", raw)
			}
		}
		for ip, id := range ids {
			if g := groups[id]; len(g) != 1 || sum(g) != 2 {
				t.Errorf("client %s (%s): exposures by group %v, want 2 in one group", ip, id, g)
			}
		}
	})

	t.Run("cookie", func(t *testing.T) {
		backend := startBackend(t)
		env := map[string]string{
			"STATSIG_SERVER_SECRET": backend.ClientConfig().Secret,
			"STATSIG_API":           backend.URL,
			"SESSION_KEY":           testSessionKey,
			"IDENTITY":              "cookie",
		}
		p1, p2 := startProcess(t, bin, env), startProcess(t, bin, env)
		browser := newBrowser(t)

		r1 := do(t, browser, http.MethodGet, p1.URL+"/tasks", "", "")
		if r1.Status != http.StatusOK || len(r1.Header.Values("Set-Cookie")) != 1 {
			t.Fatalf("process 1 /tasks: status %d, Set-Cookie %q; want 200 and one cookie", r1.Status, r1.Header.Values("Set-Cookie"))
		}
		page1 := parseTasksPage(t, r1.Body)
		if !isLabGroup(page1.Group) || !strings.Contains(page1.Body, "(from new)") {
			t.Errorf("process 1: group %q; want a group of the experiment, for a new visitor", page1.Group)
		}
		// The jar sends the cookie to the other instance (cookies are not
		// scoped by port: same host, as behind one load balancer).
		u2, err := url.Parse(p2.URL)
		if err != nil {
			t.Fatal(err)
		}
		if cs := browser.Jar.Cookies(u2); len(cs) != 1 || !strings.HasPrefix(cs[0].Value, page1.Visitor) {
			t.Fatalf("the jar holds %v for process 2, want the visitor cookie %s", cs, page1.Visitor)
		}

		r2 := do(t, browser, http.MethodGet, p2.URL+"/tasks", "", "")
		if r2.Status != http.StatusOK {
			t.Fatalf("process 2 /tasks: status %d", r2.Status)
		}
		if c := r2.Header.Values("Set-Cookie"); len(c) != 0 {
			t.Errorf("process 2 set a cookie %q for a visitor who has one", c)
		}
		page2 := parseTasksPage(t, r2.Body)
		if page2.Visitor != page1.Visitor || page2.Group != page1.Group || !strings.Contains(page2.Body, "(from cookie)") {
			t.Errorf("process 2: visitor %s group %s; process 1: %s %s; want the same, from the cookie", page2.Visitor, page2.Group, page1.Visitor, page1.Group)
		}
		var who whoamiResponse
		getJSON(t, browser, p2.URL+"/whoami", &who)
		if who.Source != "cookie" || who.UserID != page1.Visitor || who.Experiments[experimentName].Group != page1.Group {
			t.Errorf("process 2 whoami %+v, want %s in %s from the cookie", who, page1.Visitor, page1.Group)
		}
		// Another browser is another visitor on process 2.
		var other whoamiResponse
		getJSON(t, newBrowser(t), p2.URL+"/whoami", &other)
		if other.UserID == "" || other.UserID == page1.Visitor {
			t.Errorf("a second browser got id %q, want a new one", other.UserID)
		}

		p1.stop(t, 1)
		p2.stop(t, 2)
		var mine []statsigtest.Exposure
		for _, x := range backend.Exposures() {
			if x.User.UserID == page1.Visitor {
				mine = append(mine, x)
			}
		}
		if len(mine) != 2 || mine[0].Group != page1.Group || mine[1].Group != page1.Group {
			t.Errorf("the visitor's exposures from both processes: %+v, want 2 in group %s", mine, page1.Group)
		}
	})
}

var hexID = regexp.MustCompile(`^[0-9a-f]{64}$`)

func isLabGroup(g string) bool {
	for _, a := range labArms {
		if a.Group == g {
			return true
		}
	}
	return false
}

func sum(m map[string]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}

// buildExample builds this package into a temporary directory and returns
// the binary, or skips the test when the go command is not available.
func buildExample(t *testing.T) string {
	t.Helper()
	goCmd, err := exec.LookPath("go")
	if err != nil {
		t.Skip("skipping: the go command is not on PATH, and this test builds the example to run it as separate processes")
	}
	bin := filepath.Join(t.TempDir(), "example")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if out, err := exec.CommandContext(ctx, goCmd, "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// exampleProcess is the example running as its own process.
type exampleProcess struct {
	URL  string
	cmd  *exec.Cmd
	out  *syncBuffer
	done chan struct{} // closed when the process has exited
}

// startProcess starts bin with env (and ADDR=127.0.0.1:0) as its whole
// environment and waits until it logs the URL it serves. The process is
// killed when the test ends if it is still running.
func startProcess(t *testing.T, bin string, env map[string]string) *exampleProcess {
	t.Helper()
	cmd := exec.Command(bin)
	cmd.Env = []string{"ADDR=127.0.0.1:0"}
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	p := &exampleProcess{cmd: cmd, out: &syncBuffer{}, done: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = p.out, p.out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		_ = cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			_ = cmd.Process.Kill()
			<-p.done
		}
	})
	ok := waitFor(context.Background(), 10*time.Second, func() bool {
		select {
		case <-p.done:
			t.Fatalf("the example exited before serving (%v):\n%s", cmd.ProcessState, p.out)
		default:
		}
		if m := urlRE.FindStringSubmatch(p.out.String()); m != nil {
			p.URL = m[1]
		}
		return p.URL != ""
	})
	if !ok {
		t.Fatalf("the example did not log its URL within 10 s:\n%s", p.out)
	}
	return p
}

// stop sends SIGINT and checks that the process exits with code 0 within
// shutdownTimeout and logged neither an error nor a lost event.
func (p *exampleProcess) stop(t *testing.T, n int) {
	t.Helper()
	if out := p.interrupt(t, n); strings.Contains(out, "level=ERROR") {
		t.Errorf("process %d: errors in its log:\n%s", n, out)
	}
}

// interrupt sends SIGINT, checks that the process exits with code 0 within
// shutdownTimeout after logging that it stopped, and returns its log.
func (p *exampleProcess) interrupt(t *testing.T, n int) string {
	t.Helper()
	start := time.Now()
	if err := p.cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatalf("process %d: SIGINT: %v", n, err)
	}
	select {
	case <-p.done:
	case <-time.After(shutdownTimeout):
		t.Fatalf("process %d did not exit within %v of SIGINT:\n%s", n, shutdownTimeout, p.out)
	}
	took := time.Since(start)
	t.Logf("process %d exited in %v", n, took.Round(time.Millisecond))
	if code := p.cmd.ProcessState.ExitCode(); code != 0 {
		t.Errorf("process %d exited with code %d, want 0:\n%s", n, code, p.out)
	}
	out := p.out.String()
	if !strings.Contains(out, "msg=stopped") {
		t.Errorf("process %d: no clean stop in its log:\n%s", n, out)
	}
	return out
}

// viaProxy GETs base+path as the trusted proxy forwarding for clientIP.
func viaProxy(t *testing.T, c *http.Client, base, path, clientIP string) response {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, base+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("X-Forwarded-For", clientIP)
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	var body strings.Builder
	if _, err := io.Copy(&body, resp.Body); err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s for %s: status %d: %s", path, clientIP, resp.StatusCode, body.String())
	}
	if c := resp.Header.Values("Set-Cookie"); len(c) != 0 {
		t.Errorf("GET %s in IP mode set cookies %q", path, c)
	}
	return response{Status: resp.StatusCode, Header: resp.Header, Body: body.String()}
}

func whoamiVia(t *testing.T, c *http.Client, base, clientIP string) whoamiResponse {
	t.Helper()
	var who whoamiResponse
	if err := json.Unmarshal([]byte(viaProxy(t, c, base, "/whoami", clientIP).Body), &who); err != nil {
		t.Fatalf("/whoami: %v", err)
	}
	return who
}

func tasksVia(t *testing.T, c *http.Client, base, clientIP string) page {
	t.Helper()
	return parseTasksPage(t, viaProxy(t, c, base, "/tasks", clientIP).Body)
}
