package statsigmw_test

import (
	"bufio"
	"bytes"
	"context"
	"go/format"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// readmeFiles maps README headings to the file of internal/quickstart that
// the heading's Go block must be, byte for byte.
var readmeFiles = map[string]string{
	"Quick start":              "internal/quickstart/main.go",
	"Testing with statsigtest": "internal/quickstart/main_test.go",
}

type goBlock struct {
	heading string
	line    int
	src     []byte
}

// readmeGoBlocks returns the ```go blocks of README.md with the "## "
// heading each is under.
func readmeGoBlocks(t *testing.T) []goBlock {
	t.Helper()
	b, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	var blocks []goBlock
	var cur *goBlock
	heading := ""
	for i, line := range strings.Split(string(b), "\n") {
		switch {
		case cur == nil && strings.HasPrefix(line, "## "):
			heading = strings.TrimPrefix(line, "## ")
		case cur == nil && line == "```go":
			cur = &goBlock{heading: heading, line: i + 1}
		case cur != nil && line == "```":
			blocks = append(blocks, *cur)
			cur = nil
		case cur != nil:
			cur.src = append(append(cur.src, line...), '\n')
		}
	}
	if cur != nil {
		t.Fatalf("README.md:%d: unterminated Go block", cur.line)
	}
	return blocks
}

// Every Go block of the README is gofmt-clean, and the quick start and its
// test are the compiled program of internal/quickstart and its test.
func TestReadmeGoBlocks(t *testing.T) {
	found := map[string]bool{}
	for _, b := range readmeGoBlocks(t) {
		formatted, err := format.Source(b.src)
		switch {
		case err != nil:
			t.Errorf("README.md:%d (%s): Go block does not parse: %v", b.line, b.heading, err)
			continue
		case !bytes.Equal(formatted, b.src):
			t.Errorf("README.md:%d (%s): Go block is not gofmt-clean; gofmt gives:\n%s", b.line, b.heading, formatted)
		}
		file, ok := readmeFiles[b.heading]
		if !ok {
			continue
		}
		found[b.heading] = true
		want, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(b.src, want) {
			t.Errorf("README.md:%d (%s): the Go block differs from %s; copy the file into the README", b.line, b.heading, file)
		}
	}
	for heading, file := range readmeFiles {
		if !found[heading] {
			t.Errorf("README.md has no Go block under %q (want %s)", heading, file)
		}
	}
}

// A fresh module holding only the README's quick start and its test, with
// a replace directive to this repository, passes gofmt, go vet and go test,
// and the program serves its first page without a Statsig account and stops
// on SIGINT.
func TestReadmeQuickStartInFreshModule(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a module and runs a program")
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command")
	}
	repo, err := filepath.Abs(".")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	for _, b := range readmeGoBlocks(t) {
		if file, ok := readmeFiles[b.heading]; ok {
			if err := os.WriteFile(filepath.Join(dir, filepath.Base(file)), b.src, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	gomod := "module quickstart\n\ngo 1.22\n\nrequire github.com/labkit/statsigmw v0.0.0\n\nreplace github.com/labkit/statsigmw => " + repo + "\n"
	if err := os.WriteFile(filepath.Join(dir, "go.mod"), []byte(gomod), 0o644); err != nil {
		t.Fatal(err)
	}
	env := append(os.Environ(), "GOWORK=off", "GOFLAGS=-mod=mod")
	run := func(name string, args ...string) string {
		t.Helper()
		cmd := exec.Command(name, args...)
		cmd.Dir, cmd.Env = dir, env
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("%s %s: %v\n%s", filepath.Base(name), strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	run(goBin, "mod", "tidy")
	if out := run(filepath.Join(filepath.Dir(goBin), "gofmt"), "-l", "."); out != "" {
		t.Errorf("gofmt -l lists %s", out)
	}
	run(goBin, "vet", "./...")
	run(goBin, "test", "-count=1", "./...")
	run(goBin, "build", "-o", "quickstart", ".")

	cmd := exec.Command(filepath.Join(dir, "quickstart"))
	cmd.Dir = dir
	cmd.Env = append(withoutSecret(env), "ADDR=127.0.0.1:0")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	urls := make(chan string, 1)
	var logged bytes.Buffer
	logDone := make(chan struct{})
	go func() {
		defer close(logDone)
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			logged.WriteString(sc.Text() + "\n")
			if m := listening.FindStringSubmatch(sc.Text()); m != nil {
				urls <- m[1]
			}
		}
	}()
	select {
	case url := <-urls:
		resp, err := http.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("GET %s: %s, want 200", url, resp.Status)
		}
	case <-logDone:
		t.Fatal("the quick start exited before listening")
	case <-time.After(time.Minute):
		t.Fatal("the quick start did not log its address within a minute")
	}
	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	exited := make(chan error, 1)
	go func() { <-logDone; exited <- cmd.Wait() }()
	select {
	case err := <-exited:
		if err != nil {
			t.Errorf("after SIGINT: %v", err)
		}
		if n := strings.Count(logged.String(), "offline:"); n != 1 {
			t.Errorf("the quick start logged %d offline lines, want 1:\n%s", n, logged.String())
		}
	case <-ctx.Done():
		t.Errorf("the quick start did not exit within 15 s of SIGINT")
	}
}

var listening = regexp.MustCompile(`url=(http://\S+/)`)

func withoutSecret(env []string) []string {
	var out []string
	for _, kv := range env {
		if !strings.HasPrefix(kv, "STATSIG_SERVER_SECRET=") {
			out = append(out, kv)
		}
	}
	return out
}
