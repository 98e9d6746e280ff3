package statsigclient

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	statsig "github.com/statsig-io/go-sdk"
)

// heldValue is a user attribute whose encoding waits until release is
// closed, holding the SDK's goroutine that encodes a batch.
type heldValue struct {
	encoding chan<- struct{}
	release  <-chan struct{}
}

func (h heldValue) MarshalJSON() ([]byte, error) {
	select {
	case h.encoding <- struct{}{}:
	default:
	}
	<-h.release
	return []byte(`"held"`), nil
}

// The scan counts a batch that the SDK is encoding, and not those inside the
// transport (being sent, or waiting for a slot): it recognises them in a
// real stack dump.
func TestSDKBatchesBeforeTransport(t *testing.T) {
	unhang := make(chan struct{})
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		if strings.HasSuffix(r.URL.Path, "/log_event") {
			select {
			case <-unhang:
			case <-r.Context().Done():
			}
		}
		_, _ = io.WriteString(w, "{}")
	}))
	defer backend.Close()
	defer close(unhang)
	c, err := New(Config{
		Secret: "secret-test",
		Options: &statsig.Options{
			API:                  backend.URL,
			LoggingMaxBufferSize: 2,
			UAParserOptions:      statsig.UAParserOptions{Disabled: true},
			IPCountryOptions:     statsig.IPCountryOptions{Disabled: true},
		},
		MaxInFlightBatches: 1,
		Logger:             slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_ = c.Shutdown(ctx)
	}()
	user := statsig.User{UserID: "u"}
	if n, _ := sdkBatchesBeforeTransport(nil); n != 0 {
		t.Fatalf("%d batches before the transport with none logged, want 0", n)
	}

	// A batch held by the backend and one waiting for the only slot.
	for _, name := range []string{"a", "b", "c", "d"} {
		c.SDK().LogEvent(statsig.Event{EventName: name, User: user})
	}
	waitUntil(t, func() bool { s := c.Stats(); return s.BatchesInFlight == 1 && s.BatchesQueued == 1 })
	if n, _ := sdkBatchesBeforeTransport(nil); n != 0 {
		t.Errorf("%d batches before the transport with two inside it, want 0", n)
	}

	// A batch held while it is encoded.
	encoding, release := make(chan struct{}, 1), make(chan struct{})
	held := statsig.User{UserID: "h", Custom: map[string]any{"h": heldValue{encoding: encoding, release: release}}}
	c.SDK().LogEvent(statsig.Event{EventName: "e", User: held})
	c.SDK().LogEvent(statsig.Event{EventName: "f", User: user})
	<-encoding
	n, _ := sdkBatchesBeforeTransport(nil)
	close(release)
	if n != 1 {
		t.Errorf("%d batches before the transport with one being encoded, want 1", n)
	}
}

func waitUntil(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("timed out")
		}
		time.Sleep(time.Millisecond)
	}
}
