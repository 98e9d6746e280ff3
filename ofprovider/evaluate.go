package ofprovider

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"strings"

	"github.com/open-feature/go-sdk/openfeature"
	statsig "github.com/statsig-io/go-sdk"

	"github.com/labkit/statsigmw"
)

// BooleanEvaluation resolves a gate ("name") or a boolean parameter
// ("experiment.parameter").
func (p *Provider) BooleanEvaluation(ctx context.Context, flag string, def bool, flat openfeature.FlattenedContext) openfeature.BoolResolutionDetail {
	if strings.Contains(flag, ".") {
		return resolveParam(p, ctx, flag, def, flat, "a boolean", asBool)
	}
	_, pass, rerr := inScope(p, ctx, flat, "gate", flag, func(c context.Context) (bool, bool) {
		return statsigmw.Gate(c, flag)
	})
	if rerr != nil {
		return failed(def, *rerr)
	}
	return openfeature.BoolResolutionDetail{Value: pass,
		ProviderResolutionDetail: openfeature.ProviderResolutionDetail{Reason: openfeature.UnknownReason}}
}

// StringEvaluation resolves a string parameter ("experiment.parameter").
func (p *Provider) StringEvaluation(ctx context.Context, flag string, def string, flat openfeature.FlattenedContext) openfeature.StringResolutionDetail {
	return resolveParam(p, ctx, flag, def, flat, "a string", asString)
}

// FloatEvaluation resolves a number parameter ("experiment.parameter").
func (p *Provider) FloatEvaluation(ctx context.Context, flag string, def float64, flat openfeature.FlattenedContext) openfeature.FloatResolutionDetail {
	return resolveParam(p, ctx, flag, def, flat, "a number", asFloat)
}

// IntEvaluation resolves a number parameter without a fractional part
// ("experiment.parameter").
func (p *Provider) IntEvaluation(ctx context.Context, flag string, def int64, flat openfeature.FlattenedContext) openfeature.IntResolutionDetail {
	return resolveParam(p, ctx, flag, def, flat, "an integer", asInt)
}

// ObjectEvaluation resolves an experiment's parameters ("experiment") as a
// map[string]any, or a parameter holding a JSON object or array
// ("experiment.parameter"). The value is the caller's own copy.
func (p *Provider) ObjectEvaluation(ctx context.Context, flag string, def any, flat openfeature.FlattenedContext) openfeature.InterfaceResolutionDetail {
	if strings.Contains(flag, ".") {
		return resolveParam(p, ctx, flag, def, flat, "an object", asObject)
	}
	_, cfg, rerr := inScope(p, ctx, flat, "experiment", flag, func(c context.Context) (statsig.DynamicConfig, bool) {
		return statsigmw.Experiment(c, flag)
	})
	if rerr != nil {
		return failed(def, *rerr)
	}
	v := copyJSON(cfg.Value)
	if v == nil {
		v = map[string]any{}
	}
	return openfeature.InterfaceResolutionDetail{Value: v, ProviderResolutionDetail: resolved(&cfg)}
}

// resolveParam resolves "experiment.parameter" with conv, which converts
// the parameter's JSON value to T and reports whether it is of T's kind
// (what, for messages). The experiment is peeked at first, so that an
// evaluation ending in an error logs no exposure: the user is served the
// caller's default, not the group's value.
func resolveParam[T any](p *Provider, ctx context.Context, flag string, def T, flat openfeature.FlattenedContext, what string, conv func(any) (T, bool)) openfeature.GenericResolutionDetail[T] {
	name, param, _ := strings.Cut(flag, ".")
	if name == "" || param == "" {
		return failed(def, openfeature.NewFlagNotFoundResolutionError(
			fmt.Sprintf("ofprovider: flag key %q is not of the form \"experiment.parameter\"", flag)))
	}
	ctx, cfg, rerr := inScope(p, ctx, flat, "experiment", name, func(c context.Context) (statsig.DynamicConfig, bool) {
		return statsigmw.PeekExperiment(c, name)
	})
	if rerr != nil {
		return failed(def, *rerr)
	}
	value, reason := def, openfeature.DefaultReason
	if raw := cfg.Value[param]; raw != nil {
		v, ok := conv(raw)
		if !ok {
			return failed(def, openfeature.NewTypeMismatchResolutionError(
				fmt.Sprintf("ofprovider: parameter %q of experiment %q is %s, not %s", param, name, kindOf(raw), what)))
		}
		value, reason = v, ""
	}
	statsigmw.Experiment(ctx, name) // the peeked evaluation, from the scope's memo: logs its exposure
	d := resolved(&cfg)
	if reason != "" {
		d.Reason = reason
	}
	return openfeature.GenericResolutionDetail[T]{Value: value, ProviderResolutionDetail: d}
}

// inScope reads with ctx's request scope or, when ctx has none, with a
// scope of its own for the user of flat, and returns the context it read
// with. A read that is not ok ends in FLAG_NOT_FOUND for name (of kind),
// or PROVIDER_NOT_READY while the client has no configs.
func inScope[T any](p *Provider, ctx context.Context, flat openfeature.FlattenedContext, kind, name string, read func(context.Context) (T, bool)) (context.Context, T, *openfeature.ResolutionError) {
	if ctx == nil {
		ctx = context.Background()
	}
	if v, ok := read(ctx); ok {
		return ctx, v, nil
	}
	var zero T
	if _, scoped := statsigmw.User(ctx); !scoped {
		u, rerr := userOf(flat)
		if rerr != nil {
			return ctx, zero, rerr
		}
		ctx = statsigmw.NewContext(ctx, p.client, u)
		if v, ok := read(ctx); ok {
			return ctx, v, nil
		}
	}
	rerr := openfeature.NewFlagNotFoundResolutionError(fmt.Sprintf("ofprovider: no %s %q", kind, name))
	if !p.client.Initialized() {
		rerr = openfeature.NewProviderNotReadyResolutionError(
			fmt.Sprintf("ofprovider: %s %q: the Statsig client has no configs yet", kind, name))
	}
	return ctx, zero, &rerr
}

// resolved returns the resolution details of an experiment's evaluation.
func resolved(cfg *statsig.DynamicConfig) openfeature.ProviderResolutionDetail {
	return openfeature.ProviderResolutionDetail{
		Reason:       reasonOf(cfg),
		Variant:      cfg.GroupName,
		FlagMetadata: openfeature.FlagMetadata{"ruleID": cfg.RuleID},
	}
}

// reasonOf maps an experiment's evaluation to an OpenFeature reason. The
// SDK names the rule that assigned the user; "default" and "disabled" are
// its names for none.
func reasonOf(cfg *statsig.DynamicConfig) openfeature.Reason {
	if d := cfg.EvaluationDetails; d != nil {
		switch d.Reason {
		case statsig.ReasonLocalOverride:
			return openfeature.StaticReason
		case statsig.ReasonPersisted:
			return openfeature.CachedReason
		}
	}
	switch {
	case cfg.GroupName != "":
		return openfeature.SplitReason
	case cfg.RuleID == "disabled":
		return openfeature.DisabledReason
	case cfg.RuleID == "" || cfg.RuleID == "default":
		return openfeature.DefaultReason
	}
	return openfeature.TargetingMatchReason
}

func failed[T any](def T, rerr openfeature.ResolutionError) openfeature.GenericResolutionDetail[T] {
	return openfeature.GenericResolutionDetail[T]{Value: def,
		ProviderResolutionDetail: openfeature.ProviderResolutionDetail{ResolutionError: rerr, Reason: openfeature.ErrorReason}}
}

// Conversions of a parameter's JSON value, as the SDK decodes it
// (encoding/json into any: float64 for every number).

func asBool(v any) (bool, bool) {
	b, ok := v.(bool)
	return b, ok
}

func asString(v any) (string, bool) {
	s, ok := v.(string)
	return s, ok
}

func asFloat(v any) (float64, bool) {
	switch n := v.(type) {
	case float64:
		return n, true
	case json.Number:
		f, err := n.Float64()
		return f, err == nil
	}
	return 0, false
}

func asInt(v any) (int64, bool) {
	switch n := v.(type) {
	case float64:
		// -2^63 and 2^63 are exact in float64; int64 holds the first only.
		if n != math.Trunc(n) || n < math.MinInt64 || n >= math.MaxInt64 {
			return 0, false
		}
		return int64(n), true
	case json.Number:
		i, err := n.Int64()
		return i, err == nil
	}
	return 0, false
}

func asObject(v any) (any, bool) {
	switch v.(type) {
	case map[string]any, []any:
		return copyJSON(v), true
	}
	return nil, false
}

// kindOf names the JSON kind of a decoded value, for messages.
func kindOf(v any) string {
	switch v.(type) {
	case bool:
		return "a boolean"
	case string:
		return "a string"
	case float64, json.Number:
		return "a number"
	case map[string]any:
		return "an object"
	case []any:
		return "an array"
	}
	return fmt.Sprintf("a %T", v)
}

// copyJSON copies a decoded JSON value: the SDK's value is shared with
// every read of the request.
func copyJSON(v any) any {
	switch t := v.(type) {
	case map[string]any:
		if t == nil {
			return nil
		}
		c := make(map[string]any, len(t))
		for k, e := range t {
			c[k] = copyJSON(e)
		}
		return c
	case []any:
		if t == nil {
			return nil
		}
		c := make([]any, len(t))
		for i, e := range t {
			c[i] = copyJSON(e)
		}
		return c
	}
	return v
}
