package redisstore_test

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// redisServer is a redis-server process of one test, on a loopback port,
// with its files in a temporary directory.
type redisServer struct {
	Addr string
	cmd  *exec.Cmd
	exit chan struct{} // closed when the process has exited
	once sync.Once
}

// startRedis starts a redis-server for t and stops it when t ends. Without
// redis-server it skips t, or fails it when CI=true.
func startRedis(tb testing.TB) *redisServer {
	tb.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		msg := "redis-server not found; install it with: apt-get install redis-server"
		if os.Getenv("CI") == "true" {
			tb.Fatal(msg)
		}
		tb.Skip(msg)
	}
	dir := tb.TempDir()
	var lastErr error
	// A port free when probed can be taken before redis binds it: retry.
	for attempt := 0; attempt < 5; attempt++ {
		s, err := launchRedis(bin, dir)
		if err == nil {
			tb.Cleanup(s.Kill)
			return s
		}
		lastErr = err
	}
	tb.Fatalf("redis-server did not start: %v", lastErr)
	return nil
}

func launchRedis(bin, dir string) (*redisServer, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()

	cmd := exec.Command(bin,
		"--port", fmt.Sprint(port), "--bind", "127.0.0.1",
		"--dir", dir, "--save", "", "--appendonly", "no",
		"--logfile", "", "--daemonize", "no", "--loglevel", "notice")
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	cmd.Stderr = cmd.Stdout
	dieWithParent(cmd)
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	s := &redisServer{Addr: fmt.Sprintf("127.0.0.1:%d", port), cmd: cmd, exit: make(chan struct{})}

	// Await the log line that says the server accepts connections, or the
	// end of its output (it exited, for example on a taken port).
	ready := make(chan bool, 1)
	var log strings.Builder
	go func() {
		sc := bufio.NewScanner(out)
		signalled := false
		for sc.Scan() {
			line := sc.Text()
			if !signalled {
				log.WriteString(line + "\n")
				if strings.Contains(line, "Ready to accept connections") {
					signalled = true
					ready <- true
				}
			}
		}
		if !signalled {
			ready <- false
		}
		_ = cmd.Wait()
		close(s.exit)
	}()
	if !<-ready {
		<-s.exit
		return nil, fmt.Errorf("redis-server exited:\n%s", log.String())
	}
	return s, nil
}

// Kill ends the process with SIGKILL, resuming it first if it was paused,
// and waits for it to exit. It is idempotent.
func (s *redisServer) Kill() {
	s.once.Do(func() {
		_ = s.cmd.Process.Kill()
		<-s.exit
	})
}

// Pause stops the process (SIGSTOP): connections stay open and nothing is
// answered, as with a hung server or a partitioned network.
func (s *redisServer) Pause(tb testing.TB) {
	tb.Helper()
	if err := s.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		tb.Fatal(err)
	}
}

// Resume continues a paused process.
func (s *redisServer) Resume(tb testing.TB) {
	tb.Helper()
	if err := s.cmd.Process.Signal(syscall.SIGCONT); err != nil {
		tb.Fatal(err)
	}
}

// Client returns a client of the server, closed when tb ends. It has
// ContextTimeoutEnabled unless tweak changes it.
func (s *redisServer) Client(tb testing.TB, tweak ...func(*redis.Options)) *redis.Client {
	tb.Helper()
	opts := &redis.Options{Addr: s.Addr, ContextTimeoutEnabled: true}
	for _, f := range tweak {
		f(opts)
	}
	c := redis.NewClient(opts)
	tb.Cleanup(func() { c.Close() })
	if err := c.Ping(context.Background()).Err(); err != nil {
		tb.Fatalf("redis ping: %v", err)
	}
	return c
}

// await polls cond until it holds, failing tb after 10 seconds: for events
// that happen on other goroutines or processes and cannot be waited on
// directly.
func await(tb testing.TB, what string, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("gave up after 10s waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
