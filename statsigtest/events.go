package statsigtest

import (
	"encoding/json"
	"strings"

	statsig "github.com/statsig-io/go-sdk"
)

// rawEvent is one event of a log_event batch as the SDK sends it.
type rawEvent struct {
	EventName string          `json:"eventName"`
	User      statsig.User    `json:"user"`
	Value     json.RawMessage `json:"value"`
	Metadata  json.RawMessage `json:"metadata"`
	Time      int64           `json:"time"`
	Raw       json.RawMessage `json:"-"`
}

// Event is a custom event the Server received: one logged with
// statsig.Client.LogEvent.
type Event struct {
	Name  string
	User  statsig.User
	Value string // as sent: the SDK sends every value as a string
	// Metadata holds the event's metadata.
	Metadata map[string]string
	Time     int64 // milliseconds since the Unix epoch, as the SDK stamped it
	// Raw is the event's JSON exactly as it was sent, for assertions on what
	// went over the wire (for example that no "privateAttributes" were sent).
	Raw json.RawMessage
}

// ExposureKind tells what an [Exposure] is of.
type ExposureKind string

// The kinds of exposure.
const (
	ExperimentExposure ExposureKind = "experiment" // statsig::config_exposure (experiments and dynamic configs)
	GateExposure       ExposureKind = "gate"       // statsig::gate_exposure
	LayerExposure      ExposureKind = "layer"      // statsig::layer_exposure, one per parameter read
)

// Exposure is an exposure event the Server received, decoded.
type Exposure struct {
	Kind ExposureKind
	// Name is the experiment, gate or layer.
	Name string
	// RuleID is the rule that assigned the user, as sent.
	RuleID string
	// Group is the experiment group RuleID stands for in the Server's
	// current Config, or "" (the default value, a gate, an unknown rule).
	Group string
	// GateValue is the gate's result, for a gate exposure.
	GateValue bool
	// Parameter is the parameter read, for a layer exposure.
	Parameter string
	User      statsig.User
	Metadata  map[string]string
	Time      int64
	Raw       json.RawMessage
}

func (e rawEvent) decode() Event {
	ev := Event{Name: e.EventName, User: e.User, Time: e.Time, Raw: e.Raw}
	var v any
	if json.Unmarshal(e.Value, &v) == nil && v != nil {
		if s, ok := v.(string); ok {
			ev.Value = s
		} else {
			ev.Value = string(e.Value)
		}
	}
	var md map[string]any
	if json.Unmarshal(e.Metadata, &md) == nil && md != nil {
		ev.Metadata = make(map[string]string, len(md))
		for k, v := range md {
			if s, ok := v.(string); ok {
				ev.Metadata[k] = s
			}
		}
	}
	return ev
}

// Events returns the custom events received so far, in order of arrival:
// every event whose name does not start with "statsig::" (exposures, see
// [Server.Exposures], and the SDK's diagnostics).
//
// A client sends its events in batches, at the latest when it shuts down:
// call [Server.Flush] first.
func (s *Server) Events() []Event {
	s.read.Store(true)
	var out []Event
	for _, e := range s.allEvents() {
		if !strings.HasPrefix(e.Name, "statsig::") {
			out = append(out, e)
		}
	}
	return out
}

// allEvents returns every event received so far, decoded.
func (s *Server) allEvents() []Event {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Event, len(s.events))
	for i, e := range s.events {
		out[i] = e.decode()
	}
	return out
}

// Exposures returns the exposure events received so far, in order of
// arrival, decoded. As for [Server.Events], call [Server.Flush] first.
func (s *Server) Exposures() []Exposure {
	s.read.Store(true)
	events := s.allEvents()
	s.mu.Lock()
	rules := s.rules
	s.mu.Unlock()
	var out []Exposure
	for _, e := range events {
		x := Exposure{User: e.User, Metadata: e.Metadata, Time: e.Time, Raw: e.Raw}
		switch e.Name {
		case string(statsig.ConfigExposureEventName):
			x.Kind, x.Name = ExperimentExposure, e.Metadata["config"]
		case string(statsig.GateExposureEventName):
			x.Kind, x.Name = GateExposure, e.Metadata["gate"]
			x.GateValue = e.Metadata["gateValue"] == "true"
		case string(statsig.LayerExposureEventName):
			x.Kind, x.Name = LayerExposure, e.Metadata["config"]
			x.Parameter = e.Metadata["parameterName"]
		default:
			continue
		}
		x.RuleID = e.Metadata["ruleID"]
		if ref, ok := rules[x.RuleID]; ok {
			x.Group = ref.group
		}
		out = append(out, x)
	}
	return out
}
