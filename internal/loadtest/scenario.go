package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/labkit/statsigmw/statsigtest"
)

// Bounds of the tool.
const (
	// maxShutdown is the longest the example may take to exit after SIGINT
	// (the example promises 10 s, even against a failing backend).
	maxShutdown = 10 * time.Second
	// killAfter is how long after SIGINT the example is killed.
	killAfter = maxShutdown + 5*time.Second
	// startTimeout bounds the wait for the example to serve; it includes the
	// client's 3 s initialisation timeout against a hanging backend.
	startTimeout = 30 * time.Second
	// requestTimeout bounds one request of the load.
	requestTimeout = 10 * time.Second
	// maxRequestsPerWorker bounds each worker's loop in count as well as in
	// time.
	maxRequestsPerWorker = 10_000_000
	// probePages is how many pages are read to see which groups are served.
	probePages = 40
)

// baselineName names the scenario the others are compared with.
const baselineName = "baseline"

// scenario is one configuration of the backend and the example.
type scenario struct {
	Name, Desc string
	// Fixed, when set, runs the example with FIXED_GROUP=Fixed.
	Fixed string
	// Faults are set on the backend before the example starts.
	Faults map[statsigtest.Endpoint]statsigtest.Fault
}

var scenarios = []scenario{
	{
		Name:  baselineName,
		Desc:  "FIXED_GROUP=Blue: the same page without the middleware, visitor identity or SDK calls; healthy backend",
		Fixed: "Blue",
	},
	{
		Name: "healthy",
		Desc: "the middleware; the backend answers everything",
	},
	{
		Name: "failing",
		Desc: "log_event and the config download answer 503 from the start (the SDK serves defaults)",
		Faults: map[statsigtest.Endpoint]statsigtest.Fault{
			statsigtest.EndpointLogEvent:    {Status: http.StatusServiceUnavailable},
			statsigtest.EndpointConfigSpecs: {Status: http.StatusServiceUnavailable},
		},
	},
	{
		Name: "hanging",
		Desc: "log_event hangs; the config download is healthy, so the experiment is real",
		Faults: map[statsigtest.Endpoint]statsigtest.Fault{
			statsigtest.EndpointLogEvent: {Hang: true},
		},
	},
	{
		Name: "config-hang",
		Desc: "the config download hangs from the start (init gives up after 3 s; the SDK serves defaults); log_event healthy",
		Faults: map[statsigtest.Endpoint]statsigtest.Fault{
			statsigtest.EndpointConfigSpecs: {Hang: true},
		},
	},
}

func scenarioNamed(name string) (scenario, bool) {
	for _, s := range scenarios {
		if s.Name == name {
			return s, true
		}
	}
	return scenario{}, false
}

// buildExample builds the example into dir and returns the binary's path.
func buildExample(ctx context.Context, dir string) (string, error) {
	bin := filepath.Join(dir, "example")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "github.com/labkit/statsigmw/example")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build of the example (run this from inside the module): %v\n%s", err, out)
	}
	return bin, nil
}

// served is what the backend serves the example under load: its experiment,
// button_color_v3, split in four equal groups named as the example's (the
// FIXED_GROUP baseline and the page parsing need the names). Only the colour
// parameter is set: the load measures evaluation and exposure, not copy.
func served() statsigtest.Config {
	exp := statsigtest.ExperimentSpec{Name: "button_color_v3"}
	for _, g := range []string{"Blue", "Green", "Red", "Orange"} {
		exp.Groups = append(exp.Groups, statsigtest.Group{
			Name: g, Weight: 25, Params: map[string]any{"Button Color": strings.ToLower(g)},
		})
	}
	return statsigtest.Config{Experiments: []statsigtest.ExperimentSpec{exp}}
}

// runScenario measures one scenario: backend, example process, warm-up,
// load, shutdown. Everything it starts is stopped before it returns.
func runScenario(ctx context.Context, sc scenario, bin string, procs int, o options) (r result) {
	r.Name = sc.Name
	backend := statsigtest.NewServer(served())
	defer backend.Close()
	for ep, f := range sc.Faults {
		backend.SetFault(ep, f)
	}

	env := []string{
		"GOMAXPROCS=" + strconv.Itoa(procs),
		"ADDR=127.0.0.1:0",
		"STATSIG_SERVER_SECRET=" + backend.ClientConfig().Secret,
		"STATSIG_API=" + backend.URL,
		// Online the example requires a session key; the load uses no login.
		"SESSION_KEY=loadtest-session-key-0123456789",
	}
	if sc.Fixed != "" {
		env = append(env, "FIXED_GROUP="+sc.Fixed)
	}
	p, err := startExample(ctx, bin, env)
	if err != nil {
		r.Err = err
		return r
	}
	defer func() {
		p.kill()
		if r.Log == "" {
			r.Log = p.out.String()
		}
	}()
	r.Startup = p.startup
	r.Initialized = firstMatch(initializedRE, p.out.String())

	client := newLoadClient(o.Concurrency)
	defer client.CloseIdleConnections()
	target := p.url + "/tasks?random=1"
	groups, err := probeGroups(ctx, client, target, probePages)
	if err != nil {
		r.Err = err
		return r
	}
	r.Groups = len(groups)
	if o.Warmup > 0 {
		drive(ctx, client, target, o.Concurrency, o.Warmup)
	}
	exCPU0, ok1 := processCPU(p.cmd.Process.Pid)
	selfCPU0, ok2 := selfCPU()
	l := drive(ctx, client, target, o.Concurrency, o.Duration)
	exCPU1, ok3 := processCPU(p.cmd.Process.Pid)
	selfCPU1, ok4 := selfCPU()
	if ok1 && ok2 && ok3 && ok4 {
		r.CPUKnown, r.ExampleCPU, r.SelfCPU = true, exCPU1-exCPU0, selfCPU1-selfCPU0
	}
	if ctx.Err() != nil {
		r.Err = ctx.Err()
		return r
	}
	r.Requests, r.Errors, r.Elapsed, r.FirstError = l.Requests, l.Errors, l.Elapsed, l.FirstError
	summarize(&r, l.Latencies)
	client.CloseIdleConnections()

	r.Shutdown, r.ExitCode, err = p.stop()
	if err != nil {
		r.Err = err
		return r
	}
	r.Log = p.out.String()
	r.Client = clientCounts(r.Log)
	for _, req := range backend.Requests() {
		if req.Endpoint == statsigtest.EndpointLogEvent {
			r.Batches++
			if req.Status == http.StatusOK {
				r.Events += req.Events
			}
		}
	}
	return r
}

var (
	urlRE         = regexp.MustCompile(`url=(http://[^\s/]+)/`)
	initializedRE = regexp.MustCompile(`initialized=(\w+)`)
	groupRE       = regexp.MustCompile(`, group ([A-Za-z]+)\.`)
)

func firstMatch(re *regexp.Regexp, s string) string {
	if m := re.FindStringSubmatch(s); m != nil {
		return m[1]
	}
	return "?"
}

// exampleProc is a running example process.
type exampleProc struct {
	cmd     *exec.Cmd
	out     *logBuffer
	done    chan struct{} // closed when the process has exited
	url     string        // its base URL, http://127.0.0.1:port
	startup time.Duration
}

// startExample starts bin with env as its whole environment and waits until
// it serves on a loopback address.
func startExample(ctx context.Context, bin string, env []string) (*exampleProc, error) {
	cmd := exec.Command(bin)
	cmd.Env = env
	killWithParent(cmd)
	p := &exampleProc{cmd: cmd, out: &logBuffer{}, done: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = p.out, p.out
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting the example: %v", err)
	}
	go func() {
		_ = cmd.Wait()
		close(p.done)
	}()

	deadline := start.Add(startTimeout)
	fail := func(format string, args ...any) (*exampleProc, error) {
		p.kill()
		return nil, fmt.Errorf(format+"; its output:\n%s", append(args, p.out.String())...)
	}
	for p.url == "" {
		if m := urlRE.FindStringSubmatch(p.out.String()); m != nil {
			p.url = m[1]
			break
		}
		select {
		case <-p.done:
			return fail("the example exited before serving (%v)", cmd.ProcessState)
		case <-ctx.Done():
			return fail("interrupted")
		case <-time.After(10 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fail("the example did not log its URL within %v", startTimeout)
		}
	}
	if err := checkLoopback(p.url); err != nil {
		return fail("%v", err)
	}
	// It logs the URL once it listens; check that it answers.
	c := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{Proxy: nil}}
	defer c.CloseIdleConnections()
	for {
		resp, err := c.Get(p.url + "/")
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
			err = fmt.Errorf("status %d", resp.StatusCode)
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return fail("the example does not answer GET /: %v", err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	p.startup = time.Since(start)
	return p, nil
}

// checkLoopback returns an error unless u's host is a loopback IP address.
func checkLoopback(u string) error {
	pu, err := url.Parse(u)
	if err != nil {
		return err
	}
	ap, err := netip.ParseAddrPort(pu.Host)
	if err != nil || !ap.Addr().IsLoopback() {
		return fmt.Errorf("the example serves on %q, not a loopback address", pu.Host)
	}
	return nil
}

// stop sends SIGINT and waits for the exit; after killAfter it kills the
// process and returns an error.
func (p *exampleProc) stop() (took time.Duration, exitCode int, err error) {
	start := time.Now()
	if err := p.cmd.Process.Signal(os.Interrupt); err != nil {
		return 0, -1, fmt.Errorf("sending SIGINT: %v", err)
	}
	select {
	case <-p.done:
		return time.Since(start), p.cmd.ProcessState.ExitCode(), nil
	case <-time.After(killAfter):
		p.kill()
		return time.Since(start), -1, fmt.Errorf("the example did not exit within %v of SIGINT and was killed", killAfter)
	}
}

// kill kills the process unless it has exited, and waits (briefly) for it.
func (p *exampleProc) kill() {
	select {
	case <-p.done:
		return
	default:
	}
	_ = p.cmd.Process.Kill()
	select {
	case <-p.done:
	case <-time.After(5 * time.Second):
	}
}

// logBuffer keeps the first logKeep and the last logKeep to 2*logKeep
// bytes written to it, for a process whose output may be long. Safe for
// concurrent use.
type logBuffer struct {
	mu      sync.Mutex
	head    []byte
	tail    []byte
	dropped int
}

const logKeep = 64 << 10

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	n := len(p)
	if room := logKeep - len(b.head); room > 0 {
		k := min(room, len(p))
		b.head = append(b.head, p[:k]...)
		p = p[k:]
	}
	b.tail = append(b.tail, p...)
	// Trimmed to logKeep once it holds twice that: amortised, no copy of
	// the whole tail per write.
	if len(b.tail) > 2*logKeep {
		over := len(b.tail) - logKeep
		b.dropped += over
		b.tail = append(b.tail[:0], b.tail[over:]...)
	}
	return n, nil
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.dropped == 0 {
		return string(b.head) + string(b.tail)
	}
	return fmt.Sprintf("%s\n[... %d bytes left out ...]\n%s", b.head, b.dropped, b.tail)
}

// newLoadClient returns an HTTP client for workers keep-alive workers: one
// connection each, no proxy, no compression, no redirects.
func newLoadClient(workers int) *http.Client {
	return &http.Client{
		Timeout: requestTimeout,
		Transport: &http.Transport{
			Proxy:               nil,
			DialContext:         (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
			MaxIdleConns:        workers,
			MaxIdleConnsPerHost: workers,
			MaxConnsPerHost:     workers,
			IdleConnTimeout:     90 * time.Second,
			DisableCompression:  true,
		},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// get fetches url and returns the status and, with keepBody, the body.
func get(ctx context.Context, c *http.Client, url string, keepBody bool) (int, string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, "", err
	}
	resp, err := c.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	if !keepBody {
		_, err = io.Copy(io.Discard, resp.Body)
		return resp.StatusCode, "", err
	}
	var sb strings.Builder
	_, err = io.Copy(&sb, io.LimitReader(resp.Body, 1<<20))
	return resp.StatusCode, sb.String(), err
}

// probeGroups reads n pages and returns the experiment groups they show.
func probeGroups(ctx context.Context, c *http.Client, url string, n int) ([]string, error) {
	seen := map[string]bool{}
	for i := 0; i < n; i++ {
		status, body, err := get(ctx, c, url, true)
		if err != nil {
			return nil, fmt.Errorf("GET %s: %v", url, err)
		}
		if status != http.StatusOK {
			return nil, fmt.Errorf("GET %s: status %d", url, status)
		}
		if m := groupRE.FindStringSubmatch(body); m != nil {
			seen[m[1]] = true
		}
	}
	groups := make([]string, 0, len(seen))
	for g := range seen {
		groups = append(groups, g)
	}
	sort.Strings(groups)
	return groups, nil
}

// load is what drive measured.
type load struct {
	// Latencies of the requests that got an answer, in no order.
	Latencies        []time.Duration
	Requests, Errors int
	Elapsed          time.Duration
	FirstError       string
}

// drive runs workers loops of GET url on c, each one request at a time,
// until d has passed (a request under way then finishes) or ctx is done.
func drive(ctx context.Context, c *http.Client, url string, workers int, d time.Duration) load {
	type worker struct {
		lat      []time.Duration
		n, errs  int
		firstErr string
	}
	ws := make([]worker, workers)
	start := make(chan struct{})
	var deadline time.Time
	var wg sync.WaitGroup
	for i := range ws {
		wg.Add(1)
		go func(w *worker) {
			defer wg.Done()
			<-start
			w.lat = make([]time.Duration, 0, 1<<12)
			for i := 0; i < maxRequestsPerWorker && ctx.Err() == nil && time.Now().Before(deadline); i++ {
				t0 := time.Now()
				status, _, err := get(ctx, c, url, false)
				took := time.Since(t0)
				w.n++
				switch {
				case err != nil:
					w.errs++
					if w.firstErr == "" {
						w.firstErr = err.Error()
					}
					continue
				case status != http.StatusOK:
					w.errs++
					if w.firstErr == "" {
						w.firstErr = "status " + strconv.Itoa(status)
					}
				}
				w.lat = append(w.lat, took)
			}
		}(&ws[i])
	}
	t0 := time.Now()
	deadline = t0.Add(d)
	close(start)
	wg.Wait()
	l := load{Elapsed: time.Since(t0)}
	for _, w := range ws {
		l.Latencies = append(l.Latencies, w.lat...)
		l.Requests += w.n
		l.Errors += w.errs
		if l.FirstError == "" {
			l.FirstError = w.firstErr
		}
	}
	return l
}
