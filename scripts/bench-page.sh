#!/usr/bin/env bash
# BenchmarkPage in process, compared on a noisy machine: the experiment page
# written three ways (plain, handrolled, mw) at each visitor count (1, 20000,
# 1000000 returning visitors in rotation; new: no cookie). Each page runs in
# a fresh process (so that none pays for another's garbage or buffered
# exposures), and the pages take turns, round after round (so that drift
# falls on all of them alike). Prints, per visitor count, each page's median
# ns/op, B/op and allocs/op, and the medians over rounds of the speed ratios
# mw/handrolled and mw/plain (the other page's ns/op over mw's: above 1, mw
# is faster). Over loopback with a real load generator: bench-loopback.sh.
#
# The clients are LocalMode clients, which drop their event batches without
# encoding them: the exposure work that de-duplication saves is not in these
# numbers (bench-loopback.sh sends them to a sink by default). A process
# holds only its page's few megabytes, so the collector runs every few
# hundred requests; BENCH_APP_HEAP_MB holds an application's heap beside it.
#
#   scripts/bench-page.sh                             # 5 rounds of 1s per page
#   ROUNDS=9 BENCHTIME=2s scripts/bench-page.sh
#   VISITORS="20000 new" PAGES="handrolled mw" scripts/bench-page.sh
#   BENCH_APP_HEAP_MB=64 scripts/bench-page.sh       # beside an application's 64 MB
#
# Profiling the 20,000-visitor page (CPU and allocations), from the root:
#
#   go test -run '^$' -bench '^BenchmarkPage$/^visitors=20000$/^mw$' -benchtime 5s \
#       -cpuprofile cpu.out -memprofile mem.out -o page.test .
#   go tool pprof -top page.test cpu.out                             # CPU, flat
#   go tool pprof -top -cum page.test cpu.out                        # CPU, by caller
#   go tool pprof -sample_index=alloc_space -top page.test mem.out   # bytes allocated
#   go tool pprof -sample_index=alloc_objects -top page.test mem.out # allocations
#   go tool pprof -list 'statsigmw\.' page.test cpu.out              # line by line
#
# (handrolled in place of mw for the page it replaces; add -memprofilerate 1
# to record every allocation rather than a sample, at a cost in speed.) The
# warm-up rotation (20,000 requests) is inside the profile, a few percent of
# a 5 s run.
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${ROUNDS:-5}
read -ra visitors <<<"${VISITORS:-1 20000 1000000 new}"
read -ra pages <<<"${PAGES:-plain handrolled mw}"
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
go test -c -o "$dir/page.test" .
for ((round = 1; round <= rounds; round++)); do
	for v in "${visitors[@]}"; do
		for p in "${pages[@]}"; do
			"$dir/page.test" -test.run '^$' -test.bench "^BenchmarkPage\$/^visitors=$v\$/^$p\$" \
				-test.benchtime "${BENCHTIME:-1s}" |
				awk -v r="$round" -v v="$v" -v p="$p" '/^BenchmarkPage/ { print r, v, p, $3, $5, $7; n++ }
					END { if (n != 1) { print "bench-page: no result for visitors=" v " " p > "/dev/stderr"; exit 1 } }'
		done
	done
done | awk -v pages="${pages[*]}" '
	function median(a, k,   i, j, t) {
		for (i = 2; i <= k; i++) for (j = i; j > 1 && a[j-1] > a[j]; j--) { t = a[j]; a[j] = a[j-1]; a[j-1] = t }
		return k % 2 ? a[(k+1)/2] : (a[k/2] + a[k/2+1]) / 2
	}
	# speed(num, den): the median over rounds of ns[den] / ns[num], num as fast as den or faster when >= 1.
	function speed(v, num, den,   a, r) {
		for (r = 1; r <= rounds; r++) a[r] = ns[v, den, r] / ns[v, num, r]
		return median(a, rounds)
	}
	{
		ns[$2, $3, $1] = $4; bytes[$2, $3, $1] = $5; allocs[$2, $3, $1] = $6; have[$2, $3] = 1
		if (!($2 in seen)) { seen[$2] = 1; order[++nv] = $2 }
		if ($1 > rounds) rounds = $1
	}
	END {
		np = split(pages, page, " ")
		for (i = 1; i <= nv; i++) {
			v = order[i]
			printf "visitors=%s\n", v
			for (k = 1; k <= np; k++) {
				p = page[k]; line = ""
				for (r = 1; r <= rounds; r++) { a[r] = ns[v, p, r]; b[r] = bytes[v, p, r]; c[r] = allocs[v, p, r]; line = line " " ns[v, p, r] }
				printf "  %-11s median %8.0f ns/op %6.0f B/op %4.0f allocs/op   rounds:%s\n", p, median(a, rounds), median(b, rounds), median(c, rounds), line
			}
			if (have[v, "mw"] && have[v, "handrolled"]) printf "  mw/handrolled speed: median ratio %.3f\n", speed(v, "mw", "handrolled")
			if (have[v, "mw"] && have[v, "plain"]) printf "  mw/plain speed:      median ratio %.3f\n", speed(v, "mw", "plain")
		}
	}'
