package ofprovider_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"

	"github.com/open-feature/go-sdk/openfeature"
	"github.com/open-feature/go-sdk/openfeature/isolated"

	"github.com/labkit/statsigmw"
	"github.com/labkit/statsigmw/ofprovider"
	"github.com/labkit/statsigmw/statsigclient"
	"github.com/labkit/statsigmw/statsigtest"
)

// A handler reads a gate and an experiment parameter through OpenFeature
// and tracks a conversion, all for the visitor of the request. (A program
// would use the global API: openfeature.SetProviderAndWait(provider) and
// openfeature.NewDefaultClient().)
func Example() {
	srv := statsigtest.NewServer(statsigtest.Config{
		Experiments: []statsigtest.ExperimentSpec{{Name: "button_color_v3", Groups: []statsigtest.Group{
			{Name: "Red", Weight: 100, Params: map[string]any{"Button Color": "red"}}}}},
		Gates: []statsigtest.GateSpec{{Name: "new_checkout", PassPercentage: 100}},
	})
	defer srv.Close()
	client, err := statsigclient.New(srv.ClientConfig())
	if err != nil {
		panic(err)
	}
	mw, _ := statsigmw.New(client, statsigmw.Config{})
	provider, _ := ofprovider.New(client, ofprovider.Config{})
	api := isolated.NewAPI()
	defer func() { _ = api.Shutdown(context.Background()) }()
	if err := api.SetProviderAndWait(context.Background(), provider); err != nil {
		panic(err)
	}
	flags := api.NewClient()

	h := mw.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx, none := r.Context(), openfeature.EvaluationContext{}
		color := flags.String(ctx, "button_color_v3.Button Color", "blue", none)
		checkout := flags.Boolean(ctx, "new_checkout", false, none)
		flags.Track(ctx, "visited_signup", none, openfeature.NewTrackingEventDetails(1))
		fmt.Fprintln(w, color, checkout)
	}))
	page := httptest.NewRecorder()
	h.ServeHTTP(page, httptest.NewRequest("GET", "/", nil))

	if err := client.Shutdown(context.Background()); err != nil { // delivers every buffered event
		panic(err)
	}
	x, ev := srv.Exposures(), srv.Events()[0]
	fmt.Print(page.Body.String())
	fmt.Println(len(x), "exposures;", ev.Name, ev.User.CustomIDs["stableID"] == x[0].User.CustomIDs["stableID"])
	// Output:
	// red true
	// 2 exposures; visited_signup true
}
