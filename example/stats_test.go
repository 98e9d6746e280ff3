package main

import (
	"math"
	"testing"
)

// The reference figures below come from R 4.2.2 and, where R has no
// function, SciPy 1.10.1 or statsmodels 0.13.5 (Debian bookworm's
// r-base-core, python3-scipy, python3-statsmodels), run with the commands
// in the comments.

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

// relNear reports whether got is within rel of want, relatively (absolutely
// when want is 0).
func relNear(got, want, rel float64) bool {
	if want == 0 {
		return math.Abs(got) <= rel
	}
	return math.Abs(got-want) <= rel*math.Abs(want)
}

func TestNewcombe(t *testing.T) {
	// The first eight are examples (a)-(h) of Newcombe 1998, Statistics in
	// Medicine 17:873, table II, method 10 (published to four places:
	// 0.0524 0.3339, 0.1705 0.8090, ...). All values from statsmodels:
	//
	//   /usr/bin/python3 -c 'from statsmodels.stats.proportion import confint_proportions_2indep as ci
	//   for x1,n1,x2,n2 in [(48,80,56,70),(3,10,9,10),(2,7,6,7),(0,29,5,56),(0,20,0,10),(0,10,0,10),
	//       (0,20,10,10),(0,10,10,10),(120,1000,150,1000),(30,250,22,260)]:
	//     print(ci(x2,n2,x1,n1,method="newcomb",compare="diff"))'
	//
	// (statsmodels' first count is the minuend: the interval of x2/n2 - x1/n1.)
	tests := []struct {
		x1, n1, x2, n2 int
		low, high      float64
	}{
		{48, 80, 56, 70, 0.05243147240236498, 0.33387265403690614},
		{3, 10, 9, 10, 0.1705227239345029, 0.809017973535488},
		{2, 7, 6, 7, 0.05822792748231209, 0.8062496375242278},
		{0, 29, 5, 56, -0.038137147903536936, 0.19256001385511165},
		{0, 20, 0, 10, -0.1611251580528194, 0.27753279986288926},
		{0, 10, 0, 10, -0.27753279986288926, 0.27753279986288926},
		{0, 20, 10, 10, 0.6790860371419145, 1.0},
		{0, 10, 10, 10, 0.6075093504305241, 1.0},
		{120, 1000, 150, 1000, 1.3782434204051563e-05, 0.06000825857012657},
		{30, 250, 22, 260, -0.08939275994360672, 0.017656178894671408},
	}
	for _, tt := range tests {
		lo, hi := newcombe(tt.x1, tt.n1, tt.x2, tt.n2)
		if !near(lo, tt.low, 1e-12) || !near(hi, tt.high, 1e-12) {
			t.Errorf("newcombe(%d/%d, %d/%d) = [%v, %v], want [%v, %v]", tt.x1, tt.n1, tt.x2, tt.n2, lo, hi, tt.low, tt.high)
		}
	}
}

func TestHolm(t *testing.T) {
	// Rscript -e 'options(digits=17); print(p.adjust(c(0.01, 0.04, 0.03), "holm"))' and so on.
	tests := []struct {
		p, want []float64
	}{
		{[]float64{0.01, 0.04, 0.03}, []float64{0.03, 0.06, 0.06}},
		{[]float64{0.2, 0.001, 0.6}, []float64{0.4, 0.003, 0.6}},
		{[]float64{0.04, 0.04, 0.04}, []float64{0.12, 0.12, 0.12}},
		{[]float64{0.5, 0.01}, []float64{0.5, 0.02}},
		{[]float64{0.02}, []float64{0.02}},
		{nil, []float64{}},
	}
	for _, tt := range tests {
		got := holm(tt.p)
		if len(got) != len(tt.want) {
			t.Errorf("holm(%v) = %v, want %v", tt.p, got, tt.want)
			continue
		}
		for i := range got {
			if !near(got[i], tt.want[i], 1e-15) {
				t.Errorf("holm(%v) = %v, want %v", tt.p, got, tt.want)
				break
			}
		}
	}
}

func TestChiSquareSF(t *testing.T) {
	// /usr/bin/python3 -c 'from scipy import stats; print(stats.chi2.sf(x, df))'
	// for each (x, df). The far tail checks the relative accuracy that the
	// continued fraction keeps.
	tests := []struct {
		x    float64
		df   int
		want float64
	}{
		{0, 3, 1.0},
		{0.5, 3, 0.9188914116546758},
		{1.2, 3, 0.753004311656458},
		{3, 3, 0.3916251762710877},
		{7.814727903251178, 3, 0.05},
		{16.26623619623813, 3, 0.0010000000000000007},
		{30, 3, 1.3800570312932553e-06},
		{80, 3, 3.0692774861724164e-17},
		{300, 3, 9.948758346327588e-65},
		{0.1, 1, 0.7518296340458492},
		{3.841458820694124, 1, 0.04999999999999989},
		{50, 1, 1.537459794428033e-12},
		{5, 2, 0.0820849986238988},
		{10, 5, 0.07523524614651217},
		{40, 20, 0.0049954123083075785},
		{2, 20, 0.9999998885745217},
		{150, 99, 0.0007204453957169282},
	}
	for _, tt := range tests {
		if got := chiSquareSF(tt.x, tt.df); !relNear(got, tt.want, 1e-10) {
			t.Errorf("chiSquareSF(%v, %d) = %v, want %v", tt.x, tt.df, got, tt.want)
		}
	}
	if got := chiSquareSF(math.Inf(1), 3); got != 0 {
		t.Errorf("chiSquareSF(+Inf, 3) = %v, want 0", got)
	}
	if got := gammaQ(0, 1); !math.IsNaN(got) {
		t.Errorf("gammaQ(0, 1) = %v, want NaN", got)
	}
}

func TestSRMTest(t *testing.T) {
	// /usr/bin/python3 -c 'from scipy import stats; import numpy as np
	// obs = np.array(OBS); w = np.array(W, float); print(stats.chisquare(obs, obs.sum()*w/w.sum()))'
	quarter := []float64{25, 25, 25, 25}
	tests := []struct {
		name     string
		observed []int
		weights  []float64
		chi      float64
		df       int
		p        float64
		ok       bool
	}{
		{"exact split", []int{250, 250, 250, 250}, quarter, 0, 3, 1, true},
		{"noise", []int{262, 241, 255, 242}, quarter, 1.2559999999999998, 3, 0.7396068619762652, true},
		{"mismatch", []int{300, 250, 250, 200}, quarter, 20, 3, 0.00016974243555282632, true},
		{"borderline", []int{120, 80, 100, 100}, quarter, 8, 3, 0.04601170568923136, true},
		{"strong mismatch", []int{510, 490, 600, 400}, quarter, 40.4, 3, 8.765136729067206e-09, true},
		{"all in one group", []int{8, 0, 0, 0}, quarter, 24, 3, 2.4979977724652003e-05, true},
		{"one visitor", []int{1, 0, 0, 0}, quarter, 3, 3, 0.3916251762710877, true},
		{"unequal weights", []int{60, 140}, []float64{30, 70}, 0, 1, 1, true},
		{"two halves", []int{50, 50}, []float64{50, 50}, 0, 1, 1, true},
		{"weights on any scale", []int{300, 250, 250, 200}, []float64{1, 1, 1, 1}, 20, 3, 0.00016974243555282632, true},
		{"nobody", []int{0, 0, 0, 0}, quarter, 0, 0, 0, false},
		{"one group", []int{10}, []float64{100}, 0, 0, 0, false},
		{"lengths differ", []int{1, 2}, quarter, 0, 0, 0, false},
		{"visitors in a group of weight 0", []int{5, 5, 1}, []float64{50, 50, 0}, math.Inf(1), 1, 0, true},
		{"empty group of weight 0", []int{5, 5, 0}, []float64{50, 50, 0}, 0, 1, 1, true},
	}
	for _, tt := range tests {
		chi, df, p, ok := srmTest(tt.observed, tt.weights)
		if ok != tt.ok || df != tt.df || !(chi == tt.chi || near(chi, tt.chi, 1e-12)) || !relNear(p, tt.p, 1e-10) {
			t.Errorf("%s: srmTest(%v, %v) = %v, %d, %v, %v, want %v, %d, %v, %v",
				tt.name, tt.observed, tt.weights, chi, df, p, ok, tt.chi, tt.df, tt.p, tt.ok)
		}
	}
}

// TestComputeResultsReference runs four groups through computeResults and
// compares every figure with R and statsmodels:
//
//	Rscript -e 'options(digits=17); n <- c(1000, 980, 1030, 990); x <- c(120, 150, 125, 90)
//	  p <- sapply(2:4, function(i) prop.test(c(x[i], x[1]), c(n[i], n[1]), correct=FALSE)$p.value)
//	  print(p); print(p.adjust(p, "holm")); print(chisq.test(n, p=rep(0.25, 4)))'
//	/usr/bin/python3 -c 'from statsmodels.stats.proportion import confint_proportions_2indep as ci
//	  n=[1000,980,1030,990]; x=[120,150,125,90]
//	  for i in (1,2,3): print(ci(x[i],n[i],x[0],n[0],method="newcomb",compare="diff"))'
//
// Green's raw p-value (0.032) would call it a winner at 5%; after Holm's
// adjustment (0.096) it is not, which is the point of the correction.
func TestComputeResultsReference(t *testing.T) {
	n := []int{1000, 980, 1030, 990}
	x := []int{120, 150, 125, 90}
	res := computeResults(splitEvents(n, x), experimentName, signupEvent, labArms)

	wantP := []float64{0.032088356966227666, 0.925121631965392321, 0.034691510685611666}
	wantHolm := []float64{0.096265070898682997, 0.925121631965392321, 0.096265070898682997}
	wantCI := [][2]float64{
		{0.002800375730896351, 0.0634028142920206},
		{-0.027118355560308754, 0.029750009635716536},
		{-0.05619537767637324, -0.0020556468125226823},
	}
	for i, g := range res.Groups {
		if g.Exposed != n[i] || g.Converted != x[i] {
			t.Fatalf("%s: %d/%d, want %d/%d", g.Group, g.Converted, g.Exposed, x[i], n[i])
		}
		if i == 0 {
			if g.PValue != nil || g.PValueHolm != nil || g.DiffLow != nil {
				t.Errorf("%s is compared with itself: %+v", g.Group, g)
			}
			continue
		}
		k := i - 1
		switch {
		case g.PValue == nil || !relNear(*g.PValue, wantP[k], 1e-9):
			t.Errorf("%s: p-value %v, want %v", g.Group, g.PValue, wantP[k])
		case g.PValueHolm == nil || !relNear(*g.PValueHolm, wantHolm[k], 1e-9):
			t.Errorf("%s: Holm p-value %v, want %v", g.Group, g.PValueHolm, wantHolm[k])
		case g.DiffLow == nil || !near(*g.DiffLow, wantCI[k][0], 1e-12) || !near(*g.DiffHigh, wantCI[k][1], 1e-12):
			t.Errorf("%s: difference interval [%v, %v], want %v", g.Group, g.DiffLow, g.DiffHigh, wantCI[k])
		}
	}
	if res.SRMPValue == nil || !relNear(*res.SRMPValue, 0.70553473120409127, 1e-9) ||
		res.SRMChiSquare == nil || !near(*res.SRMChiSquare, 1.4, 1e-12) || res.SRMDF != 3 || res.SRM {
		t.Errorf("SRM: chi-square %v on %d df, p %v, mismatch %v; want 1.4 on 3, 0.70553473120409127, false",
			res.SRMChiSquare, res.SRMDF, res.SRMPValue, res.SRM)
	}
}
