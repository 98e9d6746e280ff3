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

	bin, dir string
	port     int

	mu   sync.Mutex
	proc *process // the current process
}

// process is one redis-server process of a Server.
type process struct {
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
		s, err := launch(bin, dir, 0)
		if err == nil {
			tb.Cleanup(s.Kill)
			return s
		}
		lastErr = err
	}
	tb.Fatalf("redis-server did not start: %v", lastErr)
	return nil
}

// launch starts a server on port, or on a free port when port is 0.
func launch(bin, dir string, port int) (*Server, error) {
	if port == 0 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		port = l.Addr().(*net.TCPAddr).Port
		l.Close()
	}

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
	p := &process{cmd: cmd, exit: make(chan struct{})}
	s := &Server{Addr: fmt.Sprintf("127.0.0.1:%d", port), bin: bin, dir: dir, port: port, proc: p}

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
		close(p.exit)
	}()
	if !<-ready {
		<-p.exit
		return nil, fmt.Errorf("redis-server exited:\n%s", log.String())
	}
	return s, nil
}

func (s *Server) current() *process {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.proc
}

// Kill ends the process with SIGKILL (a paused one too) and waits for it to
// exit. It is idempotent.
func (s *Server) Kill() { s.current().kill() }

func (p *process) kill() {
	p.once.Do(func() {
		_ = p.cmd.Process.Kill()
		<-p.exit
	})
}

// Restart kills the process and starts a new one on the same address. The
// server has no persistence, so the new one starts empty, as a Redis
// restarted without RDB or AOF files does.
func (s *Server) Restart(tb testing.TB) {
	tb.Helper()
	s.Kill()
	var lastErr error
	for attempt := 0; attempt < 5; attempt++ {
		n, err := launch(s.bin, s.dir, s.port)
		if err == nil {
			s.mu.Lock()
			s.proc = n.proc
			s.mu.Unlock()
			return
		}
		lastErr = err
	}
	tb.Fatalf("redis-server did not restart on %s: %v", s.Addr, lastErr)
}

// Exited is closed when the current process has exited.
func (s *Server) Exited() <-chan struct{} { return s.current().exit }

// Pause stops the process (SIGSTOP): connections stay open and nothing is
// answered, as with a hung server or a partitioned network.
func (s *Server) Pause(tb testing.TB) {
	tb.Helper()
	if err := stop(s.current().cmd.Process); err != nil {
		tb.Fatal(err)
	}
}

// Resume continues a paused process.
func (s *Server) Resume(tb testing.TB) {
	tb.Helper()
	if err := cont(s.current().cmd.Process); err != nil {
		tb.Fatal(err)
	}
}
