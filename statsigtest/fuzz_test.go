package statsigtest

import (
	"bytes"
	"compress/gzip"
	"net/http"
	"net/http/httptest"
	"testing"
)

// FuzzLogEvent feeds the Server's log_event endpoint arbitrary bodies, plain
// and gzip-compressed: it never panics, answers 200 or 400, and records
// exactly the events of the batches it accepts.
func FuzzLogEvent(f *testing.F) {
	for _, seed := range []string{
		`{"events":[{"eventName":"e","user":{"userID":"u"},"value":"1","metadata":{"k":"v"},"time":1}],"statsigMetadata":{}}`,
		`{"events":[{"eventName":"statsig::config_exposure","user":{"userID":"u","customIDs":{"stableID":"s"}},"metadata":{"config":"exp","ruleID":"exp:0"}}]}`,
		`{"events":[]}`,
		`{"events":null}`,
		`{"events":[{"value":3.5,"metadata":{"n":1}}]}`,
		`{}`,
		`[]`,
		``,
	} {
		f.Add([]byte(seed), false)
		f.Add([]byte(seed), true)
	}
	cfg := Config{Experiments: []ExperimentSpec{{Name: "exp", Groups: []Group{{Name: "A", Weight: 100}}}}}
	f.Fuzz(func(t *testing.T, body []byte, compress bool) {
		// The handler alone, without a listener.
		s := &Server{faults: map[Endpoint]Fault{}, release: make(chan struct{}), closed: make(chan struct{})}
		if err := s.SetConfig(cfg); err != nil {
			t.Fatal(err)
		}
		if compress {
			var buf bytes.Buffer
			zw := gzip.NewWriter(&buf)
			_, _ = zw.Write(body)
			_ = zw.Close()
			body = buf.Bytes()
		}
		r := httptest.NewRequest(http.MethodPost, "/v1/log_event", bytes.NewReader(body))
		if compress {
			r.Header.Set("Content-Encoding", "gzip")
		}
		w := httptest.NewRecorder()
		s.serveHTTP(w, r)
		added := s.eventCount()
		last := s.Requests()[0]
		switch w.Code {
		case http.StatusOK:
			if last.Events != added {
				t.Errorf("accepted a batch of %d events, recorded %d", last.Events, added)
			}
		case http.StatusBadRequest:
			if added != 0 {
				t.Errorf("rejected a batch but recorded %d events", added)
			}
		default:
			t.Errorf("status %d, want 200 or 400", w.Code)
		}
		// Decoding what was recorded never panics either.
		_ = s.Events()
		_ = s.Exposures()
	})
}
