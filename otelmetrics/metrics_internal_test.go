package otelmetrics

import (
	"reflect"
	"testing"

	"github.com/labkit/statsigmw"
	"github.com/labkit/statsigmw/statsigclient"
)

// Each counter reaches its own series: every field has a value of its own.
func TestEveryField(t *testing.T) {
	mp, reader := newReader(t)
	mw := statsigmw.Stats{ExposuresLogged: 1, ExposuresSuppressed: 2, DuplicateCookies: 3, LateReads: 4}
	cl := statsigclient.Stats{EventsSent: 5, EventsDropped: 6, EventsFailed: 7, EventsPending: 8, BatchesInFlight: 9, BatchesQueued: 10}
	reg, err := register(mp.Meter("test"), func() statsigmw.Stats { return mw }, func() statsigclient.Stats { return cl })
	if err != nil {
		t.Fatal(err)
	}
	got, instruments := collect(t, reader)
	want := map[point]int64{
		{"statsigmw.exposures", "outcome=logged"}:            1,
		{"statsigmw.exposures", "outcome=suppressed"}:        2,
		{"statsigmw.duplicate_cookies", ""}:                  3,
		{"statsigmw.late_reads", ""}:                         4,
		{"statsigclient.events", "outcome=sent"}:             5,
		{"statsigclient.events", "outcome=dropped"}:          6,
		{"statsigclient.events", "outcome=failed"}:           7,
		{"statsigclient.pending_events", ""}:                 8,
		{"statsigclient.pending_batches", "state=in_flight"}: 9,
		{"statsigclient.pending_batches", "state=queued"}:    10,
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("collected %v\nwant %v", got, want)
	}
	wantInstruments := map[string]instrument{
		"statsigmw.exposures":           {"{exposure}", true},
		"statsigmw.duplicate_cookies":   {"{request}", true},
		"statsigmw.late_reads":          {"{request}", true},
		"statsigclient.events":          {"{event}", true},
		"statsigclient.pending_events":  {"{event}", false},
		"statsigclient.pending_batches": {"{batch}", false},
	}
	if !reflect.DeepEqual(instruments, wantInstruments) {
		t.Errorf("instruments %v\nwant %v", instruments, wantInstruments)
	}

	// Reads at each collection.
	mw.ExposuresLogged, cl.EventsPending = 11, 0
	got, _ = collect(t, reader)
	if got[point{"statsigmw.exposures", "outcome=logged"}] != 11 || got[point{"statsigclient.pending_events", ""}] != 0 {
		t.Errorf("second collection: %v", got)
	}

	if err := reg.Unregister(); err != nil {
		t.Fatal(err)
	}
	if got, _ = collect(t, reader); len(got) != 0 {
		t.Errorf("after Unregister: %v", got)
	}
}
