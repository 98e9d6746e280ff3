//go:build !race

package statsigmw_test

const raceEnabled = false
