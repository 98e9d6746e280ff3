package main

import (
	"math"
	"strings"
	"testing"

	statsig "github.com/statsig-io/go-sdk"

	"github.com/labkit/statsigmw/statsigtest"
)

func near(a, b, tol float64) bool { return math.Abs(a-b) <= tol }

func TestNormalCDF(t *testing.T) {
	tests := []struct{ x, want float64 }{
		{0, 0.5},
		{1, 0.8413447460685429},
		{-1, 0.15865525393145707},
		{z95, 0.975},
		{-z95, 0.025},
		{-5, 2.866515718791939e-07},
		{-10, 7.61985302416047e-24}, // erfc keeps the tail; 1-Φ(10) would be 0
	}
	for _, tt := range tests {
		if got := normalCDF(tt.x); !near(got, tt.want, 1e-9*tt.want) { // relative
			t.Errorf("normalCDF(%v) = %v, want %v", tt.x, got, tt.want)
		}
	}
}

func TestWilson(t *testing.T) {
	// 5/10 and 81/263 (Newcombe 1998, Statistics in Medicine 17:857,
	// table II, method 3) are published values, given to four places; 0/n
	// and n/n check the edges, where the upper bound of 0/n is
	// z²/(n+z²).
	tests := []struct {
		x, n      int
		low, high float64
		tol       float64
	}{
		{5, 10, 0.2366, 0.7634, 1e-4},
		{81, 263, 0.2553, 0.3662, 1e-4},
		{0, 10, 0, z95 * z95 / (10 + z95*z95), 1e-12},
		{10, 10, 10 / (10 + z95*z95), 1, 1e-12},
		{1, 1, 1 / (1 + z95*z95), 1, 1e-12},
	}
	for _, tt := range tests {
		lo, hi := wilson(tt.x, tt.n, z95)
		if !near(lo, tt.low, tt.tol) || !near(hi, tt.high, tt.tol) {
			t.Errorf("wilson(%d, %d) = [%v, %v], want [%v, %v]", tt.x, tt.n, lo, hi, tt.low, tt.high)
		}
	}
}

func TestTwoProportionZTest(t *testing.T) {
	tests := []struct {
		name           string
		x1, n1, x2, n2 int
		diff, p        float64
		ok             bool
	}{
		// R: prop.test(c(10, 20), c(100, 100), correct = FALSE) gives
		// X-squared = 3.9216 (= z²), p-value = 0.04767.
		{"ten points up", 10, 100, 20, 100, 0.1, 0.04767, true},
		{"same rate", 25, 100, 50, 200, 0, 1, true},
		{"both zero", 0, 10, 0, 20, 0, 1, true},
		{"both all", 10, 10, 20, 20, 0, 1, true},
		{"first empty", 0, 0, 1, 2, 0, 0, false},
		{"second empty", 1, 2, 0, 0, 0, 0, false},
	}
	for _, tt := range tests {
		diff, p, ok := twoProportionZTest(tt.x1, tt.n1, tt.x2, tt.n2)
		if ok != tt.ok || !near(diff, tt.diff, 1e-12) || !near(p, tt.p, 5e-6) {
			t.Errorf("%s: twoProportionZTest(%d/%d, %d/%d) = %v, %v, %v, want %v, %v, %v",
				tt.name, tt.x1, tt.n1, tt.x2, tt.n2, diff, p, ok, tt.diff, tt.p, tt.ok)
		}
	}
}

// fakeEvents is an eventSource with fixed events.
type fakeEvents struct {
	exposures []statsigtest.Exposure
	events    []statsigtest.Event
}

func (f fakeEvents) Exposures() []statsigtest.Exposure { return f.exposures }
func (f fakeEvents) CustomEvents() []statsigtest.Event { return f.events }

func TestComputeResults(t *testing.T) {
	user := func(id string) statsig.User {
		return statsig.User{UserID: id, CustomIDs: map[string]string{"stableID": id}}
	}
	expose := func(id, group string, at int64) statsigtest.Exposure {
		return statsigtest.Exposure{Kind: statsigtest.ExperimentExposure, Name: experimentName, Group: group, User: user(id), Time: at}
	}
	event := func(id, name string, at int64) statsigtest.Event {
		return statsigtest.Event{Name: name, User: user(id), Time: at}
	}
	loggedIn := statsig.User{UserID: "alice@example.com", CustomIDs: map[string]string{"stableID": "v6"}}
	src := fakeEvents{
		exposures: []statsigtest.Exposure{
			expose("v1", "Blue", 100),
			expose("v1", "Blue", 200), // a second visit: one visitor
			expose("v2", "Blue", 100),
			expose("v3", "Red", 100),
			expose("v4", "Red", 300),
			expose("v5", "", 100), // the default value: outside every group
			{Kind: statsigtest.ExperimentExposure, Name: experimentName, Group: "Green", User: loggedIn, Time: 100},
			{Kind: statsigtest.ExperimentExposure, Name: "other_experiment", Group: "Blue", User: user("v7"), Time: 100},
			{Kind: statsigtest.GateExposure, Name: experimentName, User: user("v8"), Time: 100},
			expose("v9", "Orange", 500),
			expose("v9", "Red", 400), // exposed in two groups: the first counts
		},
		events: []statsigtest.Event{
			event("v1", signupEvent, 150),
			event("v1", signupEvent, 250), // twice: one conversion
			event("v3", signupEvent, 100), // same millisecond: counts
			event("v4", signupEvent, 299), // before the exposure: does not count
			event("v2", "other_event", 150),
			{Name: signupEvent, User: statsig.User{UserID: "someone else", CustomIDs: map[string]string{"stableID": "v6"}}, Time: 150}, // by stableID
			event("v7", signupEvent, 150),  // not exposed to this experiment
			event("v10", signupEvent, 150), // never exposed
		},
	}
	res := computeResults(src, experimentName, signupEvent, labArms)

	want := map[string][2]int{"Blue": {2, 1}, "Green": {1, 1}, "Red": {3, 1}, "Orange": {0, 0}}
	if len(res.Groups) != len(labArms) {
		t.Fatalf("%d groups, want %d", len(res.Groups), len(labArms))
	}
	for i, g := range res.Groups {
		if g.Group != labArms[i].Group || g.Color != labArms[i].Color {
			t.Errorf("group %d is %s/%s, want %s/%s", i, g.Group, g.Color, labArms[i].Group, labArms[i].Color)
		}
		if w := want[g.Group]; g.Exposed != w[0] || g.Converted != w[1] {
			t.Errorf("%s: exposed %d converted %d, want %d %d", g.Group, g.Exposed, g.Converted, w[0], w[1])
		}
	}
	if res.Exposed != 6 || res.Converted != 3 || res.Unassigned != 1 || res.FirstGroup != "Blue" || !res.Live {
		t.Errorf("totals: exposed %d converted %d unassigned %d first %q live %v, want 6 3 1 Blue true",
			res.Exposed, res.Converted, res.Unassigned, res.FirstGroup, res.Live)
	}

	blue, green, red, orange := res.Groups[0], res.Groups[1], res.Groups[2], res.Groups[3]
	if blue.Rate == nil || *blue.Rate != 0.5 || blue.Diff != nil || blue.PValue != nil {
		t.Errorf("Blue: rate %v diff %v p %v, want 0.5 and no comparison with itself", blue.Rate, blue.Diff, blue.PValue)
	}
	if green.Rate == nil || *green.Rate != 1 || green.Diff == nil || !near(*green.Diff, 0.5, 1e-12) || green.PValue == nil {
		t.Errorf("Green: rate %v diff %v p %v, want 1, +0.5 and a p-value", green.Rate, green.Diff, green.PValue)
	}
	if red.Rate == nil || !near(*red.Rate, 1.0/3, 1e-12) {
		t.Errorf("Red: rate %v, want 1/3", red.Rate)
	}
	if orange.Rate != nil || orange.Low != nil || orange.Diff != nil || orange.PValue != nil {
		t.Errorf("Orange has no visitor: want no rate, interval or comparison, got %+v", orange)
	}
}

func TestBarChart(t *testing.T) {
	rate, lo, hi := 0.5, 0.3, 0.7
	res := results{Live: true, Groups: []groupResult{
		{Group: "Blue", Color: "blue", Exposed: 10, Converted: 5, Rate: &rate, Low: &lo, High: &hi},
		{Group: "Green", Color: "green"},
	}}
	c := newBarChart(res)
	if c == nil || len(c.Bars) != 2 {
		t.Fatalf("chart %+v, want two bars", c)
	}
	var ticks []string
	for _, tk := range c.Ticks {
		ticks = append(ticks, tk.Label)
	}
	// The highest bound, 70%, in round steps of 20%.
	if got, want := strings.Join(ticks, " "), "0% 20% 40% 60% 80%"; got != want {
		t.Errorf("ticks %q, want %q", got, want)
	}
	if c.Bars[0].Y != "92.5" || c.Bars[0].H != "127.5" { // 50/80 of the 204-unit plot, which starts at y=16
		t.Errorf("the 50%% bar is at y %s height %s, want 92.5 and 127.5", c.Bars[0].Y, c.Bars[0].H)
	}
	if !c.Bars[0].HasRate || c.Bars[1].HasRate || c.Bars[1].H != "0.0" {
		t.Errorf("bars %+v: want a rate on the first, an empty second", c.Bars)
	}
	if newBarChart(results{}) != nil {
		t.Error("a chart for results that are not live")
	}
}
