package statsigtest_test

import (
	"io"
	"log/slog"
	"math/rand"
	"net/http"
	"testing"

	"github.com/google/uuid"
	statsig "github.com/statsig-io/go-sdk"

	"github.com/labkit/statsigmw/statsigtest"
)

// quiet receives the warnings of clients that tests make fail on purpose.
var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// newServer starts a server that is closed when the test ends.
func newServer(t *testing.T, cfg statsigtest.Config) *statsigtest.Server {
	t.Helper()
	srv := statsigtest.NewServer(cfg)
	t.Cleanup(srv.Close)
	return srv
}

func mustJSON(t *testing.T, cfg statsigtest.Config) []byte {
	t.Helper()
	b, err := cfg.JSON()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// bareClient returns an SDK client of srv without statsigclient, shut down
// when the test ends.
func bareClient(t *testing.T, srv *statsigtest.Server) *statsig.Client {
	t.Helper()
	c, details := statsig.NewClientWithDetails(srv.ClientConfig().Secret, srv.ClientConfig().Options)
	t.Cleanup(c.Shutdown)
	if !details.Success {
		t.Fatalf("bare client did not initialise: %v", details.Error)
	}
	return c
}

// requestCount returns how many requests for e srv has received.
func requestCount(srv *statsigtest.Server, e statsigtest.Endpoint) int {
	n := 0
	for _, r := range srv.Requests() {
		if r.Endpoint == e {
			n++
		}
	}
	return n
}

func srvGet(url string) (int, error) {
	resp, err := http.Get(url)
	if err != nil {
		return 0, err
	}
	resp.Body.Close()
	return resp.StatusCode, nil
}

// seededIDs returns a generator of random v4 UUIDs that is the same on every
// run, so that split figures are reproducible.
func seededIDs(seed int64) func() string {
	r := rand.New(rand.NewSource(seed))
	return func() string { return uuid.Must(uuid.NewRandomFromReader(r)).String() }
}
