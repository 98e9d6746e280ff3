package ofprovider

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"

	"github.com/open-feature/go-sdk/openfeature"
	statsig "github.com/statsig-io/go-sdk"

	"github.com/labkit/statsigmw"
)

// errNoTargetingKey is UserOf's error for a context without an id.
var errNoTargetingKey = errors.New("ofprovider: the evaluation context has neither a targeting key nor a \"stableID\" attribute")

// UserOf returns the statsig.User that the provider evaluates with when the
// context has no request scope:
//
//   - the targeting key is UserID;
//   - "stableID" (a string) is CustomIDs["stableID"], and "customIDs" (a
//     map of strings) adds custom ids;
//   - "email", "userAgent", "country", "locale" and "appVersion" (strings)
//     are the fields of those names;
//   - "ip" (a string) is PrivateAttributes["ip"], as the middleware keeps
//     it: Statsig targets on it but never logs it; "privateAttributes" (a
//     map) adds private attributes;
//   - every other attribute is in Custom.
//
// It returns an error for a context with neither a targeting key nor a
// stableID (Statsig would bucket every such user together) and for an
// attribute above of another type. A job that evaluates several flags for
// one user can pass the user to statsigmw.NewContext once and evaluate with
// that context.
func UserOf(ec openfeature.EvaluationContext) (statsig.User, error) {
	attrs := ec.Attributes()
	if k := ec.TargetingKey(); k != "" {
		attrs[openfeature.TargetingKey] = k
	}
	u, rerr := userOf(attrs)
	if rerr != nil {
		return statsig.User{}, errors.New(rerr.Error())
	}
	return u, nil
}

// userOf is UserOf for a flattened context, with the OpenFeature error.
func userOf(attrs map[string]any) (statsig.User, *openfeature.ResolutionError) {
	var u statsig.User
	bad := func(k string, v any, want string) (statsig.User, *openfeature.ResolutionError) {
		rerr := openfeature.NewInvalidContextResolutionError(fmt.Sprintf("ofprovider: attribute %q is a %T, want %s", k, v, want))
		return statsig.User{}, &rerr
	}
	for k, v := range attrs {
		var field *string
		switch k {
		case openfeature.TargetingKey:
			field = &u.UserID
		case "email":
			field = &u.Email
		case "userAgent":
			field = &u.UserAgent
		case "country":
			field = &u.Country
		case "locale":
			field = &u.Locale
		case "appVersion":
			field = &u.AppVersion
		case "stableID":
			s, ok := v.(string)
			if !ok {
				return bad(k, v, "a string")
			}
			u.CustomIDs = put(u.CustomIDs, "stableID", s)
			continue
		case "customIDs":
			switch ids := v.(type) {
			case map[string]string:
				for t, id := range ids {
					u.CustomIDs = put(u.CustomIDs, t, id)
				}
			case map[string]any:
				for t, id := range ids {
					s, ok := id.(string)
					if !ok {
						return bad(k+"."+t, id, "a string")
					}
					u.CustomIDs = put(u.CustomIDs, t, s)
				}
			default:
				return bad(k, v, "a map of strings")
			}
			continue
		case "ip":
			s, ok := v.(string)
			if !ok {
				return bad(k, v, "a string")
			}
			u.PrivateAttributes = put(u.PrivateAttributes, "ip", any(s))
			continue
		case "privateAttributes":
			m, ok := v.(map[string]any)
			if !ok {
				return bad(k, v, "a map[string]any")
			}
			for a, av := range m {
				u.PrivateAttributes = put(u.PrivateAttributes, a, av)
			}
			continue
		default:
			u.Custom = put(u.Custom, k, v)
			continue
		}
		s, ok := v.(string)
		if !ok {
			return bad(k, v, "a string")
		}
		*field = s
	}
	if u.UserID == "" && u.CustomIDs["stableID"] == "" {
		rerr := openfeature.NewTargetingKeyMissingResolutionError(errNoTargetingKey.Error())
		return statsig.User{}, &rerr
	}
	return u, nil
}

func put[V any](m map[string]V, k string, v V) map[string]V {
	if m == nil {
		m = make(map[string]V)
	}
	m[k] = v
	return m
}

// Track records the event name with statsigmw.LogEvent for the user of
// ctx's request scope or, when ctx has none, for the user of ec (see
// [UserOf]). A non-zero finite value of details is the event's value, its
// attributes the event's metadata (strings as they are, other values as
// JSON). An event that cannot be recorded (see statsigmw.LogEvent) is
// logged as a warning and dropped.
func (p *Provider) Track(ctx context.Context, name string, ec openfeature.EvaluationContext, details openfeature.TrackingEventDetails) {
	if ctx == nil {
		ctx = context.Background()
	}
	var opts []statsigmw.EventOption
	if v := details.Value(); v != 0 && !math.IsNaN(v) && !math.IsInf(v, 0) {
		opts = append(opts, statsigmw.WithValue(strconv.FormatFloat(v, 'f', -1, 64)))
	}
	if attrs := details.Attributes(); len(attrs) > 0 {
		opts = append(opts, statsigmw.WithMetadata(metadataOf(attrs)))
	}
	err := statsigmw.LogEvent(ctx, name, opts...)
	if errors.Is(err, statsigmw.ErrNoScope) {
		var u statsig.User
		if u, err = UserOf(ec); err == nil {
			err = statsigmw.LogEvent(statsigmw.NewContext(ctx, p.client, u), name, opts...)
		}
	}
	if err != nil {
		p.log().Warn("ofprovider: event not tracked", "event", name, "err", err)
	}
}

// metadataOf turns tracking attributes into event metadata.
func metadataOf(attrs map[string]any) map[string]string {
	md := make(map[string]string, len(attrs))
	for k, v := range attrs {
		switch t := v.(type) {
		case nil:
		case string:
			md[k] = t
		case bool, int, int8, int16, int32, int64, uint, uint8, uint16, uint32, uint64:
			md[k] = fmt.Sprint(t)
		case float64:
			md[k] = strconv.FormatFloat(t, 'f', -1, 64)
		default:
			if b, err := json.Marshal(t); err == nil {
				md[k] = string(b)
			} else {
				md[k] = fmt.Sprint(t)
			}
		}
	}
	return md
}
