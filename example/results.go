package main

import (
	"fmt"
	"math"

	"github.com/labkit/statsigmw/statsigtest"
)

// eventSource is what the results read: the events the in-process backend
// received. *statsigtest.Server implements it.
type eventSource interface {
	Exposures() []statsigtest.Exposure
	Events() []statsigtest.Event
}

// srmAlpha is the p-value below which the sample ratio check fails. It is
// strict because the check runs on every reload of a growing sample; a
// failure means the split is broken, not unlucky.
const srmAlpha = 0.001

// groupResult is the outcome of one group of the experiment.
type groupResult struct {
	Group string `json:"group"`
	// Color is the group's "Button Color", for the chart.
	Color string `json:"color"`
	// Weight is the share of visitors the experiment assigns to the group,
	// in percent.
	Weight float64 `json:"weight"`
	// Exposed counts the distinct visitors (by stableID) exposed to the
	// group.
	Exposed int `json:"exposed"`
	// Share is Exposed over the visitors exposed to any group, to compare
	// with Weight; null when nobody was.
	Share *float64 `json:"share"`
	// Converted counts the exposed visitors who logged the conversion event
	// at or after their first exposure.
	Converted int `json:"converted"`
	// Rate is Converted/Exposed; null when nobody was exposed.
	Rate *float64 `json:"rate"`
	// Low and High bound the 95% Wilson score interval of Rate.
	Low  *float64 `json:"ci95_low"`
	High *float64 `json:"ci95_high"`
	// Diff is Rate minus the first group's rate, and DiffLow and DiffHigh
	// bound its 95% Newcombe interval (not adjusted for the number of
	// comparisons). PValue is the two-sided p-value of a pooled
	// two-proportion z-test of the difference, and PValueHolm that p-value
	// after Holm's adjustment over every group's comparison with the first.
	// All are null for the first group and when either group has no
	// visitor.
	Diff       *float64 `json:"diff_vs_first"`
	DiffLow    *float64 `json:"diff_ci95_low"`
	DiffHigh   *float64 `json:"diff_ci95_high"`
	PValue     *float64 `json:"p_value"`
	PValueHolm *float64 `json:"p_value_holm"`
}

// results is the body of /results.json and what the /results page shows.
type results struct {
	Experiment string `json:"experiment"`
	Event      string `json:"conversion_event"`
	// Live is true when the numbers come from the in-process backend, false
	// with a real Statsig key (the numbers are then in the Statsig console
	// and Groups is empty).
	Live bool   `json:"live"`
	Note string `json:"note"`
	// FirstGroup is the group every other group is compared with.
	FirstGroup string        `json:"first_group"`
	Groups     []groupResult `json:"groups"`
	// Unassigned counts the distinct visitors exposed outside every group
	// (the experiment's default value, for example before the backend's
	// config arrived).
	Unassigned int `json:"unassigned"`
	Exposed    int `json:"total_exposed"`
	Converted  int `json:"total_converted"`
	// SRMPValue is the p-value of the sample ratio mismatch check, a
	// chi-square test of the groups' Exposed counts against their Weight,
	// with SRMChiSquare its statistic on SRMDF degrees of freedom; null
	// when there is nothing to test (nobody exposed, or not live). SRM is
	// true when SRMPValue is below srmAlpha (0.001): the split is broken
	// and the other numbers are not to be trusted.
	SRMPValue    *float64 `json:"srm_p_value"`
	SRMChiSquare *float64 `json:"srm_chi_square"`
	SRMDF        int      `json:"srm_df"`
	SRM          bool     `json:"srm_mismatch"`
}

// armSpec names an experiment group, its colour and its weight (percent),
// in the order the results list them.
type armSpec struct {
	Group  string
	Color  string
	Weight float64
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
	for _, e := range src.Events() {
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
		res.Groups = append(res.Groups, groupResult{Group: a.Group, Color: a.Color, Weight: a.Weight})
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
	observed := make([]int, len(res.Groups))
	weights := make([]float64, len(res.Groups))
	var compared []int // indices of the groups with a p-value
	var pValues []float64
	for i := range res.Groups {
		g := &res.Groups[i]
		observed[i], weights[i] = g.Exposed, g.Weight
		if g.Exposed == 0 {
			continue
		}
		share := float64(g.Exposed) / float64(res.Exposed)
		rate := float64(g.Converted) / float64(g.Exposed)
		lo, hi := wilson(g.Converted, g.Exposed, z95)
		g.Share, g.Rate, g.Low, g.High = &share, &rate, &lo, &hi
		first := res.Groups[0]
		if i == 0 || first.Exposed == 0 {
			continue
		}
		diff, p, _ := twoProportionZTest(first.Converted, first.Exposed, g.Converted, g.Exposed)
		dLo, dHi := newcombe(first.Converted, first.Exposed, g.Converted, g.Exposed)
		g.Diff, g.DiffLow, g.DiffHigh, g.PValue = &diff, &dLo, &dHi, &p
		compared = append(compared, i)
		pValues = append(pValues, p)
	}
	for k, adj := range holm(pValues) {
		adj := adj
		res.Groups[compared[k]].PValueHolm = &adj
	}
	if chi, df, p, ok := srmTest(observed, weights); ok {
		res.SRMDF, res.SRMPValue, res.SRM = df, &p, p < srmAlpha
		if !math.IsInf(chi, 0) { // JSON has no infinity: null
			res.SRMChiSquare = &chi
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

// interval formats a 95% interval of rates, "7.0–19.8%".
func interval(lo, hi *float64) string {
	if lo == nil || hi == nil {
		return "–"
	}
	return fmt.Sprintf("%.1f–%.1f%%", *lo*100, *hi*100)
}

// pointsInterval formats a 95% interval of differences in percentage
// points, "-1.8 to +18.6".
func pointsInterval(lo, hi *float64) string {
	if lo == nil || hi == nil {
		return "–"
	}
	return fmt.Sprintf("%+.1f to %+.1f", *lo*100, *hi*100)
}

// weightText formats a weight in percent, "25%" or "33.3%".
func weightText(w float64) string {
	return fmt.Sprintf("%.4g%%", w)
}

// chiSquareText formats the SRM statistic, which is null when infinite.
func chiSquareText(c *float64) string {
	if c == nil {
		return "∞"
	}
	return fmt.Sprintf("%.2f", *c)
}

// pClause formats a p-value as a clause, "p = 0.746" or "p < 0.001".
func pClause(p *float64) string {
	if p != nil && *p >= 0.001 {
		return "p = " + pValueText(p)
	}
	return "p " + pValueText(p)
}
