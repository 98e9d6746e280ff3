package statsigmw

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	statsig "github.com/statsig-io/go-sdk"
)

// Bootstrap returns the Statsig client-initialize response for the
// request's user as JSON, for a browser client to start with the same
// assignments the server used (@statsig/js-client: dataAdapter.setData, then
// initializeSync). Names are hashed with djb2, which the JS client reads; the
// SDK's sha256 default is unreadable to it. The browser must use the same
// userID and customIDs (see [User]). Private attributes, the IP among them,
// are not included. No exposure is logged; the browser client logs its own.
//
// It returns ErrNoScope or ErrNoClient as [LogEvent] does.
func Bootstrap(ctx context.Context) ([]byte, error) {
	s := scopeFrom(ctx)
	if s == nil {
		return nil, ErrNoScope
	}
	if s.sdk == nil {
		return nil, errors.New("statsigmw: the scope has no Statsig client")
	}
	resp := s.sdk.GetClientInitializeResponseWithOptions(*s.getUser(ctx), &statsig.GCIROptions{HashAlgorithm: "djb2"})
	resp.User.PrivateAttributes = nil
	resp.User.IpAddress = ""
	b, err := json.Marshal(resp)
	if err != nil {
		return nil, fmt.Errorf("statsigmw: encoding the client initialize response: %w", err)
	}
	return b, nil
}
