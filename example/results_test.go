package main

import (
	"encoding/json"
	"fmt"
	"html"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	statsig "github.com/statsig-io/go-sdk"

	"github.com/labkit/statsigmw/statsigtest"
)

// fakeEvents is an eventSource with fixed events.
type fakeEvents struct {
	exposures []statsigtest.Exposure
	events    []statsigtest.Event
}

func (f fakeEvents) Exposures() []statsigtest.Exposure { return f.exposures }
func (f fakeEvents) Events() []statsigtest.Event       { return f.events }

// splitEvents returns the events of exposed[i] visitors exposed to the i-th
// group of labArms, of whom the first converted[i] signed up.
func splitEvents(exposed, converted []int) fakeEvents {
	var src fakeEvents
	id := 0
	for g, arm := range labArms {
		for i := 0; i < exposed[g]; i++ {
			id++
			u := statsig.User{UserID: fmt.Sprint("v", id), CustomIDs: map[string]string{"stableID": fmt.Sprint("v", id)}}
			src.exposures = append(src.exposures, statsigtest.Exposure{
				Kind: statsigtest.ExperimentExposure, Name: experimentName, Group: arm.Group, User: u, Time: 100,
			})
			if i < converted[g] {
				src.events = append(src.events, statsigtest.Event{Name: signupEvent, User: u, Time: 200})
			}
		}
	}
	return src
}

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
	if orange.Rate != nil || orange.Low != nil || orange.Diff != nil || orange.PValue != nil || orange.PValueHolm != nil || orange.Share != nil {
		t.Errorf("Orange has no visitor: want no rate, share, interval or comparison, got %+v", orange)
	}
	// Two comparisons (Orange is empty): Holm doubles the smaller p-value.
	for _, g := range []groupResult{green, red} {
		if g.PValueHolm == nil || g.DiffLow == nil || g.DiffHigh == nil || *g.PValueHolm < *g.PValue ||
			*g.DiffLow > *g.Diff || *g.Diff > *g.DiffHigh {
			t.Errorf("%s: p %v Holm %v, difference %v in [%v, %v]; want an adjusted p-value and an interval around the difference",
				g.Group, g.PValue, g.PValueHolm, g.Diff, g.DiffLow, g.DiffHigh)
		}
	}
	if want := 2 * min(*green.PValue, *red.PValue); !near(min(*green.PValueHolm, *red.PValueHolm), want, 1e-15) {
		t.Errorf("smaller Holm p-value %v, want twice the smaller raw one, %v", min(*green.PValueHolm, *red.PValueHolm), want)
	}
	if res.SRMPValue == nil || res.SRMDF != 3 || blue.Share == nil || *blue.Share != 2.0/6 {
		t.Errorf("SRM p %v on %d df, Blue's share %v: want a p-value on 3 df and a share of 2/6", res.SRMPValue, res.SRMDF, blue.Share)
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

// TestResultsSRM serves /results and /results.json over events whose split
// does and does not match the experiment's weights: a mismatch (p < 0.001)
// is announced at the top of the page, above the chart, and in the JSON.
func TestResultsSRM(t *testing.T) {
	tests := []struct {
		name      string
		exposed   []int
		p         any // srm_p_value in the JSON: a float64, or nil
		mismatch  bool
		pageShows string
	}{
		// The p-values are scipy.stats.chisquare's (see TestSRMTest).
		{"mismatch", []int{300, 250, 250, 200}, 0.00016974243555282632, true, "p &lt; 0.001"},
		{"borderline is no alarm", []int{120, 80, 100, 100}, 0.04601170568923136, false, "p = 0.046, no sign of a sample ratio mismatch"},
		{"even", []int{250, 250, 250, 250}, 1.0, false, "p = 1.000, no sign"},
		{"nobody yet", []int{0, 0, 0, 0}, nil, false, "nobody exposed yet"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := splitEvents(tt.exposed, []int{10, 10, 10, 10})
			h, err := newApp(appConfig{Client: testClient(t), Events: src, FlushInterval: time.Second})
			if err != nil {
				t.Fatal(err)
			}
			ts := httptest.NewServer(h)
			defer ts.Close()
			c := &http.Client{}

			var raw map[string]any
			if err := json.Unmarshal([]byte(get(t, c, ts.URL+"/results.json")), &raw); err != nil {
				t.Fatal(err)
			}
			p, present := raw["srm_p_value"]
			if !present {
				t.Fatalf("/results.json has no srm_p_value: %v", raw)
			}
			if want, ok := tt.p.(float64); ok {
				if got, isNum := p.(float64); !isNum || !relNear(got, want, 1e-9) {
					t.Errorf("srm_p_value = %v, want the number %v", p, want)
				}
			} else if p != nil {
				t.Errorf("srm_p_value = %v, want null", p)
			}
			if raw["srm_mismatch"] != tt.mismatch {
				t.Errorf("srm_mismatch = %v, want %v", raw["srm_mismatch"], tt.mismatch)
			}

			page := get(t, c, ts.URL+"/results")
			alert, chart := strings.Index(page, `id="srm-alert"`), strings.Index(page, "<svg")
			if (alert >= 0) != tt.mismatch {
				t.Errorf("the SRM alert is shown: %v, want %v", alert >= 0, tt.mismatch)
			}
			if tt.mismatch && (chart < 0 || alert > chart || !strings.Contains(page, `role="alert"`) ||
				!strings.Contains(page, "Blue 30.0%, Green 25.0%, Red 25.0%, Orange 20.0% of the visitors, but the experiment assigns 25%, 25%, 25%, 25%")) {
				t.Errorf("the alert must come before the chart, as an alert, with the shares and weights:\n%s", page)
			}
			if !strings.Contains(page, tt.pageShows) {
				t.Errorf("/results lacks %q:\n%s", tt.pageShows, page)
			}
		})
	}
}

// TestResultsPageTable checks the table's adjusted p-values and intervals
// as the page shows them, for the figures of TestComputeResultsReference.
func TestResultsPageTable(t *testing.T) {
	h, err := newApp(appConfig{Client: testClient(t), Events: splitEvents([]int{1000, 980, 1030, 990}, []int{120, 150, 125, 90})})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(h)
	defer ts.Close()
	page := html.UnescapeString(get(t, &http.Client{}, ts.URL+"/results"))
	for _, want := range []string{
		"<th>vs Blue, pp<br><small>95% interval</small></th>",
		// Green: 15.3% [13.2, 17.7], +3.3 pp [+0.3, +6.3], Holm p 0.096
		"<td>Green</td><td class=\"num\">150<br><small>of 980</small></td><td>15.3%<br><small>13.2–17.7%</small></td><td>+3.3 pp<br><small>+0.3 to +6.3</small></td><td class=\"num\">0.096</td>",
		"<td>Blue</td><td class=\"num\">120<br><small>of 1000</small></td><td>12.0%<br><small>10.1–14.2%</small></td><td>–<br><small>–</small></td><td class=\"num\">–</td>",
		"chi-square 1.40 on 3 df, p = 0.706, no sign of a sample ratio mismatch",
		"Holm-adjusted",
	} {
		if !strings.Contains(page, want) {
			t.Errorf("/results lacks %s", want)
		}
	}
}
