package redisserver_test

import (
	"bufio"
	"errors"
	"net"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/labkit/statsigmw/internal/redisserver"
)

// ping sends PING in the Redis protocol and returns the reply line, or an
// error when none comes within d.
func ping(addr string, d time.Duration) (string, error) {
	c, err := net.DialTimeout("tcp", addr, d)
	if err != nil {
		return "", err
	}
	defer c.Close()
	if err := c.SetDeadline(time.Now().Add(d)); err != nil {
		return "", err
	}
	if _, err := c.Write([]byte("*1\r\n$4\r\nPING\r\n")); err != nil {
		return "", err
	}
	return bufio.NewReader(c).ReadString('\n')
}

func TestServer(t *testing.T) {
	s := redisserver.Start(t)
	if got, err := ping(s.Addr, 5*time.Second); err != nil || got != "+PONG\r\n" {
		t.Fatalf("PING: %q, %v; want +PONG", got, err)
	}
	other := redisserver.Start(t)
	if other.Addr == s.Addr {
		t.Errorf("two servers on one address %s", s.Addr)
	}

	s.Pause(t)
	_, err := ping(s.Addr, 200*time.Millisecond)
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() {
		t.Errorf("PING to a paused server: %v, want a timeout", err)
	}
	s.Resume(t)
	if got, err := ping(s.Addr, 5*time.Second); err != nil || got != "+PONG\r\n" {
		t.Errorf("PING after Resume: %q, %v; want +PONG", got, err)
	}

	s.Pause(t)
	s.Kill() // a paused server too
	select {
	case <-s.Exited():
	default:
		t.Fatal("Kill returned before the process exited")
	}
	if _, err := ping(s.Addr, time.Second); err == nil {
		t.Error("a killed server answers")
	}
	s.Kill() // idempotent

	s.Restart(t) // on the same address
	if got, err := ping(s.Addr, 5*time.Second); err != nil || got != "+PONG\r\n" {
		t.Errorf("PING after Restart: %q, %v; want +PONG", got, err)
	}
	s.Kill()
	if got, err := ping(other.Addr, 5*time.Second); err != nil || got != "+PONG\r\n" {
		t.Errorf("the other server: %q, %v; want +PONG", got, err)
	}
}

// TestMissing checks the skip without redis-server (and the failure with
// CI=true, in a subprocess that runs this test again).
func TestMissing(t *testing.T) {
	if os.Getenv("REDISSERVER_MISSING_CHILD") == "1" {
		redisserver.Start(t)
		t.Fatal("Start returned without redis-server")
	}
	for _, ci := range []string{"", "true"} {
		out, err := childRun(t, ci)
		switch {
		case ci == "" && (err != nil || !contains(out, "SKIP") || !contains(out, redisserver.Install)):
			t.Errorf("CI unset: %v\n%s\nwant a skip naming %q", err, out, redisserver.Install)
		case ci == "true" && (err == nil || !contains(out, "--- FAIL") || !contains(out, redisserver.Install)):
			t.Errorf("CI=true: %v\n%s\nwant a failure naming %q", err, out, redisserver.Install)
		}
	}
}
func childRun(t *testing.T, ci string) (string, error) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestMissing$", "-test.v")
	cmd.Env = []string{"PATH=" + t.TempDir(), "REDISSERVER_MISSING_CHILD=1", "CI=" + ci}
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func contains(s, sub string) bool { return strings.Contains(s, sub) }
