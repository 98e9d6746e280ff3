#!/usr/bin/env bash
# BenchmarkPage's variants compared on a noisy machine: each variant runs in
# a fresh process (so that none pays for another's garbage or buffered
# exposures), and the variants take turns, round after round (so that drift
# falls on all of them alike). Prints each variant's median ns/op and the
# median over rounds of the ratios the exposure work is judged by.
#
#   scripts/bench-page.sh                      # 6 rounds of 1s per variant
#   ROUNDS=10 BENCHTIME=2s scripts/bench-page.sh
#   BENCH=BenchmarkPageLoopback scripts/bench-page.sh
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${ROUNDS:-6}
bench=${BENCH:-BenchmarkPage}
variants=(handrolled experiment-returning experiment-returning-3x experiment-returning-noreuse)
bin=$(mktemp -d)/page.test
trap 'rm -rf "$(dirname "$bin")"' EXIT
go test -c -o "$bin" .
for ((round = 1; round <= rounds; round++)); do
	for v in "${variants[@]}"; do
		"$bin" -test.run '^$' -test.bench "^$bench\$/^$v\$" -test.benchtime "${BENCHTIME:-1s}" |
			awk -v r="$round" -v v="$v" '/^Benchmark/ { print r, v, $3 }'
	done
done | awk '
	{ ns[$2, $1] = $3; if (!($2 in seen)) { seen[$2] = 1; order[++n] = $2 }; if ($1 > rounds) rounds = $1 }
	function median(a, k,   i, j, t) {
		for (i = 2; i <= k; i++) for (j = i; j > 1 && a[j-1] > a[j]; j--) { t = a[j]; a[j] = a[j-1]; a[j-1] = t }
		return k % 2 ? a[(k+1)/2] : (a[k/2] + a[k/2+1]) / 2
	}
	function ratio(num, den,   a, r) { for (r = 1; r <= rounds; r++) a[r] = ns[num, r] / ns[den, r]; return median(a, rounds) }
	END {
		for (i = 1; i <= n; i++) {
			delete a; line = ""
			for (r = 1; r <= rounds; r++) { a[r] = ns[order[i], r]; line = line " " ns[order[i], r] }
			printf "%-26s median %7.0f ns/op   rounds:%s\n", order[i], median(a, rounds), line
		}
		printf "experiment-returning / handrolled:              median ratio %.3f\n", ratio("experiment-returning", "handrolled")
		printf "experiment-returning-3x / experiment-returning: median ratio %.3f\n", ratio("experiment-returning-3x", "experiment-returning")
		printf "experiment-returning-noreuse / handrolled:      median ratio %.3f\n", ratio("experiment-returning-noreuse", "handrolled")
	}'
