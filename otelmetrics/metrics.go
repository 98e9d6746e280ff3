// Package otelmetrics reports the counters of a statsigmw.Middleware and of
// a statsigclient.Client as OpenTelemetry metrics, read at each collection:
//
//	reg, err := otelmetrics.Register(otel.Meter("myservice"), mw, client)
//	if err != nil { ... }
//	defer reg.Unregister()
//
// The instruments, all observable and cumulative since the middleware or
// client was made:
//
//	statsigmw.exposures             counter {exposure}   outcome=logged|suppressed
//	statsigmw.duplicate_cookies     counter {request}
//	statsigmw.late_reads            counter {request}
//	statsigclient.events            counter {event}      outcome=sent|dropped|failed
//	statsigclient.pending_events    up-down counter {event}
//	statsigclient.pending_batches   up-down counter {batch} state=in_flight|queued
//
// Each is described in [Register]. Attributes take only the values listed,
// so every instrument has at most three series.
package otelmetrics

import (
	"context"
	"errors"
	"fmt"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/labkit/statsigmw"
	"github.com/labkit/statsigmw/statsigclient"
)

// Attribute sets, made once: an observation then allocates nothing.
var (
	outcomeLogged     = metric.WithAttributeSet(attribute.NewSet(attribute.String("outcome", "logged")))
	outcomeSuppressed = metric.WithAttributeSet(attribute.NewSet(attribute.String("outcome", "suppressed")))
	outcomeSent       = metric.WithAttributeSet(attribute.NewSet(attribute.String("outcome", "sent")))
	outcomeDropped    = metric.WithAttributeSet(attribute.NewSet(attribute.String("outcome", "dropped")))
	outcomeFailed     = metric.WithAttributeSet(attribute.NewSet(attribute.String("outcome", "failed")))
	stateInFlight     = metric.WithAttributeSet(attribute.NewSet(attribute.String("state", "in_flight")))
	stateQueued       = metric.WithAttributeSet(attribute.NewSet(attribute.String("state", "queued")))
)

// Register creates observable instruments on meter for mw's
// [statsigmw.Middleware.Stats] and client's [statsigclient.Client.Stats],
// and one callback that reads both at each collection. Either of mw and
// client may be nil, and its instruments are then not created; not both.
// Unregister the returned Registration to stop the reports (the
// instruments stay, without data).
//
// For a Middleware:
//   - statsigmw.exposures ({exposure}): exposures handlers read, by
//     outcome: "logged" (sent to the Statsig SDK) or "suppressed" (the
//     same exposure was logged within the exposure window);
//   - statsigmw.duplicate_cookies ({request}): requests that carried more
//     than one visitor cookie;
//   - statsigmw.late_reads ({request}): requests of a visitor without a
//     valid cookie whose handler first read an assignment after writing
//     the response header, too late to set the cookie.
//
// For a Client:
//   - statsigclient.events ({event}): events that reached the client's
//     transport, by outcome: "sent" (delivered), "dropped" (never sent)
//     or "failed" (sent but not accepted);
//   - statsigclient.pending_events ({event}): events in batches being sent
//     or waiting to be;
//   - statsigclient.pending_batches ({batch}): batches by state,
//     "in_flight" or "queued".
func Register(meter metric.Meter, mw *statsigmw.Middleware, client *statsigclient.Client) (metric.Registration, error) {
	var mwStats func() statsigmw.Stats
	var clientStats func() statsigclient.Stats
	if mw != nil {
		mwStats = mw.Stats
	}
	if client != nil {
		clientStats = client.Stats
	}
	return register(meter, mwStats, clientStats)
}

// register is Register with the sources of the counters, nil for none.
func register(meter metric.Meter, mwStats func() statsigmw.Stats, clientStats func() statsigclient.Stats) (metric.Registration, error) {
	if meter == nil {
		return nil, errors.New("otelmetrics: nil meter")
	}
	if mwStats == nil && clientStats == nil {
		return nil, errors.New("otelmetrics: nil Middleware and nil Client: nothing to report")
	}
	var (
		errs        []error
		instruments []metric.Observable
	)
	counter := func(name, unit, desc string) metric.Int64ObservableCounter {
		c, err := meter.Int64ObservableCounter(name, metric.WithUnit(unit), metric.WithDescription(desc))
		errs = append(errs, err)
		instruments = append(instruments, c)
		return c
	}
	upDown := func(name, unit, desc string) metric.Int64ObservableUpDownCounter {
		c, err := meter.Int64ObservableUpDownCounter(name, metric.WithUnit(unit), metric.WithDescription(desc))
		errs = append(errs, err)
		instruments = append(instruments, c)
		return c
	}

	var exposures, duplicates, late, events metric.Int64ObservableCounter
	var pendingEvents, pendingBatches metric.Int64ObservableUpDownCounter
	if mwStats != nil {
		exposures = counter("statsigmw.exposures", "{exposure}",
			"Exposures read by handlers, by outcome: logged, or suppressed as logged within the exposure window.")
		duplicates = counter("statsigmw.duplicate_cookies", "{request}",
			"Requests that carried more than one visitor cookie.")
		late = counter("statsigmw.late_reads", "{request}",
			"Requests of a visitor without a valid cookie whose handler first read an assignment after writing the response header.")
	}
	if clientStats != nil {
		events = counter("statsigclient.events", "{event}",
			"Events that reached the Statsig client's transport, by outcome: sent, dropped or failed.")
		pendingEvents = upDown("statsigclient.pending_events", "{event}",
			"Events in batches being sent or waiting to be.")
		pendingBatches = upDown("statsigclient.pending_batches", "{batch}",
			"Event batches being sent (in_flight) or waiting for a slot (queued).")
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("otelmetrics: %w", err)
	}

	reg, err := meter.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		if mwStats != nil {
			st := mwStats()
			o.ObserveInt64(exposures, st.ExposuresLogged, outcomeLogged)
			o.ObserveInt64(exposures, st.ExposuresSuppressed, outcomeSuppressed)
			o.ObserveInt64(duplicates, st.DuplicateCookies)
			o.ObserveInt64(late, st.LateReads)
		}
		if clientStats != nil {
			st := clientStats()
			o.ObserveInt64(events, st.EventsSent, outcomeSent)
			o.ObserveInt64(events, st.EventsDropped, outcomeDropped)
			o.ObserveInt64(events, st.EventsFailed, outcomeFailed)
			o.ObserveInt64(pendingEvents, st.EventsPending)
			o.ObserveInt64(pendingBatches, int64(st.BatchesInFlight), stateInFlight)
			o.ObserveInt64(pendingBatches, int64(st.BatchesQueued), stateQueued)
		}
		return nil
	}, instruments...)
	if err != nil {
		return nil, fmt.Errorf("otelmetrics: %w", err)
	}
	return reg, nil
}
