package redisstore_test

import (
	"io"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// proxy is a TCP proxy in front of a Redis server, for slow-network
// faults: it delays each chunk the client sends by a fixed time (so each
// round trip takes that much longer), can hold what clients send until
// released, and counts the bytes the server sends back.
type proxy struct {
	Addr   string
	target string
	delay  time.Duration
	l      net.Listener

	mu    sync.Mutex
	gate  chan struct{} // closed unless holding
	conns []net.Conn

	fromServer atomic.Int64
	wg         sync.WaitGroup
}

// startProxy starts a proxy to target on a loopback port, closed when tb
// ends.
func startProxy(tb testing.TB, target string, delay time.Duration) *proxy {
	tb.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	p := &proxy{Addr: l.Addr().String(), target: target, delay: delay, l: l, gate: make(chan struct{})}
	close(p.gate)
	p.wg.Add(1)
	go p.accept()
	tb.Cleanup(p.close)
	return p
}

// Hold makes the proxy keep what clients send from now on until Release.
func (p *proxy) Hold() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.gate = make(chan struct{})
}

// Release sends on what Hold kept.
func (p *proxy) Release() {
	p.mu.Lock()
	defer p.mu.Unlock()
	select {
	case <-p.gate:
	default:
		close(p.gate)
	}
}

// FromServer returns the bytes the server has sent to clients so far.
func (p *proxy) FromServer() int64 { return p.fromServer.Load() }

func (p *proxy) close() {
	p.l.Close()
	p.Release()
	p.mu.Lock()
	for _, c := range p.conns {
		c.Close()
	}
	p.mu.Unlock()
	p.wg.Wait()
}

func (p *proxy) accept() {
	defer p.wg.Done()
	for {
		c, err := p.l.Accept()
		if err != nil {
			return
		}
		s, err := net.Dial("tcp", p.target)
		if err != nil {
			c.Close()
			continue
		}
		p.mu.Lock()
		p.conns = append(p.conns, c, s)
		p.mu.Unlock()
		p.wg.Add(3)
		type chunk struct {
			at   time.Time
			data []byte
		}
		q := make(chan chunk, 1024)
		go func() { // client to queue, stamped
			defer p.wg.Done()
			defer close(q)
			for {
				buf := make([]byte, 64<<10)
				n, err := c.Read(buf)
				if n > 0 {
					q <- chunk{time.Now().Add(p.delay), buf[:n]}
				}
				if err != nil {
					return
				}
			}
		}()
		go func() { // queue to server, each chunk at its time and not held
			defer p.wg.Done()
			defer s.Close()
			for ch := range q {
				p.mu.Lock()
				gate := p.gate
				p.mu.Unlock()
				<-gate
				time.Sleep(time.Until(ch.at))
				if _, err := s.Write(ch.data); err != nil {
					return
				}
			}
		}()
		go func() { // server to client, counted
			defer p.wg.Done()
			defer c.Close()
			io.Copy(countingWriter{c, &p.fromServer}, s)
		}()
	}
}

type countingWriter struct {
	w io.Writer
	n *atomic.Int64
}

func (c countingWriter) Write(b []byte) (int, error) {
	n, err := c.w.Write(b)
	c.n.Add(int64(n))
	return n, err
}
