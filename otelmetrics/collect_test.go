package otelmetrics

import (
	"context"
	"testing"

	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
)

// point names one series: an instrument and its attribute, "" for none.
type point struct{ name, attr string }

// instrument is what a collection says of an instrument.
type instrument struct {
	unit      string
	monotonic bool
}

// newReader returns a meter provider's meter and its manual reader; the
// provider is shut down when the test ends.
func newReader(t *testing.T) (*sdkmetric.MeterProvider, *sdkmetric.ManualReader) {
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	t.Cleanup(func() {
		if err := mp.Shutdown(context.Background()); err != nil {
			t.Error(err)
		}
	})
	return mp, reader
}

// collect reads every series of reader, failing t on a series that is not
// a cumulative int64 sum or has more than one attribute.
func collect(t *testing.T, reader *sdkmetric.ManualReader) (map[point]int64, map[string]instrument) {
	t.Helper()
	var rm metricdata.ResourceMetrics
	if err := reader.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	points := map[point]int64{}
	instruments := map[string]instrument{}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			sum, ok := m.Data.(metricdata.Sum[int64])
			if !ok {
				t.Fatalf("%s: %T, want an int64 sum", m.Name, m.Data)
			}
			if sum.Temporality != metricdata.CumulativeTemporality {
				t.Errorf("%s: temporality %v", m.Name, sum.Temporality)
			}
			instruments[m.Name] = instrument{m.Unit, sum.IsMonotonic}
			for _, dp := range sum.DataPoints {
				if dp.Attributes.Len() > 1 {
					t.Errorf("%s: attributes %v", m.Name, dp.Attributes.ToSlice())
				}
				p := point{name: m.Name}
				for _, kv := range dp.Attributes.ToSlice() {
					p.attr = string(kv.Key) + "=" + kv.Value.String()
				}
				if _, dup := points[p]; dup {
					t.Errorf("%v reported twice", p)
				}
				points[p] = dp.Value
			}
		}
	}
	return points, instruments
}
