package main

import "github.com/labkit/statsigmw/statsigtest"

// The lab's experiment, its parameters with their defaults, and the
// conversion event. With a real Statsig project, create the experiment
// there with these names.
const (
	experimentName   = "button_color_v3"
	paramColor       = "Button Color"
	paramText        = "Paragraph Text"
	defaultColor     = "blue"
	defaultParagraph = "Data Engineering Boot Camp"
	signupEvent      = "visited_signup"
)

// labArms are the groups of button_color_v3 in the order the results list
// them; the first is the one the others are compared with. The weights sum
// to 100; the results' sample ratio check tests the observed split against
// them.
var labArms = []armSpec{
	{Group: "Blue", Color: "blue", Weight: 25},
	{Group: "Green", Color: "green", Weight: 25},
	{Group: "Red", Color: "red", Weight: 25},
	{Group: "Orange", Color: "orange", Weight: 25},
}

// labParagraphs gives each group its own "Paragraph Text".
var labParagraphs = map[string]string{
	"Blue":   "Data Engineering Boot Camp",
	"Green":  "Data Engineering Boot Camp: pipelines that stay green",
	"Red":    "Data Engineering Boot Camp: red-hot data skills",
	"Orange": "Data Engineering Boot Camp: squeeze more out of your data",
}

// labConfig is what the in-process backend serves offline: the experiment
// with the groups and weights of labArms, bucketed on the user id (the
// visitor id, or the login), and the page defaults as its default value.
func labConfig() statsigtest.Config {
	exp := statsigtest.ExperimentSpec{
		Name:     experimentName,
		Unit:     statsigtest.UnitUserID,
		Defaults: map[string]any{paramColor: defaultColor, paramText: defaultParagraph},
	}
	for _, a := range labArms {
		exp.Groups = append(exp.Groups, statsigtest.Group{
			Name:   a.Group,
			Weight: a.Weight,
			Params: map[string]any{paramColor: a.Color, paramText: labParagraphs[a.Group]},
		})
	}
	return statsigtest.Config{Experiments: []statsigtest.ExperimentSpec{exp}}
}
