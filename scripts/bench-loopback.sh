#!/usr/bin/env bash
# The experiment page over loopback with a real load generator: the server
# (internal/benchserver: /plain, /handrolled, /mw, each page with a LocalMode
# client of its own) runs with GOMAXPROCS=1 pinned to one core, and wrk, on
# the other core, drives it with 16 keep-alive connections. For each visitor
# count (1, 20000, 1000000 returning visitors in rotation, each with a
# cookie of their own, the ids of internal/benchpage; new: no cookie) a
# fresh server serves a warm-up run of each page, then ROUNDS rounds in
# which the pages take turns (starting with a different page each round).
# Each page's rotation goes on from where its previous run stopped, so the
# exposure de-dup cache sees the traffic a site would. Prints, per visitor
# count, each page's median requests/s, the server's CPU share during the
# runs and how busy the server's and wrk's cores were (by anything: when the
# server's share is well below its core's, other processes took the core;
# when both are well below 100%, wrk was the limit), the medians of the
# per-round ratios mw/handrolled and mw/plain (above 1, mw is faster), and
# the server's peak RSS.
#
# By default (EVENTS=sink) the pages' clients send their event batches, as
# in production, to a sink (benchserver -sink, pinned to wrk's core) that
# serves the configs and discards the batches it reads: the server pays for
# encoding and compressing every exposure it logs, which is the work the
# middleware's exposure de-duplication saves. EVENTS=local uses LocalMode
# clients, which drop their batches without encoding them.
#
#   scripts/bench-loopback.sh                               # 5 rounds of 10s, ~13 min
#   ROUNDS=9 DURATION=20s scripts/bench-loopback.sh
#   VISITORS="20000" ROUNDS=1 DURATION=2s WARMUP=1s scripts/bench-loopback.sh   # smoke
#
# Environment: ROUNDS (5), DURATION of a run (10s), WARMUP run per page (10s,
# enough to fill the de-dup cache at 1,000,000 visitors), EVENTS (sink or
# local), EXPOSURE_CACHE (the middleware's ExposureCacheSize; its default
# if unset), APP_HEAP_MB (live heap held beside the pages, as an
# application's data: see benchpage.HoldAppHeap; 0), CONNECTIONS (16),
# VISITORS ("1 20000 1000000 new"), SERVER_CPU (0) and CLIENT_CPU (1).
# Needs wrk (Debian: apt-get install wrk) and taskset; loopback only. For a
# CPU and allocation profile of a page, see bench-page.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${ROUNDS:-5}
duration=${DURATION:-10s}
warmup=${WARMUP:-10s}
conns=${CONNECTIONS:-16}
server_cpu=${SERVER_CPU:-0}
client_cpu=${CLIENT_CPU:-1}
events=${EVENTS:-sink}
if [[ $events != sink && $events != local ]]; then
	echo "bench-loopback: EVENTS is sink or local, not $events" >&2
	exit 1
fi
read -ra visitors <<<"${VISITORS:-1 20000 1000000 new}"
pages=(plain handrolled mw)
for tool in wrk taskset; do
	if ! command -v "$tool" >/dev/null; then
		echo "bench-loopback: $tool not found (Debian: apt-get update && apt-get install -y wrk)" >&2
		exit 1
	fi
done

dir=$(mktemp -d)
pid=
sink_pid=
stop_server() {
	if [[ -n $pid ]]; then
		kill -TERM "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
		pid=
	fi
}
stop_sink() {
	if [[ -n $sink_pid ]]; then
		kill -TERM "$sink_pid" 2>/dev/null || true
		wait "$sink_pid" 2>/dev/null || true
	fi
}
trap 'stop_server; stop_sink; rm -rf "$dir"' EXIT
go build -o "$dir/benchserver" ./internal/benchserver

# await_listening PID OUT: the address the benchserver PID writing to OUT
# listens on, once it does.
await_listening() {
	local a i
	for ((i = 0; i < 100; i++)); do
		a=$(awk '/^listening on / { print $3 }' "$2")
		[[ -n $a ]] && break
		kill -0 "$1" 2>/dev/null || break
		sleep 0.1
	done
	if [[ -z $a ]]; then
		echo "bench-loopback: the server did not start:" >&2
		cat "$2" >&2
		exit 1
	fi
	echo "$a"
}

server_args=(-app-heap "${APP_HEAP_MB:-0}")
if [[ -n ${EXPOSURE_CACHE:-} ]]; then
	server_args+=(-exposure-cache "$EXPOSURE_CACHE")
fi
if [[ $events == sink ]]; then
	taskset -c "$client_cpu" "$dir/benchserver" -sink >"$dir/sink.out" 2>&1 &
	sink_pid=$!
	server_args+=(-events "http://$(await_listening "$sink_pid" "$dir/sink.out")/v1")
fi

# The requests: visitor START, START+1, ... in rotation over VISITORS
# returning visitors, with the ids of benchpage.VisitorID; or, with
# VISITORS=0, a new visitor (no visitor cookie) every time.
cat >"$dir/visitors.lua" <<'EOF'
local n = tonumber(os.getenv("VISITORS"))
local i = tonumber(os.getenv("START") or "0")
local stamp = string.format("%08x", os.time())
wrk.headers["User-Agent"] = "Mozilla/5.0 (X11; Linux x86_64)"
wrk.headers["Accept-Language"] = "en-US,en;q=0.9"
wrk.headers["Cookie"] = "_ga=GA1.2.3; theme=dark"
-- The request of visitor k. Up to 100,000 visitors, the requests are made
-- once, in init (when wrk has set the Host header), so that the load
-- generator stays well ahead of the server.
local function make(k)
	wrk.headers["Cookie"] = string.format("_ga=GA1.2.3; visitor_id=%08x-7d1c-4e3a-9b2f-%012x-%s; theme=dark",
		(k * 2654435761) % 4294967296, k, stamp)
	return wrk.format()
end
if n > 0 and n <= 100000 then
	local reqs = {}
	function init()
		for k = 0, n - 1 do reqs[k] = make(k) end
	end
	i = i % n
	function request()
		local req = reqs[i]
		i = (i + 1) % n
		return req
	end
elseif n > 0 then
	i = i % n
	function request()
		local req = make(i)
		i = (i + 1) % n
		return req
	end
end
EOF

# cpu_ticks PID: the process's user and system time, in hundredths of a
# second (USER_HZ).
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }

# core_ticks CPU: the core's busy and total time since boot, in USER_HZ.
core_ticks() { awk -v c="cpu$1" '$1 == c { b = $2 + $3 + $4 + $7 + $8 + $9; print b, b + $5 + $6 }' /proc/stat; }

# run PAGE N START DURATION: one wrk run; prints its requests/s, its number
# of requests, the server's CPU share and how busy the server's and wrk's
# cores were, by anything (%).
run() {
	local t0 c0 s0 k0 t1 c1 s1 k1 out
	t0=$(date +%s.%N) c0=$(cpu_ticks "$pid") s0=$(core_ticks "$server_cpu") k0=$(core_ticks "$client_cpu")
	out=$(VISITORS=$2 START=$3 taskset -c "$client_cpu" wrk -t1 -c"$conns" -d"$4" --timeout 5s \
		-s "$dir/visitors.lua" "http://$addr/$1")
	t1=$(date +%s.%N) c1=$(cpu_ticks "$pid") s1=$(core_ticks "$server_cpu") k1=$(core_ticks "$client_cpu")
	if grep -Eq 'Non-2xx|Socket errors' <<<"$out"; then
		echo "bench-loopback: $1 with $2 visitors: errors" >&2
		echo "$out" >&2
		exit 1
	fi
	awk -v wall="$t0 $t1" -v proc="$c0 $c1" -v score="$s0 $s1" -v kcore="$k0 $k1" '
		function share(s,   f) { split(s, f, " "); return 100 * (f[3] - f[1]) / (f[4] - f[2]) }
		/ requests in / { n = $1 } /^Requests\/sec:/ { rps = $2 }
		END {
			if (!rps) exit 1
			split(wall, w, " "); split(proc, c, " ")
			printf "%.0f %d %.0f %.0f %.0f\n", rps, n, (c[2] - c[1]) / (w[2] - w[1]), share(score), share(kcore)
		}' <<<"$out"
}

echo "server on CPU $server_cpu (GOMAXPROCS=1), wrk on CPU $client_cpu, $conns connections," \
	"$rounds rounds of $duration, warm-up $warmup, events: $events, exposure cache: ${EXPOSURE_CACHE:-default}, app heap: ${APP_HEAP_MB:-0} MB; load average $(cut -d' ' -f1 /proc/loadavg)" >&2
for v in "${visitors[@]}"; do
	n=$v
	[[ $v == new ]] && n=0
	GOMAXPROCS=1 taskset -c "$server_cpu" "$dir/benchserver" "${server_args[@]}" >"$dir/server.out" 2>&1 &
	pid=$!
	addr=$(await_listening "$pid" "$dir/server.out")
	declare -A start=()
	for p in "${pages[@]}"; do
		res=$(run "$p" "$n" 0 "$warmup")
		read -r _ count _ <<<"$res"
		start[$p]=$count
	done
	for ((r = 1; r <= rounds; r++)); do
		for ((k = 0; k < ${#pages[@]}; k++)); do
			p=${pages[(k + r - 1) % ${#pages[@]}]}
			res=$(run "$p" "$n" "${start[$p]}" "$duration")
			read -r rps count cpu score kcore <<<"$res"
			start[$p]=$((start[$p] + count))
			echo "visitors=$v round $r $p: $rps req/s, server $cpu% CPU; cores busy: server's $score%, wrk's $kcore%" >&2
			echo "$v $r $p $rps $cpu $score $kcore"
		done
	done
	echo "$v rss $(awk '/^VmHWM:/ { print $2 }' "/proc/$pid/status")"
	stop_server
	unset start
done >"$dir/results"

awk -v rounds="$rounds" -v pages="${pages[*]}" '
	function median(a, k,   i, j, t) {
		for (i = 2; i <= k; i++) for (j = i; j > 1 && a[j-1] > a[j]; j--) { t = a[j]; a[j] = a[j-1]; a[j-1] = t }
		return k % 2 ? a[(k+1)/2] : (a[k/2] + a[k/2+1]) / 2
	}
	function ratio(v, num, den,   a, r) { for (r = 1; r <= rounds; r++) a[r] = rps[v, num, r] / rps[v, den, r]; return median(a, rounds) }
	$2 == "rss" { rss[$1] = $3; next }
	{ rps[$1, $3, $2] = $4; cpu[$1, $3, $2] = $5; score[$1, $3, $2] = $6; kcore[$1, $3, $2] = $7; if (!($1 in seen)) { seen[$1] = 1; order[++nv] = $1 } }
	END {
		np = split(pages, page, " ")
		for (i = 1; i <= nv; i++) {
			v = order[i]
			printf "visitors=%s\n", v
			for (k = 1; k <= np; k++) {
				p = page[k]; line = ""
				for (r = 1; r <= rounds; r++) {
					a[r] = rps[v, p, r]; c[r] = cpu[v, p, r]; sc[r] = score[v, p, r]; kc[r] = kcore[v, p, r]; line = line " " rps[v, p, r]
				}
				printf "  %-11s median %7.0f req/s   server %3.0f%% CPU   cores busy: server %3.0f%% wrk %3.0f%%   rounds:%s\n",
					p, median(a, rounds), median(c, rounds), median(sc, rounds), median(kc, rounds), line
				if (median(c, rounds) < 0.9 * median(sc, rounds)) shared = 1
			}
			printf "  mw/handrolled: median ratio %.3f\n", ratio(v, "mw", "handrolled")
			printf "  mw/plain:      median ratio %.3f\n", ratio(v, "mw", "plain")
			printf "  server peak RSS (all three pages): %.1f MB\n", rss[v] / 1024
		}
		if (shared) print "warning: other processes used the server\x27s core: not a quiet-machine measurement"
	}' "$dir/results"
