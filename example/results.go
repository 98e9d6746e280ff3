package main

import (
	"fmt"
	"math"

	"github.com/labkit/statsigmw/statsigtest"
)

// z95 is the two-sided 95% quantile of the standard normal distribution.
const z95 = 1.959963984540054

// eventSource is what the results read: the events the in-process backend
// received. *statsigtest.Server implements it.
type eventSource interface {
	Exposures() []statsigtest.Exposure
	CustomEvents() []statsigtest.Event
}

// groupResult is the outcome of one group of the experiment.
type groupResult struct {
	Group string `json:"group"`
	// Color is the group's "Button Color", for the chart.
	Color string `json:"color"`
	// Exposed counts the distinct visitors (by stableID) exposed to the
	// group.
	Exposed int `json:"exposed"`
	// Converted counts the exposed visitors who logged the conversion event
	// at or after their first exposure.
	Converted int `json:"converted"`
	// Rate is Converted/Exposed; null when nobody was exposed.
	Rate *float64 `json:"rate"`
	// Low and High bound the 95% Wilson score interval of Rate.
	Low  *float64 `json:"ci95Low"`
	High *float64 `json:"ci95High"`
	// Diff is Rate minus the first group's rate, and PValue the two-sided
	// p-value of a pooled two-proportion z-test of that difference. Both are
	// null for the first group and when either group has no visitor.
	Diff   *float64 `json:"diffVsFirst"`
	PValue *float64 `json:"pValue"`
}

// results is the body of /results.json and what the /results page shows.
type results struct {
	Experiment string `json:"experiment"`
	Event      string `json:"conversionEvent"`
	// Live is true when the numbers come from the in-process backend, false
	// with a real Statsig key (the numbers are then in the Statsig console
	// and Groups is empty).
	Live bool   `json:"live"`
	Note string `json:"note"`
	// FirstGroup is the group every other group is compared with.
	FirstGroup string        `json:"firstGroup"`
	Groups     []groupResult `json:"groups"`
	// Unassigned counts the distinct visitors exposed outside every group
	// (the experiment's default value, for example before the backend's
	// config arrived).
	Unassigned int `json:"unassigned"`
	Exposed    int `json:"totalExposed"`
	Converted  int `json:"totalConverted"`
}

// armSpec names an experiment group and its colour, in the order the
// results list them.
type armSpec struct {
	Group string
	Color string
}

// computeResults counts, per group of experiment, the distinct visitors
// exposed and those who then logged event, from what src received. Visitors
// are told apart by stableID (the UserID when an event has none). A visitor
// exposed in two groups (the experiment changed while running) counts in
// the group of the first exposure only. A conversion counts when the event's
// time is at or after that first exposure; the SDK stamps both with
// millisecond clocks of the same process.
func computeResults(src eventSource, experiment, event string, arms []armSpec) results {
	type visitor struct {
		group string
		first int64
	}
	visitors := make(map[string]*visitor)
	for _, x := range src.Exposures() {
		if x.Kind != statsigtest.ExperimentExposure || x.Name != experiment {
			continue
		}
		id := stableID(x.User.CustomIDs, x.User.UserID)
		if id == "" {
			continue
		}
		if v, ok := visitors[id]; !ok || x.Time < v.first {
			visitors[id] = &visitor{group: x.Group, first: x.Time}
		}
	}
	converted := make(map[string]bool)
	for _, e := range src.CustomEvents() {
		if e.Name != event {
			continue
		}
		id := stableID(e.User.CustomIDs, e.User.UserID)
		if v, ok := visitors[id]; ok && e.Time >= v.first {
			converted[id] = true
		}
	}

	res := results{Experiment: experiment, Event: event, Live: true}
	index := make(map[string]int, len(arms))
	for i, a := range arms {
		index[a.Group] = i
		res.Groups = append(res.Groups, groupResult{Group: a.Group, Color: a.Color})
	}
	for id, v := range visitors {
		i, ok := index[v.group]
		if !ok {
			res.Unassigned++
			continue
		}
		res.Groups[i].Exposed++
		res.Exposed++
		if converted[id] {
			res.Groups[i].Converted++
			res.Converted++
		}
	}
	if len(res.Groups) > 0 {
		res.FirstGroup = res.Groups[0].Group
	}
	for i := range res.Groups {
		g := &res.Groups[i]
		if g.Exposed > 0 {
			rate := float64(g.Converted) / float64(g.Exposed)
			lo, hi := wilson(g.Converted, g.Exposed, z95)
			g.Rate, g.Low, g.High = &rate, &lo, &hi
		}
		if i > 0 {
			first := res.Groups[0]
			if diff, p, ok := twoProportionZTest(first.Converted, first.Exposed, g.Converted, g.Exposed); ok {
				g.Diff, g.PValue = &diff, &p
			}
		}
	}
	return res
}

func stableID(custom map[string]string, userID string) string {
	if id := custom["stableID"]; id != "" {
		return id
	}
	return userID
}

// wilson returns the Wilson score interval of x successes in n trials at
// the normal quantile z. Unlike the textbook p ± z·√(p(1-p)/n), it stays
// inside [0, 1] and is not empty at 0 or n successes. n must be positive.
func wilson(x, n int, z float64) (low, high float64) {
	p := float64(x) / float64(n)
	nf := float64(n)
	z2 := z * z
	denom := 1 + z2/nf
	center := (p + z2/(2*nf)) / denom
	half := z / denom * math.Sqrt(p*(1-p)/nf+z2/(4*nf*nf))
	return math.Max(0, center-half), math.Min(1, center+half)
}

// twoProportionZTest compares x2/n2 with x1/n1 by the pooled two-proportion
// z-test. It returns the difference p2-p1 and its two-sided p-value; ok is
// false when a group is empty. When both proportions are 0 or both 1 the
// test has no variance: the difference is then 0 and the p-value 1.
func twoProportionZTest(x1, n1, x2, n2 int) (diff, pValue float64, ok bool) {
	if n1 == 0 || n2 == 0 {
		return 0, 0, false
	}
	p1, p2 := float64(x1)/float64(n1), float64(x2)/float64(n2)
	diff = p2 - p1
	pooled := float64(x1+x2) / float64(n1+n2)
	se := math.Sqrt(pooled * (1 - pooled) * (1/float64(n1) + 1/float64(n2)))
	if se == 0 {
		return diff, 1, true
	}
	z := diff / se
	return diff, 2 * normalCDF(-math.Abs(z)), true
}

// normalCDF is the standard normal distribution function,
// Φ(x) = erfc(-x/√2)/2. erfc keeps the far tails accurate where 1-erf(x)
// would cancel to 0.
func normalCDF(x float64) float64 {
	return 0.5 * math.Erfc(-x/math.Sqrt2)
}

// formatting helpers for the page.

func percent(p *float64) string {
	if p == nil {
		return "–"
	}
	return fmt.Sprintf("%.1f%%", *p*100)
}

func signedPoints(p *float64) string {
	if p == nil {
		return "–"
	}
	return fmt.Sprintf("%+.1f pp", *p*100)
}

func pValueText(p *float64) string {
	switch {
	case p == nil:
		return "–"
	case *p < 0.001:
		return "< 0.001"
	}
	return fmt.Sprintf("%.3f", *p)
}
