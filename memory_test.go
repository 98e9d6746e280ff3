package statsigmw_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"runtime"
	"testing"

	"github.com/google/uuid"
	statsig "github.com/statsig-io/go-sdk"

	"github.com/labkit/statsigmw"
)

// TestMemoryManyVisitors serves distinct visitors, each reading an
// experiment, to a middleware whose exposure cache holds a tenth of them:
// the heap must not grow past the cache, made full size at New, and some
// slack. It logs the figures. A million visitors without the race detector;
// a tenth of that with it, where each request costs some 20 times more.
func TestMemoryManyVisitors(t *testing.T) {
	if testing.Short() {
		t.Skip("memory test skipped in -short mode")
	}
	visitors := 1_000_000
	if raceEnabled {
		visitors = 100_000
	}
	// The SDK holds up to LoggingMaxBufferSize events before it sends them
	// (a thousand, about 800 KB, by default): a small buffer keeps the
	// figures about the middleware.
	client := localClientOf(t, testConfig(), func(o *statsig.Options) { o.LoggingMaxBufferSize = 10 })
	mw, err := statsigmw.New(client, statsigmw.Config{ExposureCacheSize: visitors / 10})
	if err != nil {
		t.Fatal(err)
	}
	h := mw.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		cfg, _ := statsigmw.Experiment(r.Context(), "exp")
		fmt.Fprint(w, cfg.GetString("color", ""))
	}))
	w := &discardWriter{h: make(http.Header)}
	serve := func(n int) {
		for i := 0; i < n; i++ {
			r := httptest.NewRequest(http.MethodGet, "/", nil)
			r.Header.Set("Cookie", cookieName+"="+stamped(uuid.NewString()))
			clear(w.h)
			h.ServeHTTP(w, r)
		}
	}
	heap := func() uint64 {
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		return ms.HeapAlloc
	}
	serve(visitors / 10) // the SDK's buffers and pools reach their size
	before := heap()
	serve(visitors)
	after := heap()
	var grown int64 = int64(after) - int64(before)
	t.Logf("heap %d bytes after %d visitors, %d after %d more: grew %d bytes", before, visitors/10, after, visitors, grown)
	if limit := int64(8 * visitors); grown > limit { // 8 bytes a visitor
		t.Errorf("the heap grew by %d bytes over %d distinct visitors, over %d", grown, visitors, limit)
	}
	if st := mw.Stats(); st.ExposuresLogged != int64(visitors+visitors/10) {
		t.Errorf("Stats %+v, want %d exposures logged", st, visitors+visitors/10)
	}
}
