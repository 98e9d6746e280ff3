// Package ofprovider is an OpenFeature provider
// (github.com/open-feature/go-sdk) for the statsigmw middleware: flags
// evaluated through an OpenFeature client answer exactly as statsigmw's
// accessors do for the same request, with the same user, the same
// per-request memo and the same exposure de-duplication.
//
// # Flag keys
//
// A flag key names a feature gate, an experiment (or dynamic config), or
// one parameter of an experiment:
//
//	"new_checkout"             a gate, evaluated as a boolean
//	"button_color_v3"          an experiment's parameters, evaluated as an object (a map)
//	"button_color_v3.Button Color"  one parameter, evaluated as its type
//
// The key is cut at its first ".": what comes before is the experiment
// name and the rest, dots included, is the parameter. A key without a "."
// is a gate when evaluated as a boolean and an experiment when evaluated as
// an object; as a string or a number it names no flag.
//
// A parameter's type must match the evaluation: a string for String, a
// JSON boolean for Boolean, any number for Float, a number without a
// fractional part (within int64) for Int, and a JSON object or array for
// Object. Otherwise the evaluation returns the caller's default with the
// error code TYPE_MISMATCH. A name the client does not know gives
// FLAG_NOT_FOUND (PROVIDER_NOT_READY while the client has no configs yet).
// A known experiment that holds no such parameter for the user (one outside
// every group typically gets an experiment's default value, often empty)
// returns the caller's default with the reason DEFAULT and no error, as
// statsig's getters return their fallback.
//
// # Resolution details
//
// For an experiment, the variant is the user's group name (empty outside
// every group) and the flag metadata holds "ruleID", the rule that
// assigned the user. The reason is SPLIT for a group, CACHED for a sticky
// assignment, STATIC for a local override, DISABLED for a disabled config,
// DEFAULT when no rule matched and TARGETING_MATCH for another rule. A gate
// has no variant and the reason UNKNOWN: statsigmw.Gate reports only
// whether the user passes.
//
// # Which user
//
// Given a context under the middleware (a handler's r.Context()) or from
// statsigmw.NewContext, the provider evaluates with that scope's user and
// ignores the OpenFeature evaluation context: the request has one identity.
// Each flag's exposure is logged as statsigmw.Experiment and statsigmw.Gate
// log theirs: at most once per request, whichever of the two reads first,
// and de-duplicated across requests by the middleware. An evaluation that
// ends in an error logs none: the user was served the caller's default.
//
// Without a scope (a background job), each evaluation builds a user from
// the evaluation context (see [UserOf]) and evaluates in a scope of its
// own, so each evaluation logs its exposure. A job that reads several
// flags for one user should put one scope in its context with
// statsigmw.NewContext and evaluate with that context instead.
//
// # Tracking
//
// Track records the event with statsigmw.LogEvent, for the scope's user
// (or, without a scope, the user of the evaluation context): its value, when
// not zero, as the event value and its attributes as metadata.
//
// # Lifecycle
//
// The provider does not own the Statsig client: its Shutdown stops only the
// provider, and the program shuts the client down as it does for the
// middleware (statsigclient.Client.Shutdown). Init succeeds when the client
// has configs. Otherwise it fails with PROVIDER_NOT_READY, the OpenFeature
// status becomes ERROR, evaluations return defaults, and the provider emits
// PROVIDER_READY once the client has downloaded configs.
package ofprovider
