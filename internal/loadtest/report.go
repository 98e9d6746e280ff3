package main

import (
	"fmt"
	"io"
	"math"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

// result is what one scenario measured.
type result struct {
	Name string
	// Requests counts the requests of the measured window that got an
	// answer or failed; Errors those that failed or were not 200, the first
	// of which is FirstError.
	Requests, Errors int
	FirstError       string
	// Elapsed is the measured window, from the start of the workers until
	// the last one finished.
	Elapsed time.Duration
	// P50, P99 and Max are latencies of the requests that got an answer.
	P50, P99, Max time.Duration
	// Batches counts the log_event requests the backend received, whatever
	// it answered, from the start of the example to its exit; Events the
	// events of those it accepted.
	Batches, Events int
	// Startup is the time from starting the example until it served;
	// Shutdown from SIGINT until it exited, with ExitCode.
	Startup, Shutdown time.Duration
	ExitCode          int
	// Initialized is what the example logged at start about its SDK client
	// ("true", "false"), or "?"; Groups how many experiment groups a probe
	// of the page saw (0: the SDK served defaults).
	Initialized string
	Groups      int
	// Client is the example's own account at exit: "sent/dropped/failed"
	// events, from its "stopped" log line, or "?".
	Client string
	// ExampleCPU and SelfCPU are the CPU time the example process and this
	// one (load generator and backend) used in the measured window, when
	// CPUKnown.
	ExampleCPU, SelfCPU time.Duration
	CPUKnown            bool
	// Log is the example's output (its start and end, when long).
	Log string
	// Err is set when the scenario could not be measured.
	Err error
}

// RPS is the throughput of the measured window.
func (r result) RPS() float64 {
	if r.Elapsed <= 0 {
		return 0
	}
	return float64(r.Requests) / r.Elapsed.Seconds()
}

// CPUPerRequest is the example's CPU time per request of the measured
// window, or 0 when unknown.
func (r result) CPUPerRequest() time.Duration {
	if !r.CPUKnown || r.Requests == 0 {
		return 0
	}
	return r.ExampleCPU / time.Duration(r.Requests)
}

// cores formats the CPU time d used over elapsed as a number of cores.
func cores(d, elapsed time.Duration, known bool) string {
	if !known || elapsed <= 0 {
		return "?"
	}
	return strconv.FormatFloat(d.Seconds()/elapsed.Seconds(), 'f', 2, 64)
}

// micros formats d in microseconds, or "?" for 0.
func micros(d time.Duration) string {
	if d <= 0 {
		return "?"
	}
	return strconv.FormatFloat(float64(d)/float64(time.Microsecond), 'f', 0, 64) + "µs"
}

// percentile returns the p-th percentile (0 < p <= 100) of sorted by the
// nearest-rank method: the smallest value with at least p% of the values at
// or below it. It returns 0 for no values.
func percentile(sorted []time.Duration, p float64) time.Duration {
	n := len(sorted)
	if n == 0 {
		return 0
	}
	rank := int(math.Ceil(p / 100 * float64(n)))
	rank = min(max(rank, 1), n)
	return sorted[rank-1]
}

// summarize sorts lat in place and fills in r's latency figures.
func summarize(r *result, lat []time.Duration) {
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	r.P50, r.P99 = percentile(lat, 50), percentile(lat, 99)
	if len(lat) > 0 {
		r.Max = lat[len(lat)-1]
	}
}

// ratio formats a/b as "1.23x", or "-" when b is zero.
func ratio(a, b float64) string {
	if b == 0 {
		return "-"
	}
	return strconv.FormatFloat(a/b, 'f', 2, 64) + "x"
}

// ms formats d in milliseconds with two decimals, or in seconds from 10 s.
func ms(d time.Duration) string {
	if d >= 10*time.Second {
		return fmt.Sprintf("%.1fs", d.Seconds())
	}
	return fmt.Sprintf("%.2fms", float64(d)/float64(time.Millisecond))
}

// writeTable writes two tables, one row per result: the load figures, with
// ratios to the result named baseline (throughput, p50 and p99 of each over
// the baseline's; "-" without a usable baseline), and what the backend and
// the example's lifecycle showed.
func writeTable(w io.Writer, results []result, baseline string) error {
	var base result
	for _, r := range results {
		if r.Name == baseline && r.Err == nil {
			base = r
		}
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "scenario\trequests\treq/s\tp50\tp99\tmax\terrors\treq/s vs base\tp50 vs base\tp99 vs base\texample CPU/req\tvs base\t")
	for _, r := range results {
		if r.Err != nil {
			fmt.Fprintf(tw, "%s\tfailed\t\t\t\t\t\t\t\t\t\t\t\n", r.Name)
			continue
		}
		fmt.Fprintf(tw, "%s\t%d\t%.0f\t%s\t%s\t%s\t%d\t%s\t%s\t%s\t%s\t%s\t\n",
			r.Name, r.Requests, r.RPS(), ms(r.P50), ms(r.P99), ms(r.Max), r.Errors,
			ratio(r.RPS(), base.RPS()), ratio(float64(r.P50), float64(base.P50)), ratio(float64(r.P99), float64(base.P99)),
			micros(r.CPUPerRequest()), ratio(float64(r.CPUPerRequest()), float64(base.CPUPerRequest())))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(w)
	fmt.Fprintln(tw, "scenario\tSDK initialised\tgroups seen\tlog_event batches\tevents accepted\tclient sent/dropped/failed\texample cores\tloadtest cores\tstartup\tshutdown\texit code\t")
	for _, r := range results {
		if r.Err != nil {
			fmt.Fprintf(tw, "%s\tfailed\t\t\t\t\t\t\t\t\t\t\n", r.Name)
			continue
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%d\t%s\t%s\t%s\t%s\t%s\t%d\t\n",
			r.Name, r.Initialized, r.Groups, r.Batches, r.Events, r.Client,
			cores(r.ExampleCPU, r.Elapsed, r.CPUKnown), cores(r.SelfCPU, r.Elapsed, r.CPUKnown),
			ms(r.Startup), ms(r.Shutdown), r.ExitCode)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, r := range results {
		switch {
		case r.Err != nil:
			fmt.Fprintf(w, "%s: failed: %s\n", r.Name, oneLine(r.Err.Error()))
		case r.Errors > 0:
			fmt.Fprintf(w, "%s: first error: %s\n", r.Name, oneLine(r.FirstError))
		}
	}
	return nil
}

func oneLine(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > 120 {
		s = s[:117] + "..."
	}
	return s
}

var stoppedRE = regexp.MustCompile(`msg=stopped .*events_sent=(\d+) events_dropped=(\d+) events_failed=(\d+)`)

// clientCounts reads the example's event counters ("sent/dropped/failed")
// off its "stopped" log line, or returns "?".
func clientCounts(log string) string {
	m := stoppedRE.FindStringSubmatch(log)
	if m == nil {
		return "?"
	}
	return m[1] + "/" + m[2] + "/" + m[3]
}
