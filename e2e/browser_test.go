package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// The browser test builds the example, runs it offline as its own process,
// sends it some visitors, and then has a headless Chromium load its index,
// /tasks, /signup and /results at a desktop and a phone width. Screenshots go to $E2E_SCREENSHOTS when it is
// set, and otherwise to a temporary directory removed after the test.

// viewport is a browser window size; mobile emulates a phone, whose layout
// viewport follows <meta name="viewport">.
type viewport struct {
	name          string
	width, height int64
	mobile        bool
}

var viewports = []viewport{
	{"desktop", 1200, 800, false},
	{"phone", 390, 844, true},
}

// layout is what the test measures on a loaded page.
type layout struct {
	ScrollWidth float64 `json:"scrollWidth"`
	InnerWidth  float64 `json:"innerWidth"`
	InnerHeight float64 `json:"innerHeight"`
	// Widest describes the element that reaches furthest right, for the
	// failure message.
	Widest string `json:"widest"`
	// Chart is the bounding box of the results chart, nil when the page has
	// none; Bars counts its bars.
	Chart *struct {
		Top, Bottom, Width, Height float64
	} `json:"chart"`
	Bars int    `json:"bars"`
	Text string `json:"text"`
}

const measureJS = `(() => {
  const d = document.documentElement;
  let widest = null, right = -1;
  for (const el of document.body.querySelectorAll('*')) {
    const b = el.getBoundingClientRect();
    if (b.right > right) {
      right = b.right;
      const cls = typeof el.className === 'string' ? el.className : el.className.baseVal;
      widest = el.tagName.toLowerCase() + (el.id ? '#' + el.id : '') + (cls ? '.' + cls : '') + ' right=' + b.right;
    }
  }
  const c = document.querySelector('svg.chart');
  const r = c && c.getBoundingClientRect();
  return {
    scrollWidth: d.scrollWidth, innerWidth: window.innerWidth, innerHeight: window.innerHeight, widest: widest,
    chart: r && {Top: r.top, Bottom: r.bottom, Width: r.width, Height: r.height},
    bars: c ? c.querySelectorAll('rect').length : 0,
    text: document.body.innerText,
  };
})()`

// longTitle is a task title of the longest allowed length (120 characters)
// with no place to break, the worst case for a narrow table.
var longTitle = strings.Repeat("W", 120)

func TestBrowserLayout(t *testing.T) {
	chrome := lookPathOrSkip(t, "chromium", "/usr/bin/chromium", "apt-get install chromium")
	app := startExample(t, buildExample(t))

	const visitors = 60
	sendVisitors(t, app.URL, visitors)
	for i := 0; i < 2; i++ { // one long task in each half of the list
		postTask(t, app.URL, longTitle, strings.Repeat("a-long-description-without-spaces-", 20))
	}
	awaitResults(t, app.URL, visitors)

	browser := startBrowser(t, chrome)
	shots := os.Getenv("E2E_SCREENSHOTS")
	if shots == "" {
		shots = t.TempDir()
	} else if err := os.MkdirAll(shots, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshots in %s", shots)

	for _, vp := range viewports {
		tab := newTab(t, browser)
		for _, path := range []string{"/", "/tasks", "/signup", "/results"} {
			t.Run(fmt.Sprintf("%s%s", vp.name, path), func(t *testing.T) {
				var l layout
				var first, full []byte
				err := run(tab, 30*time.Second, func(ctx context.Context) (err error) {
					opts := []chromedp.EmulateViewportOption{}
					if vp.mobile {
						opts = append(opts, chromedp.EmulateMobile, chromedp.EmulatePortrait)
					}
					if err := chromedp.Do(ctx, chromedp.EmulateViewport(vp.width, vp.height, opts...), chromedp.Navigate(app.URL+path)); err != nil {
						return err
					}
					if l, err = chromedp.Run(ctx, chromedp.Evaluate[layout](measureJS)); err != nil {
						return err
					}
					if first, err = chromedp.Run(ctx, chromedp.CaptureScreenshot()); err != nil {
						return err
					}
					full, err = chromedp.Run(ctx, chromedp.FullScreenshot(100))
					return err
				})
				if err != nil {
					t.Fatal(err)
				}
				name := vp.name + "-" + strings.Trim(path, "/")
				if path == "/" {
					name = vp.name + "-index"
				}
				for file, png := range map[string][]byte{name + ".png": first, name + "-full.png": full} {
					if err := os.WriteFile(filepath.Join(shots, file), png, 0o644); err != nil {
						t.Fatal(err)
					}
				}

				// A phone zooms out to fit a page wider than its screen, which
				// widens the window: that is a sideways scroll too.
				if l.ScrollWidth > l.InnerWidth || l.InnerWidth > float64(vp.width) {
					t.Errorf("the page is wider than the %d px screen (scrollWidth %v, window %vx%v); widest element: %s",
						vp.width, l.ScrollWidth, l.InnerWidth, l.InnerHeight, l.Widest)
				} else if l.InnerWidth != float64(vp.width) || l.InnerHeight != float64(vp.height) {
					t.Fatalf("the window is %vx%v, want %dx%d", l.InnerWidth, l.InnerHeight, vp.width, vp.height)
				}
				switch path {
				case "/":
					if !strings.Contains(l.Text, "/results.json: the same numbers as JSON.") {
						t.Errorf("the index lacks its lines; text:\n%s", l.Text)
					}
				case "/tasks":
					if !strings.Contains(l.Text, longTitle) {
						t.Errorf("the page does not show the longest title; text:\n%s", l.Text)
					}
				case "/signup":
					if !strings.Contains(l.Text, "recorded as the event visited_signup") {
						t.Errorf("the signup page does not confirm the event; text:\n%s", l.Text)
					}
				case "/results":
					if l.Chart == nil || l.Bars != 4 || l.Chart.Width < 200 || l.Chart.Height < 100 {
						t.Fatalf("chart %+v with %d bars, want a chart of 4 bars at least 200x100", l.Chart, l.Bars)
					}
					t.Logf("chart at y %.0f-%.0f of a %v px high window", l.Chart.Top, l.Chart.Bottom, l.InnerHeight)
					if l.Chart.Top < 0 || l.Chart.Bottom > l.InnerHeight {
						t.Errorf("the chart spans y %.0f-%.0f, not inside the first screen (0-%v)", l.Chart.Top, l.Chart.Bottom, l.InnerHeight)
					}
				}
			})
		}
	}
}

// lookPathOrSkip returns the path of the program name (or of fallback),
// skipping the test when neither exists, or failing it when CI=true.
func lookPathOrSkip(t *testing.T, name, fallback, install string) string {
	t.Helper()
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	if fallback != "" {
		if _, err := os.Stat(fallback); err == nil {
			return fallback
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s is not installed (CI=true, so this fails rather than skips): %s", name, install)
	}
	t.Skip(install)
	return ""
}

// buildExample builds the repository's example into a temporary directory.
func buildExample(t *testing.T) string {
	t.Helper()
	goCmd := lookPathOrSkip(t, "go", "", "install Go: https://go.dev/dl/")
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(t.TempDir(), "example")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, goCmd, "build", "-o", bin, "./example")
	cmd.Dir = root
	// The example is a module of the repository's workspace; this module
	// (e2e) is not, and its tests run with GOWORK=off.
	cmd.Env = append(os.Environ(), "GOWORK="+filepath.Join(root, "go.work"))
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build ./example: %v\n%s", err, out)
	}
	return bin
}

// example is the example running as its own process.
type example struct {
	URL string
	cmd *exec.Cmd
	out *syncBuffer
}

var urlRE = regexp.MustCompile(`url=(http://[^\s/]+)/`)

// startExample runs bin offline on a free loopback port (ADDR=127.0.0.1:0)
// and waits for the line that gives its URL. When the test ends it stops it
// with SIGINT, as Ctrl-C does, and checks that it exits cleanly.
func startExample(t *testing.T, bin string) *example {
	t.Helper()
	cmd := exec.Command(bin)
	cmd.Env = []string{"ADDR=127.0.0.1:0"}
	out := &syncBuffer{}
	cmd.Stderr = out
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	found := make(chan string, 1)
	scanned := make(chan struct{})
	go func() {
		defer close(scanned)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			out.Write(append(sc.Bytes(), '\n'))
			if m := urlRE.FindStringSubmatch(sc.Text()); m != nil {
				select {
				case found <- m[1]:
				default:
				}
			}
		}
	}()
	exited := make(chan error, 1)
	go func() {
		<-scanned // Wait closes the pipe: read it to the end first
		exited <- cmd.Wait()
	}()
	e := &example{cmd: cmd, out: out}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGINT)
		select {
		case err := <-exited:
			if err != nil {
				t.Errorf("the example exited with %v after SIGINT:\n%s", err, out)
			}
		case <-time.After(15 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
			t.Errorf("the example did not exit within 15 s of SIGINT:\n%s", out)
		}
	})
	select {
	case e.URL = <-found:
	case err := <-exited:
		exited <- err // for the cleanup
		t.Fatalf("the example exited before serving (%v):\n%s", err, out)
	case <-time.After(30 * time.Second):
		t.Fatalf("the example did not log its URL within 30 s:\n%s", out)
	}
	return e
}

// sendVisitors sends n simulated visitors to /tasks?random=1, each with
// its own cookie jar; every third goes on to /signup.
func sendVisitors(t *testing.T, base string, n int) {
	t.Helper()
	for i := 0; i < n; i++ {
		jar, err := cookiejar.New(nil)
		if err != nil {
			t.Fatal(err)
		}
		c := &http.Client{Jar: jar, Timeout: 10 * time.Second}
		mustGet(t, c, base+"/tasks?random=1")
		if i%3 == 0 {
			mustGet(t, c, base+"/signup")
		}
	}
}

func mustGet(t *testing.T, c *http.Client, url string) []byte {
	t.Helper()
	resp, err := c.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d %v: %s", url, resp.StatusCode, err, b)
	}
	return b
}

func postTask(t *testing.T, base, title, description string) {
	t.Helper()
	body, err := json.Marshal(map[string]string{"title": title, "description": description})
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.Post(base+"/tasks", "application/json", strings.NewReader(string(body)))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("POST /tasks: %d %s", resp.StatusCode, b)
	}
}

// awaitResults polls /results.json until it counts the n visitors (the
// offline client sends its events every second), so that the chart has
// its bars.
func awaitResults(t *testing.T, base string, n int) {
	t.Helper()
	c := &http.Client{Timeout: 5 * time.Second}
	deadline := time.Now().Add(20 * time.Second)
	for {
		var res struct {
			Exposed int `json:"total_exposed"`
		}
		if err := json.Unmarshal(mustGet(t, c, base+"/results.json"), &res); err != nil {
			t.Fatal(err)
		}
		if res.Exposed >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("/results.json counts %d visitors after 20 s, want %d", res.Exposed, n)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// startBrowser starts a headless Chromium with a temporary profile and
// returns its chromedp context; the browser is closed when the test ends.
func startBrowser(t *testing.T, chrome string) context.Context {
	t.Helper()
	var logs syncBuffer
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(chrome),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.CombinedOutput(&logs),
	)
	ctx, cancel := chromedp.NewContext(allocCtx)
	t.Cleanup(func() {
		cancel()
		cancelAlloc() // waits for the browser process to exit
	})
	// The first Run starts the browser; it must not carry a timeout.
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("starting %s: %v\n%s", chrome, err, logs.String())
	}
	return ctx
}

// newTab opens a tab in the browser of ctx, closed when the test ends.
func newTab(t *testing.T, browser context.Context) context.Context {
	t.Helper()
	ctx, cancel := chromedp.NewContext(browser)
	t.Cleanup(cancel)
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("opening a tab: %v", err)
	}
	return ctx
}

// run calls f with ctx bounded by d.
func run(ctx context.Context, d time.Duration, f func(context.Context) error) error {
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	err := f(ctx)
	if errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("the browser did not answer within %v: %w", d, err)
	}
	return err
}

// syncBuffer is a strings.Builder safe for concurrent use.
type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}
