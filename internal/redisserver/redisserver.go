// Package redisserver starts real redis-server processes for tests, each on
// a free loopback port with its files in a temporary directory, and stops
// them when the test ends. It uses only os/exec: the modules whose tests
// need Redis bring their own client.
package redisserver

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
)

// Install is the command that installs redis-server on Debian and Ubuntu.
const Install = "apt-get install redis-server"

// Server is a redis-server process of one test. Its methods are safe for
// concurrent use.
type Server struct {
	// Addr is the server's host:port on 127.0.0.1.
	Addr string

	cmd  *exec.Cmd
	exit chan struct{} // closed when the process has exited
	once sync.Once
}

// Start starts a redis-server for tb, without persistence, and kills it
// when tb ends. Without redis-server on PATH it skips tb with the install
// command, or fails it when the environment variable CI is "true". It fails
// tb when the server does not start.
func Start(tb testing.TB) *Server {
	tb.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		msg := "redis-server not found; install it with: " + Install
		if os.Getenv("CI") == "true" {
			tb.Fatal(msg)
		}
		tb.Skip(msg)
	}
	dir := tb.TempDir()
	var lastErr error
	// A port that was free when probed can be taken before redis binds it:
	// try again on another.
	for attempt := 0; attempt < 5; attempt++ {
		s, err := launch(bin, dir)
		if err == nil {
			tb.Cleanup(s.Kill)
			return s
		}
		lastErr = err
	}
	tb.Fatalf("redis-server did not start: %v", lastErr)
	return nil
}

func launch(bin, dir string) (*Server, error) {
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
	s := &Server{Addr: fmt.Sprintf("127.0.0.1:%d", port), cmd: cmd, exit: make(chan struct{})}

	// Await the line that says the server accepts connections, or the end
	// of its output (it exited, for example on a taken port).
	ready := make(chan bool, 1)
	var log strings.Builder
	go func() {
		sc := bufio.NewScanner(out)
		signalled := false
		for sc.Scan() {
			if signalled {
				continue // drain, so that the server never blocks on its output
			}
			line := sc.Text()
			log.WriteString(line + "\n")
			if strings.Contains(line, "Ready to accept connections") {
				signalled = true
				ready <- true
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

// Kill ends the process with SIGKILL (a paused one too) and waits for it to
// exit. It is idempotent.
func (s *Server) Kill() {
	s.once.Do(func() {
		_ = s.cmd.Process.Kill()
		<-s.exit
	})
}

// Exited is closed when the process has exited.
func (s *Server) Exited() <-chan struct{} { return s.exit }

// Pause stops the process (SIGSTOP): connections stay open and nothing is
// answered, as with a hung server or a partitioned network.
func (s *Server) Pause(tb testing.TB) {
	tb.Helper()
	if err := stop(s.cmd.Process); err != nil {
		tb.Fatal(err)
	}
}

// Resume continues a paused process.
func (s *Server) Resume(tb testing.TB) {
	tb.Helper()
	if err := cont(s.cmd.Process); err != nil {
		tb.Fatal(err)
	}
}
