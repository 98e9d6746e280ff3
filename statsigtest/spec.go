package statsigtest

import (
	"encoding/json"
	"fmt"
	"math"
	"sort"
)

// The units an experiment or gate buckets on: the SDK's id types, plain
// strings as in statsigmw.Config.StickyUnit.
const (
	// UnitUserID buckets on statsig.User.UserID. It is the default.
	UnitUserID = "userID"
	// UnitStableID buckets on statsig.User.CustomIDs["stableID"], the
	// anonymous visitor id that statsigmw always sets.
	UnitStableID = "stableID"
)

// Config is the set of experiments, gates and layers a [Server] serves.
// Its zero value is valid and serves nothing: every evaluation is then
// "Unrecognized" and returns defaults.
type Config struct {
	Experiments []ExperimentSpec
	Gates       []GateSpec
	Layers      []LayerSpec
}

// ExperimentSpec describes an experiment whose groups split the unit by weight.
type ExperimentSpec struct {
	// Name is the experiment name passed to GetExperiment. Required.
	Name string
	// Unit is the id the experiment buckets on; empty means UnitUserID.
	Unit string
	// Groups are assigned in order by cumulative weight. At least one is
	// required and the weights must sum to 100.
	Groups []Group
	// Defaults are the parameters a user outside every group gets (for
	// example when the experiment is not active). Group parameters are
	// returned as they are; Defaults are not merged into them.
	Defaults map[string]any
	// Salt seeds bucketing; empty means Name. Two experiments with the same
	// salt bucket every user identically.
	Salt string
	// Inactive marks the experiment as not running: every user gets Defaults.
	Inactive bool
}

// Group is one arm of an [ExperimentSpec].
type Group struct {
	// Name is the group name, for example "Control". Required and unique
	// within the experiment.
	Name string
	// Weight is the share of units, in percent (0 < Weight <= 100), with a
	// resolution of 0.1.
	Weight float64
	// Params are the experiment parameters this group returns.
	Params map[string]any
}

// GateSpec describes a feature gate that passes a percentage of units.
type GateSpec struct {
	// Name is the gate name passed to CheckGate. Required.
	Name string
	// Unit is the id the gate buckets on; empty means UnitUserID.
	Unit string
	// PassPercentage is the share of units that pass, from 0 to 100.
	PassPercentage float64
	// Salt seeds bucketing; empty means Name.
	Salt string
}

// LayerSpec describes a layer: parameters with defaults, optionally controlled by
// one experiment allocated to every unit of the layer.
type LayerSpec struct {
	// Name is the layer name passed to GetLayer. Required.
	Name string
	// Defaults are the layer's parameters outside the experiment.
	Defaults map[string]any
	// Experiment, when set, receives every unit of the layer. Its group
	// parameters override Defaults; the parameters it names are the layer's
	// explicit parameters. Its Unit must match the layer's (the layer uses
	// the experiment's). It must not also be listed in Config.Experiments.
	Experiment *ExperimentSpec
}

// ruleRef is what the server knows about a rule id, to name the group of an
// exposure.
type ruleRef struct {
	config string
	group  string
}

// JSON returns the config in the download_config_specs format of the Statsig
// server SDKs. The result is also valid as statsig.Options.BootstrapValues, so
// a LocalMode client can evaluate the same experiments with no server.
//
// JSON reports an error for an invalid Config: an empty or duplicated name,
// an experiment with no group, group weights that are not positive or do not
// sum to 100, a duplicated group name, a pass percentage outside 0..100, or
// an unknown unit.
func (c Config) JSON() ([]byte, error) {
	specs, _, err := c.build(0)
	if err != nil {
		return nil, err
	}
	return json.Marshal(specs)
}

// build validates the config and returns the download_config_specs document
// and the map from rule id to group.
func (c Config) build(timeMillis int64) (map[string]any, map[string]ruleRef, error) {
	if timeMillis == 0 {
		timeMillis = 1
	}
	rules := make(map[string]ruleRef)
	names := make(map[string]string) // name -> kind, across kinds as Statsig does
	claim := func(kind, name string) error {
		if name == "" {
			return fmt.Errorf("statsigtest: %s with an empty name", kind)
		}
		if prev, ok := names[name]; ok {
			return fmt.Errorf("statsigtest: %s %q: the name is already used by a %s", kind, name, prev)
		}
		names[name] = kind
		return nil
	}

	configs := make([]any, 0, len(c.Experiments)+len(c.Layers))
	for _, e := range c.Experiments {
		if err := claim("experiment", e.Name); err != nil {
			return nil, nil, err
		}
		spec, err := experimentSpec(e, nil, rules)
		if err != nil {
			return nil, nil, err
		}
		configs = append(configs, spec)
	}

	gates := make([]any, 0, len(c.Gates))
	for _, g := range c.Gates {
		if err := claim("gate", g.Name); err != nil {
			return nil, nil, err
		}
		spec, err := gateSpec(g, rules)
		if err != nil {
			return nil, nil, err
		}
		gates = append(gates, spec)
	}

	layerConfigs := make([]any, 0, len(c.Layers))
	layers := make(map[string][]string, len(c.Layers))
	for _, l := range c.Layers {
		if err := claim("layer", l.Name); err != nil {
			return nil, nil, err
		}
		unit := UnitUserID
		var delegates []any
		if l.Experiment != nil {
			e := *l.Experiment
			if err := claim("experiment", e.Name); err != nil {
				return nil, nil, err
			}
			spec, err := experimentSpec(e, l.Defaults, rules)
			if err != nil {
				return nil, nil, err
			}
			configs = append(configs, spec)
			unit, _ = normUnit(e.Unit)
			layers[l.Name] = []string{e.Name}
			delegates = append(delegates, map[string]any{
				"name":           "layerAssignment",
				"id":             "layerAssignment",
				"salt":           "layerAssignment",
				"passPercentage": 100,
				"conditions":     []any{map[string]any{"type": "public"}},
				"returnValue":    paramsOrEmpty(l.Defaults),
				"idType":         string(unit),
				"configDelegate": e.Name,
			})
		} else {
			layers[l.Name] = []string{}
		}
		if delegates == nil {
			delegates = []any{}
		}
		layerConfigs = append(layerConfigs, map[string]any{
			"name":         l.Name,
			"type":         "dynamic_config",
			"entity":       "layer",
			"salt":         l.Name,
			"enabled":      true,
			"idType":       string(unit),
			"defaultValue": paramsOrEmpty(l.Defaults),
			"rules":        delegates,
		})
	}

	doc := map[string]any{
		"has_updates":     true,
		"time":            timeMillis,
		"feature_gates":   gates,
		"dynamic_configs": configs,
		"layer_configs":   layerConfigs,
		"layers":          layers,
	}
	return doc, rules, nil
}

func normUnit(u string) (string, error) {
	switch u {
	case "", UnitUserID:
		return UnitUserID, nil
	case UnitStableID:
		return UnitStableID, nil
	}
	return "", fmt.Errorf("unknown unit %q (want %q or %q)", u, UnitUserID, UnitStableID)
}

func paramsOrEmpty(p map[string]any) map[string]any {
	if p == nil {
		return map[string]any{}
	}
	return p
}

// experimentSpec builds one dynamic_configs entry. layerDefaults, when not
// nil, are merged under each group's parameters (an in-layer experiment).
func experimentSpec(e ExperimentSpec, layerDefaults map[string]any, rules map[string]ruleRef) (map[string]any, error) {
	unit, err := normUnit(e.Unit)
	if err != nil {
		return nil, fmt.Errorf("statsigtest: experiment %q: %v", e.Name, err)
	}
	if len(e.Groups) == 0 {
		return nil, fmt.Errorf("statsigtest: experiment %q has no group", e.Name)
	}
	salt := e.Salt
	if salt == "" {
		salt = e.Name
	}
	var total float64
	seen := make(map[string]bool, len(e.Groups))
	explicit := make(map[string]bool)
	for _, g := range e.Groups {
		if g.Name == "" {
			return nil, fmt.Errorf("statsigtest: experiment %q has a group with an empty name", e.Name)
		}
		if seen[g.Name] {
			return nil, fmt.Errorf("statsigtest: experiment %q has two groups named %q", e.Name, g.Name)
		}
		seen[g.Name] = true
		if !(g.Weight > 0 && g.Weight <= 100) {
			return nil, fmt.Errorf("statsigtest: experiment %q group %q: weight %v is not in (0, 100]", e.Name, g.Name, g.Weight)
		}
		total += g.Weight
		for k := range g.Params {
			explicit[k] = true
		}
	}
	if math.Abs(total-100) > 1e-6 {
		return nil, fmt.Errorf("statsigtest: experiment %q: group weights sum to %v, want 100", e.Name, total)
	}

	ruleList := make([]any, 0, len(e.Groups))
	var cum, prev float64
	for i, g := range e.Groups {
		cum += g.Weight
		threshold := math.Round(cum * 10) // buckets are 0..999
		if i == len(e.Groups)-1 {
			threshold = 1000
		}
		if threshold <= prev {
			return nil, fmt.Errorf("statsigtest: experiment %q group %q: weight %v is below the resolution of 0.1 and would get no units", e.Name, g.Name, g.Weight)
		}
		prev = threshold
		id := fmt.Sprintf("%s:%d", e.Name, i)
		if _, dup := rules[id]; dup {
			return nil, fmt.Errorf("statsigtest: experiment %q: rule id %q is already used; rename the experiment", e.Name, id)
		}
		rules[id] = ruleRef{config: e.Name, group: g.Name}
		params := make(map[string]any, len(layerDefaults)+len(g.Params))
		for k, v := range layerDefaults {
			params[k] = v
		}
		for k, v := range g.Params {
			params[k] = v
		}
		ruleList = append(ruleList, map[string]any{
			"name":              id,
			"id":                id,
			"groupName":         g.Name,
			"salt":              id,
			"passPercentage":    100,
			"isExperimentGroup": true,
			"idType":            string(unit),
			"returnValue":       params,
			"conditions": []any{map[string]any{
				"type":             "user_bucket",
				"operator":         "lt",
				"targetValue":      threshold,
				"idType":           string(unit),
				"additionalValues": map[string]any{"salt": salt},
			}},
		})
	}
	if e.Inactive {
		ruleList = []any{}
	}
	explicitList := make([]string, 0, len(explicit))
	for k := range explicit {
		explicitList = append(explicitList, k)
	}
	sort.Strings(explicitList)
	defaults := e.Defaults
	if defaults == nil {
		defaults = layerDefaults
	}
	return map[string]any{
		"name":               e.Name,
		"type":               "dynamic_config",
		"entity":             "experiment",
		"salt":               salt,
		"enabled":            true,
		"isActive":           !e.Inactive,
		"idType":             string(unit),
		"defaultValue":       paramsOrEmpty(defaults),
		"explicitParameters": explicitList,
		"rules":              ruleList,
	}, nil
}

func gateSpec(g GateSpec, rules map[string]ruleRef) (map[string]any, error) {
	unit, err := normUnit(g.Unit)
	if err != nil {
		return nil, fmt.Errorf("statsigtest: gate %q: %v", g.Name, err)
	}
	if !(g.PassPercentage >= 0 && g.PassPercentage <= 100) {
		return nil, fmt.Errorf("statsigtest: gate %q: pass percentage %v is not in [0, 100]", g.Name, g.PassPercentage)
	}
	salt := g.Salt
	if salt == "" {
		salt = g.Name
	}
	id := g.Name + ":pass"
	if _, dup := rules[id]; dup {
		return nil, fmt.Errorf("statsigtest: gate %q: rule id %q is already used; rename the gate", g.Name, id)
	}
	rules[id] = ruleRef{config: g.Name}
	return map[string]any{
		"name":         g.Name,
		"type":         "feature_gate",
		"entity":       "feature_gate",
		"salt":         salt,
		"enabled":      true,
		"idType":       string(unit),
		"defaultValue": false,
		"rules": []any{map[string]any{
			"name":           id,
			"id":             id,
			"salt":           id,
			"passPercentage": g.PassPercentage,
			"idType":         string(unit),
			"returnValue":    true,
			"conditions":     []any{map[string]any{"type": "public"}},
		}},
	}, nil
}
