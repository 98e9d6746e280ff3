package statsigmw

import (
	"context"

	statsig "github.com/statsig-io/go-sdk"
)

// usable reports whether s can evaluate name.
func (s *scope) usable(name string) bool {
	return s != nil && s.sdk != nil && name != "" && len(name) <= maxNameLen
}

// Experiment returns the request user's assignment in experiment name and
// logs its exposure, both at most once per request however many times and
// from however many goroutines it is called; across requests, an exposure
// already logged within Config.ExposureWindow is not logged again. A handler
// that never calls Experiment causes no exposure. Read parameters with the
// SDK's getters (GetString(key, fallback), ...), which return the fallback
// for a missing parameter.
//
// ok reports whether the client knows the experiment and evaluated it. It is
// false, the config empty (every getter returns its fallback) and no
// exposure logged when ctx has no request scope, name is empty or over 128
// bytes, the client has no configs yet, or it does not know the name (a
// typo: the Middleware logs a warning once per name).
func Experiment(ctx context.Context, name string) (cfg statsig.DynamicConfig, ok bool) {
	s := scopeFrom(ctx)
	if !s.usable(name) {
		return *statsig.NewConfig(name, nil, "", "", nil), false
	}
	return s.experiment(ctx, name, true)
}

// PeekExperiment is [Experiment] without the exposure: for debugging pages,
// logs and response headers that must not count the visitor as exposed. It
// shares Experiment's per-request memo, so a later Experiment call returns
// the same assignment and logs its exposure.
func PeekExperiment(ctx context.Context, name string) (cfg statsig.DynamicConfig, ok bool) {
	s := scopeFrom(ctx)
	if !s.usable(name) {
		return *statsig.NewConfig(name, nil, "", "", nil), false
	}
	return s.experiment(ctx, name, false)
}

// Gate reports whether the request user passes feature gate name and logs
// the gate exposure, at most once per request and de-duplicated across
// requests like [Experiment]. ok is false, and pass false, as for
// Experiment.
func Gate(ctx context.Context, name string) (pass, ok bool) {
	s := scopeFrom(ctx)
	if !s.usable(name) {
		return false, false
	}
	return s.checkGate(ctx, name)
}

// Layer returns the request user's values of layer name. The layer is
// evaluated at most once per request, and each parameter's exposure is
// logged the first time the request reads it with the returned Layer's
// getters (de-duplicated across requests like [Experiment]). ok is false
// as for Experiment; the Layer then logs nothing.
func Layer(ctx context.Context, name string) (layer statsig.Layer, ok bool) {
	s := scopeFrom(ctx)
	if !s.usable(name) {
		return *statsig.NewLayer(name, nil, "", "", nil, ""), false
	}
	return s.getLayer(ctx, name)
}

// User returns a copy of the request's statsig.User, building it if no
// experiment was read yet. Its UserID is the logged-in id or the visitor
// id; CustomIDs["stableID"] is the visitor id; Custom["id_source"] tells
// where the visitor id came from ("cookie", "new", "random", "ip",
// "ephemeral", or "context" for [NewContext]). ok is false when ctx has no
// request scope.
func User(ctx context.Context) (u statsig.User, ok bool) {
	s := scopeFrom(ctx)
	if s == nil {
		return statsig.User{}, false
	}
	return cloneUser(*s.getUser(ctx)), true
}
