// Package lab defines the experiment of the lab app that the example ports:
// button_color_v3, shared by the example and the load test so that both
// serve the same config.
package lab

import "github.com/labkit/statsigmw/statsigtest"

// The experiment, its parameters with their defaults, and the conversion
// event.
const (
	Experiment       = "button_color_v3"
	ParamColor       = "Button Color"
	ParamText        = "Paragraph Text"
	DefaultColor     = "blue"
	DefaultParagraph = "Data Engineering Boot Camp"
	SignupEvent      = "visited_signup"
)

// Arm is one group of the experiment.
type Arm struct {
	Group     string  // group name
	Color     string  // its "Button Color"
	Paragraph string  // its "Paragraph Text"
	Weight    float64 // its share of visitors, in percent
}

// Arms are the groups in the order results list them; the first is the one
// the others are compared with. The weights sum to 100; the results' sample
// ratio check tests the observed split against them.
var Arms = []Arm{
	{"Blue", "blue", "Data Engineering Boot Camp", 25},
	{"Green", "green", "Data Engineering Boot Camp: pipelines that stay green", 25},
	{"Red", "red", "Data Engineering Boot Camp: red-hot data skills", 25},
	{"Orange", "orange", "Data Engineering Boot Camp: squeeze more out of your data", 25},
}

// Config is what an offline backend serves: the experiment with the groups
// and weights of Arms, bucketed on the user id (which the middleware sets to
// the visitor id), and the page defaults as its default value.
func Config() statsigtest.Config {
	exp := statsigtest.ExperimentSpec{
		Name:     Experiment,
		Unit:     statsigtest.UnitUserID,
		Defaults: map[string]any{ParamColor: DefaultColor, ParamText: DefaultParagraph},
	}
	for _, a := range Arms {
		exp.Groups = append(exp.Groups, statsigtest.Group{
			Name:   a.Group,
			Weight: a.Weight,
			Params: map[string]any{ParamColor: a.Color, ParamText: a.Paragraph},
		})
	}
	return statsigtest.Config{Experiments: []statsigtest.ExperimentSpec{exp}}
}
