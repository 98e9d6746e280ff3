package statsigmw

import (
	"context"
	"errors"
	"fmt"
	"unicode/utf8"

	statsig "github.com/statsig-io/go-sdk"
)

// ErrNoScope is returned by [LogEvent] and [Bootstrap] when the context
// carries no request scope: the handler does not run under the middleware
// and was not given one by [NewContext].
var ErrNoScope = errors.New("statsigmw: no request scope in the context (is the handler wrapped by the middleware?)")

// Limits on names and events. Statsig truncates or drops larger values;
// refusing them here makes the loss visible.
const (
	maxNameLen          = 128  // bytes of an event, experiment, gate or layer name
	maxEventValueLen    = 1024 // bytes of an event value
	maxMetadataKeys     = 50   // keys of an event's metadata
	maxMetadataBytes    = 4096 // bytes of an event's metadata keys and values together
	maxMetadataKeyBytes = 128
)

// EventOption sets an optional field of an event logged with [LogEvent]:
// see [WithValue] and [WithMetadata].
type EventOption struct {
	value    *string
	metadata map[string]string
	set      bool // metadata was given, even if nil
}

// WithValue sets the event's value, such as an order id or, formatted with
// strconv, a price: Statsig's metrics sum and average values that parse as
// numbers.
func WithValue(v string) EventOption { return EventOption{value: &v} }

// WithMetadata sets the event's metadata. The map is copied.
func WithMetadata(md map[string]string) EventOption {
	return EventOption{metadata: cloneMap(md), set: true}
}

// LogEvent records the custom event name for the request's user, with the
// same UserID and stableID as the request's exposures, so that a conversion
// logged on one page is attributed to the group the visitor saw on another.
// The SDK buffers the event and sends it in the background; LogEvent does
// not block on the network. During a HEAD request it logs nothing and
// returns nil.
//
// It returns [ErrNoScope] without a request scope, and an error naming the
// problem for an empty or over-long name (128 bytes), a value over 1024
// bytes, metadata over 50 keys or 4096 bytes, text that is not UTF-8, or an
// option given twice. Nothing is logged then.
func LogEvent(ctx context.Context, name string, opts ...EventOption) error {
	s := scopeFrom(ctx)
	if s == nil {
		return ErrNoScope
	}
	ev := statsig.Event{EventName: name}
	var haveValue, haveMetadata bool
	for _, o := range opts {
		switch {
		case o.value != nil:
			if haveValue {
				return fmt.Errorf("statsigmw: event %q: WithValue given twice", name)
			}
			haveValue, ev.Value = true, *o.value
		case o.set:
			if haveMetadata {
				return fmt.Errorf("statsigmw: event %q: WithMetadata given twice", name)
			}
			haveMetadata, ev.Metadata = true, o.metadata
		}
	}
	if err := validateEvent(&ev); err != nil {
		return err
	}
	if s.sdk == nil {
		return errors.New("statsigmw: the scope has no Statsig client")
	}
	if s.silent {
		return nil
	}
	ev.User = *s.getUser(ctx)
	s.sdk.LogEvent(ev)
	return nil
}

func validateEvent(ev *statsig.Event) error {
	switch {
	case ev.EventName == "":
		return errors.New("statsigmw: empty event name")
	case len(ev.EventName) > maxNameLen:
		return fmt.Errorf("statsigmw: event name %q... is %d bytes, over the limit of %d", truncate(ev.EventName, 32), len(ev.EventName), maxNameLen)
	case !utf8.ValidString(ev.EventName):
		return fmt.Errorf("statsigmw: event name %q is not UTF-8", ev.EventName)
	case len(ev.Value) > maxEventValueLen:
		return fmt.Errorf("statsigmw: event %q: value is %d bytes, over the limit of %d", ev.EventName, len(ev.Value), maxEventValueLen)
	case !utf8.ValidString(ev.Value):
		return fmt.Errorf("statsigmw: event %q: value is not UTF-8", ev.EventName)
	case len(ev.Metadata) > maxMetadataKeys:
		return fmt.Errorf("statsigmw: event %q: metadata has %d keys, over the limit of %d", ev.EventName, len(ev.Metadata), maxMetadataKeys)
	}
	size := 0
	for k, v := range ev.Metadata {
		if k == "" || len(k) > maxMetadataKeyBytes || !utf8.ValidString(k) || !utf8.ValidString(v) {
			return fmt.Errorf("statsigmw: event %q: invalid metadata key %q (empty, over %d bytes, or not UTF-8) or value", ev.EventName, truncate(k, 32), maxMetadataKeyBytes)
		}
		size += len(k) + len(v)
	}
	if size > maxMetadataBytes {
		return fmt.Errorf("statsigmw: event %q: metadata is %d bytes, over the limit of %d", ev.EventName, size, maxMetadataBytes)
	}
	return nil
}
