package main

import (
	"math"
	"sort"
)

// The statistics of the results page. Each function is checked against R or
// SciPy figures in stats_test.go.

// z95 is the two-sided 95% quantile of the standard normal distribution.
const z95 = 1.959963984540054

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

// newcombe returns the 95% interval of the difference x2/n2 - x1/n1 by
// Newcombe's hybrid score method (method 10 of Newcombe 1998, Statistics in
// Medicine 17:873), built from the two Wilson intervals. It keeps its
// coverage near 95% for small counts and rates near 0 or 1, where the Wald
// interval p2-p1 ± z·se collapses or leaves [-1, 1]. n1 and n2 must be
// positive.
func newcombe(x1, n1, x2, n2 int) (low, high float64) {
	p1, p2 := float64(x1)/float64(n1), float64(x2)/float64(n2)
	l1, u1 := wilson(x1, n1, z95)
	l2, u2 := wilson(x2, n2, z95)
	d := p2 - p1
	low = d - math.Sqrt((p2-l2)*(p2-l2)+(u1-p1)*(u1-p1))
	high = d + math.Sqrt((u2-p2)*(u2-p2)+(p1-l1)*(p1-l1))
	return math.Max(-1, low), math.Min(1, high)
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

// holm returns Holm's step-down adjustment of the p-values p, in the same
// order: the i-th smallest is multiplied by m-i+1 (m = len(p), i from 1),
// made non-decreasing in that order and capped at 1. Rejecting where the
// adjusted value is below α keeps the chance of any false positive among
// the m comparisons at most α, and it rejects everything Bonferroni does.
func holm(p []float64) []float64 {
	m := len(p)
	order := make([]int, m)
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(a, b int) bool { return p[order[a]] < p[order[b]] })
	adj := make([]float64, m)
	running := 0.0
	for rank, i := range order {
		v := math.Min(1, float64(m-rank)*p[i])
		running = math.Max(running, v)
		adj[i] = running
	}
	return adj
}

// srmTest is the sample ratio mismatch check: Pearson's chi-square
// goodness-of-fit test of the observed counts against the shares given by
// weights (any positive scale; a weight of 0 expects nobody). It returns
// the statistic, its degrees of freedom (the number of groups with a
// positive weight, minus one) and the p-value; ok is false when there is
// nothing to test (no count, fewer than two groups of positive weight, or
// mismatched lengths).
func srmTest(observed []int, weights []float64) (chiSquare float64, df int, pValue float64, ok bool) {
	if len(observed) != len(weights) {
		return 0, 0, 0, false
	}
	total, sumW := 0, 0.0
	for i, n := range observed {
		total += n
		if weights[i] > 0 {
			sumW += weights[i]
			df++
		}
	}
	df--
	if total == 0 || df < 1 {
		return 0, 0, 0, false
	}
	for i, n := range observed {
		if weights[i] <= 0 {
			if n > 0 { // visitors where none were expected
				return math.Inf(1), df, 0, true
			}
			continue
		}
		e := float64(total) * weights[i] / sumW
		d := float64(n) - e
		chiSquare += d * d / e
	}
	return chiSquare, df, chiSquareSF(chiSquare, df), true
}

// chiSquareSF is the survival function P(X > x) of the chi-square
// distribution with df degrees of freedom: the regularised upper incomplete
// gamma function Q(df/2, x/2).
func chiSquareSF(x float64, df int) float64 {
	return gammaQ(float64(df)/2, x/2)
}

// gammaQ is the regularised upper incomplete gamma function Q(a, x) for
// a > 0: by its power series (as 1-P) below x = a+1, where that converges
// fast and Q is not small, and by its continued fraction above, which keeps
// the relative accuracy of small Q in the tail (Numerical Recipes, 6.2).
func gammaQ(a, x float64) float64 {
	switch {
	case math.IsNaN(x) || math.IsNaN(a) || a <= 0:
		return math.NaN()
	case x <= 0:
		return 1
	case math.IsInf(x, 1):
		return 0
	}
	lgA, _ := math.Lgamma(a)
	prefix := a*math.Log(x) - x - lgA // log(x^a e^-x / Γ(a))
	const eps, tiny, maxIter = 1e-15, 1e-300, 10000
	if x < a+1 {
		// P(a, x) = x^a e^-x / Γ(a+1) · Σ x^n / ((a+1)…(a+n))
		sum, term := 1/a, 1/a
		for n := 1; n < maxIter; n++ {
			term *= x / (a + float64(n))
			sum += term
			if math.Abs(term) < math.Abs(sum)*eps {
				break
			}
		}
		return math.Max(0, 1-sum*math.Exp(prefix))
	}
	// Q(a, x) = x^a e^-x / Γ(a) · 1/(x+1-a- 1·(1-a)/(x+3-a- 2·(2-a)/(x+5-a- …))),
	// evaluated by the modified Lentz method.
	b := x + 1 - a
	c := 1 / tiny
	d := 1 / b
	h := d
	for i := 1; i < maxIter; i++ {
		an := -float64(i) * (float64(i) - a)
		b += 2
		d = an*d + b
		if math.Abs(d) < tiny {
			d = tiny
		}
		c = b + an/c
		if math.Abs(c) < tiny {
			c = tiny
		}
		d = 1 / d
		delta := d * c
		h *= delta
		if math.Abs(delta-1) < eps {
			break
		}
	}
	return math.Exp(prefix) * h
}

// normalCDF is the standard normal distribution function,
// Φ(x) = erfc(-x/√2)/2. erfc keeps the far tails accurate where 1-erf(x)
// would cancel to 0.
func normalCDF(x float64) float64 {
	return 0.5 * math.Erfc(-x/math.Sqrt2)
}
