package otelmetrics_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"

	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/labkit/statsigmw"
	"github.com/labkit/statsigmw/otelmetrics"
	"github.com/labkit/statsigmw/statsigclient"
	"github.com/labkit/statsigmw/statsigtest"
)

// Register reports the middleware's and the client's counters through the
// program's meter (here one with a manual reader, to print them).
func Example() {
	srv := statsigtest.NewServer(statsigtest.Config{Experiments: []statsigtest.ExperimentSpec{{
		Name: "button_color_v3", Groups: []statsigtest.Group{{Name: "Red", Weight: 100}}}}})
	defer srv.Close()
	client, err := statsigclient.New(srv.ClientConfig())
	if err != nil {
		panic(err)
	}
	defer func() { _ = client.Shutdown(context.Background()) }()
	mw, _ := statsigmw.New(client, statsigmw.Config{})

	reader := sdkmetric.NewManualReader()
	meter := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader)).Meter("example")
	reg, err := otelmetrics.Register(meter, mw, client)
	if err != nil {
		panic(err)
	}
	defer func() { _ = reg.Unregister() }()

	h := mw.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		statsigmw.Experiment(r.Context(), "button_color_v3")
	}))
	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/", nil))

	var rm metricdata.ResourceMetrics
	_ = reader.Collect(context.Background(), &rm)
	for _, m := range rm.ScopeMetrics[0].Metrics {
		if m.Name == "statsigmw.exposures" {
			for _, dp := range m.Data.(metricdata.Sum[int64]).DataPoints {
				outcome, _ := dp.Attributes.Value("outcome")
				fmt.Println(m.Name, m.Unit, outcome.AsString(), dp.Value)
			}
		}
	}
	// Unordered output:
	// statsigmw.exposures {exposure} logged 1
	// statsigmw.exposures {exposure} suppressed 0
}
