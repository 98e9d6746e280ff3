// Command loadtest measures what statsigmw costs the example app under load,
// against healthy, failing and hanging Statsig backends, next to the same
// page served without the middleware.
//
//	go run ./internal/loadtest -duration 10s -concurrency 16
//	DURATION=10s scripts/load.sh
//
// It builds the example once, and for each scenario starts an in-process
// statsigtest backend and the example as a separate process (on a free
// loopback port, with STATSIG_SERVER_SECRET and STATSIG_API pointing at that
// backend and GOMAXPROCS set to the machine's CPU count), waits until it
// serves, drives GET /tasks?random=1 from a fixed number of keep-alive
// workers for a fixed time, stops it with SIGINT and times its exit. Each
// request is a new visitor, so each one evaluates the experiment and logs an
// exposure. The baseline runs the example with FIXED_GROUP=Blue: the same
// page without the middleware, visitor identity or SDK calls.
//
// The load generator and the backend run in this process, on the same CPUs
// as the example: the figures are for comparing scenarios of one run, not
// for capacity planning.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime"
	"strings"
	"syscall"
	"time"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	switch {
	case errors.Is(err, flag.ErrHelp):
	case err != nil:
		fmt.Fprintln(os.Stderr, "loadtest:", err)
		os.Exit(1)
	}
}

// loadAverage returns the 1-minute load average of the machine, or "?".
func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if f := strings.Fields(string(b)); err == nil && len(f) > 0 {
		return f[0]
	}
	return "?"
}

// options are the command's flags.
type options struct {
	Duration    time.Duration
	Warmup      time.Duration
	Concurrency int
	Scenarios   []string
	// ShowLogs writes each example's output to stderr after its scenario.
	ShowLogs bool
}

func parseOptions(args []string, out io.Writer) (options, error) {
	fs := flag.NewFlagSet("loadtest", flag.ContinueOnError)
	fs.SetOutput(out)
	o := options{}
	fs.DurationVar(&o.Duration, "duration", 10*time.Second, "measured time per scenario")
	fs.DurationVar(&o.Warmup, "warmup", time.Second, "unmeasured load before each measurement")
	fs.IntVar(&o.Concurrency, "concurrency", 16, "keep-alive workers, each with one request at a time")
	fs.BoolVar(&o.ShowLogs, "show-logs", false, "write each example's log to stderr after its scenario")
	names := make([]string, len(scenarios))
	for i, s := range scenarios {
		names[i] = s.Name
	}
	list := fs.String("scenarios", strings.Join(names, ","), "comma-separated scenarios to run, of "+strings.Join(names, ", "))
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	switch {
	case fs.NArg() > 0:
		return o, fmt.Errorf("unexpected arguments %q", fs.Args())
	case o.Duration <= 0 || o.Duration > time.Hour:
		return o, fmt.Errorf("-duration %v: want more than 0 and at most 1h", o.Duration)
	case o.Warmup < 0 || o.Warmup > time.Hour:
		return o, fmt.Errorf("-warmup %v: want 0 to 1h", o.Warmup)
	case o.Concurrency < 1 || o.Concurrency > 1024:
		return o, fmt.Errorf("-concurrency %d: want 1 to 1024", o.Concurrency)
	}
	for _, n := range strings.Split(*list, ",") {
		n = strings.TrimSpace(n)
		if n == "" {
			continue
		}
		if _, ok := scenarioNamed(n); !ok {
			return o, fmt.Errorf("-scenarios: unknown scenario %q; want some of %s", n, strings.Join(names, ", "))
		}
		o.Scenarios = append(o.Scenarios, n)
	}
	if len(o.Scenarios) == 0 {
		return o, errors.New("-scenarios: none given")
	}
	return o, nil
}

// run is the whole command: it measures the scenarios of args and writes
// the report to stdout and its progress to stderr. It returns an error when
// a scenario could not be measured or the example did not exit cleanly
// within maxShutdown; the table is printed anyway.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	o, err := parseOptions(args, stderr)
	if err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "statsigmw-loadtest-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	fmt.Fprintln(stderr, "building the example...")
	bin, err := buildExample(ctx, dir)
	if err != nil {
		return err
	}

	procs := runtime.NumCPU()
	loadBefore := loadAverage()
	var results []result
	for _, name := range o.Scenarios {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		sc, _ := scenarioNamed(name)
		fmt.Fprintf(stderr, "%s: %s...\n", sc.Name, sc.Desc)
		r := runScenario(ctx, sc, bin, procs, o)
		if r.Err != nil {
			fmt.Fprintf(stderr, "%s: %v\n", sc.Name, r.Err)
		}
		if o.ShowLogs {
			fmt.Fprintf(stderr, "--- %s: the example's log\n%s--- end of %s\n", sc.Name, r.Log, sc.Name)
		}
		results = append(results, r)
	}

	fmt.Fprintf(stdout, "statsigmw load test: GET /tasks?random=1 for %v per scenario (after %v of warm-up), %d keep-alive workers, %s.\n",
		o.Duration, o.Warmup, o.Concurrency, runtime.Version())
	fmt.Fprintln(stdout, "Every request is a new visitor (?random=1), so with the middleware each one evaluates button_color_v3 and logs one exposure.")
	fmt.Fprintf(stdout, "The example runs as its own process with GOMAXPROCS=%d (this machine's CPUs); the load generator and the in-process backend share those %d CPUs.\n", procs, procs)
	fmt.Fprintf(stdout, "Load average (1 min) before: %s, after: %s; anything else running competes for the same CPUs.\n", loadBefore, loadAverage())
	fmt.Fprintln(stdout, "Ratios are each scenario over the baseline of this run; errors count non-200 answers and failed requests.")
	fmt.Fprintln(stdout)
	for _, name := range o.Scenarios {
		sc, _ := scenarioNamed(name)
		fmt.Fprintf(stdout, "  %-12s %s\n", sc.Name, sc.Desc)
	}
	fmt.Fprintln(stdout)
	if err := writeTable(stdout, results, baselineName); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "\ngroups seen: distinct groups of button_color_v3 on %d probe pages before the load (0: the SDK served the defaults).\n", probePages)
	fmt.Fprintln(stdout, "log_event batches: requests the backend received from the example, whatever it answered, until the example exited;")
	fmt.Fprintln(stdout, "events accepted: the events in those it answered 200. client sent/dropped/failed: the example's own event counters at exit.")
	fmt.Fprintln(stdout, "example CPU/req: the example process's CPU time (user+system, /proc, 10 ms ticks) in the window over its requests;")
	fmt.Fprintln(stdout, "example/loadtest cores: CPU used in the window by the example, and by this process (load generator and backend, which")
	fmt.Fprintln(stdout, "decodes every event batch it accepts). startup: from starting the process until it answered; shutdown: SIGINT to exit.")

	var problems []string
	for _, r := range results {
		switch {
		case r.Err != nil:
			problems = append(problems, r.Name+": "+r.Err.Error())
		case r.ExitCode != 0:
			problems = append(problems, fmt.Sprintf("%s: the example exited with code %d", r.Name, r.ExitCode))
		case r.Shutdown >= maxShutdown:
			problems = append(problems, fmt.Sprintf("%s: shutdown took %v, not under %v", r.Name, r.Shutdown, maxShutdown))
		}
	}
	if len(problems) > 0 {
		return errors.New(strings.Join(problems, "; "))
	}
	return nil
}
