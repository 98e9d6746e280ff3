package statsigclient

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"reflect"
	"strings"

	statsig "github.com/statsig-io/go-sdk"
)

// checkConfig returns an error for a configuration that the SDK would
// panic on, or run with while silently losing every event.
func checkConfig(cfg Config, opts *statsig.Options) error {
	if !opts.LocalMode && !strings.HasPrefix(cfg.Secret, "secret") {
		if cfg.Secret == "" {
			return errors.New(`statsigclient: empty Secret: a server secret key (starting with "secret") is required unless Options.LocalMode is set`)
		}
		return fmt.Errorf(`statsigclient: Secret %q does not start with "secret": it is not a server secret key`, redactKey(cfg.Secret))
	}
	switch {
	case cfg.InitTimeout < 0:
		return fmt.Errorf("statsigclient: negative InitTimeout %v", cfg.InitTimeout)
	case cfg.MaxInFlightBatches < 0:
		return fmt.Errorf("statsigclient: negative MaxInFlightBatches %d", cfg.MaxInFlightBatches)
	case cfg.RetryBackoff < 0:
		return fmt.Errorf("statsigclient: negative RetryBackoff %v", cfg.RetryBackoff)
	}
	// The SDK builds each request's URL when it sends it and, if that URL
	// does not parse, drops the request with no sign to the transport: a
	// typo in LogEvent would lose every event while Shutdown reports
	// success. It appends the endpoint's path ("/log_event") to the string,
	// so a query or fragment would swallow the path, and the transport
	// would no longer tell event batches from other requests.
	for _, f := range []struct{ name, value string }{
		{"Options.API", opts.API},
		{"Options.APIOverrides.DownloadConfigSpecs", opts.APIOverrides.DownloadConfigSpecs},
		{"Options.APIOverrides.GetIDLists", opts.APIOverrides.GetIDLists},
		{"Options.APIOverrides.LogEvent", opts.APIOverrides.LogEvent},
	} {
		if err := checkAPIURL(f.name, f.value); err != nil {
			return err
		}
	}
	return nil
}

// checkAPIURL checks a base URL of the Statsig API; empty means the SDK's
// default.
func checkAPIURL(field, s string) error {
	if s == "" {
		return nil
	}
	u, err := url.Parse(s)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return fmt.Errorf("statsigclient: %s %q is not a URL: %v", field, s, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" || u.Hostname() == "" {
		return fmt.Errorf("statsigclient: %s %q is not an absolute http or https URL with a host", field, s)
	}
	if u.RawQuery != "" || u.ForceQuery || u.Fragment != "" || strings.Contains(s, "#") {
		return fmt.Errorf("statsigclient: %s %q has a query or fragment: the SDK appends endpoint paths to it", field, s)
	}
	return nil
}

// redactKey keeps enough of a key to recognise it (its kind, such as
// "client-") without putting a whole credential in an error message.
func redactKey(s string) string {
	const keep = 7
	if len(s) <= keep {
		return s
	}
	return s[:keep] + "..."
}

// baseTransport returns the transport that carries the client's requests,
// given Options.Transport, and the *http.Transport that the client owns (and
// whose idle connections Shutdown closes), if any. A nil transport would
// panic on the SDK's goroutines, where nothing can recover: it is an error.
//
// When Options.Transport is nil it is a private clone of
// http.DefaultTransport. When a program has replaced http.DefaultTransport
// with a wrapper (tracing, request recorders, test doubles), the wrapper
// itself is used and not owned: whoever wraps the default transport wants
// every outgoing request to go through it, and the SDK's own exception
// reports already do.
func baseTransport(rt http.RoundTripper) (http.RoundTripper, *http.Transport, error) {
	if rt != nil {
		if isNil(rt) {
			return nil, nil, fmt.Errorf("statsigclient: Options.Transport is a nil %T", rt)
		}
		return rt, nil, nil
	}
	switch dt := http.DefaultTransport.(type) {
	case nil:
		return nil, nil, errors.New("statsigclient: Options.Transport is nil and so is http.DefaultTransport: set Options.Transport")
	case *http.Transport:
		if dt == nil {
			return nil, nil, errors.New("statsigclient: Options.Transport is nil and http.DefaultTransport is a nil *http.Transport: set Options.Transport")
		}
		own := dt.Clone()
		return own, own, nil
	default:
		if isNil(dt) {
			return nil, nil, fmt.Errorf("statsigclient: Options.Transport is nil and http.DefaultTransport is a nil %T: set Options.Transport", dt)
		}
		return dt, nil, nil
	}
}

// isNil reports whether rt holds a nil pointer, func, map, channel or slice,
// on which calling RoundTrip would panic.
func isNil(rt http.RoundTripper) bool {
	v := reflect.ValueOf(rt)
	switch v.Kind() {
	case reflect.Pointer, reflect.Func, reflect.Map, reflect.Chan, reflect.Slice, reflect.Interface:
		return v.IsNil()
	}
	return false
}
