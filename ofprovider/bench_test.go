package ofprovider_test

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/open-feature/go-sdk/openfeature"

	"github.com/labkit/statsigmw"
)

// BenchmarkParameter serves a page that reads one experiment parameter,
// under the middleware, to 64 returning visitors (their exposures already
// logged within the window): through statsigmw, and through OpenFeature.
// The difference is the cost of the OpenFeature client and the provider.
func BenchmarkParameter(b *testing.B) {
	e := newEnv(b)
	for _, bc := range []struct {
		name string
		read func(r *http.Request) string
	}{
		{"statsigmw", func(r *http.Request) string {
			cfg, _ := statsigmw.Experiment(r.Context(), "exp")
			return cfg.GetString("color", "")
		}},
		{"openfeature", func(r *http.Request) string {
			return e.of.String(r.Context(), "exp.color", "", openfeature.EvaluationContext{})
		}},
	} {
		h := e.mw.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if bc.read(r) == "" {
				b.Error("no color")
			}
		}))
		reqs := make([]*http.Request, 64)
		for i := range reqs {
			first := httptest.NewRecorder()
			h.ServeHTTP(first, httptest.NewRequest("GET", "/", nil))
			reqs[i] = httptest.NewRequest("GET", "/", nil)
			reqs[i].AddCookie(first.Result().Cookies()[0])
		}
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				h.ServeHTTP(httptest.NewRecorder(), reqs[i%len(reqs)])
			}
		})
	}
}
