package statsigmw

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	statsig "github.com/statsig-io/go-sdk"
)

// Bootstrap returns a JSON document that lets a browser's Statsig client
// (@statsig/js-client v3) start, with no network round trip, with the
// assignments the server evaluates for the request's user:
//
//	{"user": {...}, "data": {...}}
//
// user is the object to pass, as it is, as the user to the StatsigClient
// constructor; data is the SDK's client-initialize response for that user,
// with names hashed by djb2 (the SDK's sha256 default is unreadable to the
// JS client), to pass serialised to dataAdapter.setData:
//
//	const doc = await (await fetch('/bootstrap.json')).json();
//	const client = new StatsigClient(clientKey, doc.user);
//	client.dataAdapter.setData(JSON.stringify(doc.data));
//	client.initializeSync(); // details.reason: "Bootstrap:Recognized"
//
// Take the user verbatim; do not rebuild it in JavaScript. The JS client
// files the values under a key made of the userID and customIDs of the user
// inside data, and looks them up with its own user's: a user without the
// server's stableID, or with another (the client mints its own unless
// given one), finds nothing and silently serves every default (reason
// "NoValues"), while its exposures count a unit the server never saw. It then
// compares every other field too (userAgent, locale, custom, ...), and any
// difference gives "BootstrapPartialUserMatch". Leave
// StatsigOptions.environment unset in the browser, or set it as the server's
// Statsig environment: it replaces the user's statsigEnvironment.
//
// The document holds the user as Statsig logs it: its ids, user agent,
// locale and custom fields (those a Config.ExtendUser hook added among them), but
// not its private attributes, nor the IP even with Config.UnsafeSendIP.
// Keep whatever the page must not see in PrivateAttributes. The document is
// the visitor's own: serve it with Cache-Control: private or no-store.
//
// Bootstrap logs no exposure; the browser client logs its own when the page
// reads an experiment. It is safe for concurrent use. It returns
// [ErrNoScope] without a request scope, and an error when the scope has no
// client or the SDK returns no response (it then logs why).
func Bootstrap(ctx context.Context) ([]byte, error) {
	s := scopeFrom(ctx)
	if s == nil {
		return nil, ErrNoScope
	}
	if s.sdk == nil {
		return nil, errors.New("statsigmw: the scope has no Statsig client")
	}
	resp := s.sdk.GetClientInitializeResponseWithOptions(*s.getUser(ctx), &statsig.GCIROptions{HashAlgorithm: "djb2"})
	if !resp.HasUpdates {
		return nil, errors.New("statsigmw: the Statsig SDK returned no client initialize response")
	}
	// Private attributes never reach the browser (the SDK empties them
	// already), nor the IP.
	resp.User.PrivateAttributes = nil
	resp.User.IpAddress = ""
	// resp.User is encoded twice by the same encoder, so "user" and
	// data's "user" are the same bytes.
	b, err := json.Marshal(struct {
		User statsig.User                      `json:"user"`
		Data *statsig.ClientInitializeResponse `json:"data"`
	}{resp.User, &resp})
	if err != nil {
		return nil, fmt.Errorf("statsigmw: encoding the bootstrap document: %w", err)
	}
	return b, nil
}
