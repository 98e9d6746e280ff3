package statsigtest

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// secret is the server secret of [Server.ClientConfig]. The SDK insists
// that a server key starts with "secret"; the Server accepts any key.
const secret = "secret-statsigtest"

// maxBody bounds what the Server reads from one request.
const maxBody = 64 << 20

// Endpoint names a part of the SDK's wire protocol, for [Server.SetFault]
// and [Request.Endpoint].
type Endpoint string

// The endpoints a statsig.Client calls.
const (
	EndpointConfigSpecs  Endpoint = "download_config_specs" // GET, config download (CDN and DisableCDN forms)
	EndpointIDLists      Endpoint = "get_id_lists"          // POST, id list sources
	EndpointLogEvent     Endpoint = "log_event"             // POST, gzip batches of events
	EndpointSDKException Endpoint = "sdk_exception"         // POST, the SDK's error reports
)

// Fault makes an endpoint fail. The zero Fault is no fault.
type Fault struct {
	// Status, when not zero, answers every request with this HTTP status and
	// an empty JSON body. The SDK retries 408 and 5xx log_event batches with
	// long backoffs, and treats a failed config download as "not initialised".
	Status int
	// Hang holds every request unanswered until the client gives up, the
	// fault is changed or the Server is closed.
	Hang bool
	// Refuse closes the connection without an answer. The client sees a
	// connection error, as it would for a refused connection; the SDK does
	// not retry those.
	Refuse bool
}

// Request is one request the Server received.
type Request struct {
	Endpoint Endpoint // "" for a path the Server does not know
	Method   string
	Path     string
	Status   int // the status answered; 0 for Hang and Refuse
	Events   int // for EndpointLogEvent: the events the batch held, if answered 200
}

// Server is an in-process, Statsig-compatible backend: a real HTTP server on
// the loopback interface that serves config specs built from a [Config],
// records every request and decodes the events clients send. It speaks the
// protocol of github.com/statsig-io/go-sdk v1.35.1.
//
// All methods are safe for concurrent use.
type Server struct {
	// URL is the base URL of the server, for statsig.Options.API.
	URL string

	srv      *http.Server
	listener net.Listener

	mu       sync.Mutex
	specs    []byte
	specTime int64
	rules    map[string]ruleRef
	faults   map[Endpoint]Fault
	release  chan struct{} // closed when the faults change, to end hangs
	requests []Request
	events   []rawEvent
	clients  []*ownedClient // made by NewClient, shut down by Close or at the test's end
	closed   chan struct{}
	closeMu  sync.Once
	read     atomic.Bool // Events or Exposures has been called
}

// NewServer starts a Server that serves cfg. It panics if cfg is invalid
// (see [Config.JSON]) or no loopback port can be had, for ease of use in
// tests, in the manner of net/http/httptest. The caller must call Close.
func NewServer(cfg Config) *Server {
	s := &Server{
		faults:  make(map[Endpoint]Fault),
		release: make(chan struct{}),
		closed:  make(chan struct{}),
	}
	if err := s.SetConfig(cfg); err != nil {
		panic(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		if l, err = net.Listen("tcp6", "[::1]:0"); err != nil {
			panic(fmt.Sprintf("statsigtest: failed to listen on a loopback port: %v", err))
		}
	}
	s.listener = l
	s.URL = "http://" + l.Addr().String()
	s.srv = &http.Server{Handler: http.HandlerFunc(s.serveHTTP), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = s.srv.Serve(l) }()
	return s
}

// Close stops the server. It first shuts down the clients made by
// [Server.NewClient] that are still open, so that their events reach the
// server (and a test that read events without [Server.Flush] fails with a
// hint) whether Close runs before or after the test's cleanups; when the
// log_event endpoint has a fault, those clients are left to the test's
// cleanups. Then it ends hanging requests and closes every connection.
// Close is idempotent.
func (s *Server) Close() {
	s.closeMu.Do(func() {
		s.mu.Lock()
		clients := s.clients
		s.clients = nil
		faulty := s.faults[EndpointLogEvent] != (Fault{})
		s.mu.Unlock()
		if !faulty {
			for _, c := range clients {
				s.finish(c)
			}
		}
		close(s.closed)
		_ = s.srv.Close()
	})
}

// SetConfig replaces what the server serves. Clients created afterwards see
// it at once; running clients see it at their next config poll
// (statsig.Options.ConfigSyncInterval). An invalid cfg is an error and
// changes nothing.
func (s *Server) SetConfig(cfg Config) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	t := time.Now().UnixMilli()
	if t <= s.specTime {
		t = s.specTime + 1
	}
	doc, rules, err := cfg.build(t)
	if err != nil {
		return err
	}
	b, err := json.Marshal(doc)
	if err != nil {
		return fmt.Errorf("statsigtest: %v", err)
	}
	s.specs, s.specTime, s.rules = b, t, rules
	return nil
}

// SetFault makes endpoint e fail as f says, from the next request on, until
// it is changed again. SetFault(e, Fault{}) clears it. Changing a fault ends
// the requests that a Hang fault holds.
func (s *Server) SetFault(e Endpoint, f Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if f == (Fault{}) {
		delete(s.faults, e)
	} else {
		s.faults[e] = f
	}
	close(s.release)
	s.release = make(chan struct{})
}

// Requests returns a copy of every request received so far, in order of
// arrival.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.requests...)
}

func endpointOf(path string) Endpoint {
	path = strings.TrimPrefix(path, "/v1")
	switch {
	case path == "/download_config_specs" || strings.HasPrefix(path, "/download_config_specs/"):
		return EndpointConfigSpecs
	case path == "/get_id_lists":
		return EndpointIDLists
	case path == "/log_event":
		return EndpointLogEvent
	case path == "/sdk_exception":
		return EndpointSDKException
	}
	return ""
}

func (s *Server) record(r Request) {
	s.mu.Lock()
	s.requests = append(s.requests, r)
	s.mu.Unlock()
}

func (s *Server) serveHTTP(w http.ResponseWriter, r *http.Request) {
	ep := endpointOf(r.URL.Path)
	req := Request{Endpoint: ep, Method: r.Method, Path: r.URL.Path}

	s.mu.Lock()
	fault, release := s.faults[ep], s.release
	s.mu.Unlock()

	switch {
	case ep != "" && fault.Refuse:
		s.record(req)
		if hj, ok := w.(http.Hijacker); ok {
			if conn, _, err := hj.Hijack(); err == nil {
				_ = conn.Close()
				return
			}
		}
		panic(http.ErrAbortHandler) // closes the connection without an answer
	case ep != "" && fault.Hang:
		s.record(req)
		// Reading the body lets net/http notice when the client gives up,
		// which ends r.Context().
		_, _ = io.Copy(io.Discard, io.LimitReader(r.Body, maxBody))
		select {
		case <-r.Context().Done():
		case <-release:
		case <-s.closed:
		}
		panic(http.ErrAbortHandler)
	case ep != "" && fault.Status != 0:
		_, _ = io.Copy(io.Discard, io.LimitReader(r.Body, maxBody))
		req.Status = fault.Status
		s.record(req)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(fault.Status)
		_, _ = io.WriteString(w, "{}")
		return
	}

	status, body := http.StatusOK, []byte("{}")
	switch ep {
	case EndpointConfigSpecs:
		if r.Method != http.MethodGet {
			status, body = http.StatusMethodNotAllowed, []byte(`{"error":"method not allowed"}`)
			break
		}
		body = s.configResponse(r)
	case EndpointIDLists, EndpointSDKException:
		_, _ = io.Copy(io.Discard, io.LimitReader(r.Body, maxBody))
	case EndpointLogEvent:
		n, err := s.receiveEvents(r)
		req.Events = n
		if err != nil {
			status, body = http.StatusBadRequest, mustJSON(map[string]string{"error": err.Error()})
		} else {
			body = []byte(`{"success":true}`)
		}
	default:
		status, body = http.StatusNotFound, []byte(`{"error":"not found"}`)
	}
	req.Status = status
	s.record(req)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

func mustJSON(v any) []byte {
	b, _ := json.Marshal(v)
	return b
}

func (s *Server) configResponse(r *http.Request) []byte {
	since, _ := strconv.ParseInt(r.URL.Query().Get("sinceTime"), 10, 64)
	s.mu.Lock()
	defer s.mu.Unlock()
	if since >= s.specTime {
		return mustJSON(map[string]any{"has_updates": false, "time": s.specTime})
	}
	return s.specs
}

// receiveEvents decodes one log_event batch and records its events.
func (s *Server) receiveEvents(r *http.Request) (int, error) {
	var body io.Reader = io.LimitReader(r.Body, maxBody)
	if strings.EqualFold(r.Header.Get("Content-Encoding"), "gzip") {
		zr, err := gzip.NewReader(body)
		if err != nil {
			return 0, fmt.Errorf("statsigtest: log_event: bad gzip body: %v", err)
		}
		defer zr.Close()
		body = io.LimitReader(zr, maxBody)
	}
	raw, err := io.ReadAll(body)
	if err != nil {
		return 0, fmt.Errorf("statsigtest: log_event: reading body: %v", err)
	}
	var batch struct {
		Events []json.RawMessage `json:"events"`
	}
	if err := json.Unmarshal(raw, &batch); err != nil {
		return 0, fmt.Errorf("statsigtest: log_event: bad JSON: %v", err)
	}
	if batch.Events == nil {
		return 0, errors.New("statsigtest: log_event: no events field")
	}
	decoded := make([]rawEvent, 0, len(batch.Events))
	for _, e := range batch.Events {
		var ev rawEvent
		if err := json.Unmarshal(e, &ev); err != nil {
			return 0, fmt.Errorf("statsigtest: log_event: bad event: %v", err)
		}
		ev.Raw = bytes.Clone(e)
		decoded = append(decoded, ev)
	}
	s.mu.Lock()
	s.events = append(s.events, decoded...)
	s.mu.Unlock()
	return len(decoded), nil
}
