package main

import (
	"errors"
	"io"
	"regexp"
	"strings"
	"testing"
	"time"
)

func TestPercentile(t *testing.T) {
	ms := func(v ...int) []time.Duration {
		out := make([]time.Duration, len(v))
		for i, x := range v {
			out[i] = time.Duration(x) * time.Millisecond
		}
		return out
	}
	hundred := make([]int, 100)
	for i := range hundred {
		hundred[i] = i + 1
	}
	tests := []struct {
		sorted []time.Duration
		p      float64
		want   time.Duration
	}{
		{nil, 50, 0},
		{ms(7), 50, 7 * time.Millisecond},
		{ms(7), 99, 7 * time.Millisecond},
		{ms(1, 2), 50, 1 * time.Millisecond},
		{ms(1, 2, 3), 50, 2 * time.Millisecond},
		{ms(1, 2, 3, 4), 50, 2 * time.Millisecond},
		{ms(1, 2, 3, 4), 75, 3 * time.Millisecond},
		{ms(1, 2, 3, 4), 100, 4 * time.Millisecond},
		{ms(1, 2, 3, 4), 0.1, 1 * time.Millisecond},
		{ms(hundred...), 50, 50 * time.Millisecond},
		{ms(hundred...), 99, 99 * time.Millisecond},
		{ms(hundred...), 99.5, 100 * time.Millisecond},
		{ms(append(hundred, 101)...), 99, 100 * time.Millisecond}, // ceil(0.99*101) = 100
	}
	for _, tt := range tests {
		if got := percentile(tt.sorted, tt.p); got != tt.want {
			t.Errorf("percentile(%d values, %v) = %v, want %v", len(tt.sorted), tt.p, got, tt.want)
		}
	}
}

func TestSummarize(t *testing.T) {
	lat := []time.Duration{5, 1, 4, 2, 3, 100, 6, 7, 8, 9}
	var r result
	summarize(&r, lat)
	if r.P50 != 5 || r.P99 != 100 || r.Max != 100 {
		t.Errorf("p50 %v p99 %v max %v, want 5ns 100ns 100ns", r.P50, r.P99, r.Max)
	}
	var empty result
	summarize(&empty, nil)
	if empty.P50 != 0 || empty.P99 != 0 || empty.Max != 0 {
		t.Errorf("no latencies: %+v, want zeros", empty)
	}
	if got := (result{Requests: 150, Elapsed: 1500 * time.Millisecond}).RPS(); got != 100 {
		t.Errorf("RPS = %v, want 100", got)
	}
	if got := (result{Requests: 5}).RPS(); got != 0 {
		t.Errorf("RPS without elapsed time = %v, want 0", got)
	}
	if got := (result{Requests: 4, ExampleCPU: 2 * time.Millisecond, CPUKnown: true}).CPUPerRequest(); got != 500*time.Microsecond {
		t.Errorf("CPUPerRequest = %v, want 500µs", got)
	}
}

func TestFormatting(t *testing.T) {
	for _, tt := range []struct{ got, want string }{
		{ratio(50, 100), "0.50x"},
		{ratio(3, 2), "1.50x"},
		{ratio(1, 0), "-"},
		{ms(1234567 * time.Nanosecond), "1.23ms"},
		{ms(0), "0.00ms"},
		{ms(9 * time.Second), "9000.00ms"},
		{ms(12345 * time.Millisecond), "12.3s"},
		{micros(87 * time.Microsecond), "87µs"},
		{micros(0), "?"},
		{cores(3*time.Second, 2*time.Second, true), "1.50"},
		{cores(time.Second, time.Second, false), "?"},
		{clientCounts("x\ntime=... level=INFO msg=stopped took=3.028s events_sent=12 events_dropped=3 events_failed=45\n"), "12/3/45"},
		{clientCounts("no such line"), "?"},
		{oneLine("a\n  b\tc"), "a b c"},
	} {
		if tt.got != tt.want {
			t.Errorf("got %q, want %q", tt.got, tt.want)
		}
	}
	if s := oneLine(strings.Repeat("x", 500)); len(s) != 120 || !strings.HasSuffix(s, "...") {
		t.Errorf("oneLine of 500 bytes = %d bytes %q", len(s), s)
	}
}

func TestWriteTable(t *testing.T) {
	results := []result{
		{Name: "baseline", Requests: 1000, Elapsed: time.Second, P50: 2 * time.Millisecond, P99: 10 * time.Millisecond, Max: 20 * time.Millisecond,
			ExampleCPU: 100 * time.Millisecond, SelfCPU: 500 * time.Millisecond, CPUKnown: true, Initialized: "true", Groups: 1, Client: "0/0/0"},
		{Name: "healthy", Requests: 500, Errors: 2, FirstError: "status 500", Elapsed: time.Second, P50: 3 * time.Millisecond, P99: 25 * time.Millisecond,
			Max: 40 * time.Millisecond, ExampleCPU: 100 * time.Millisecond, CPUKnown: true, Batches: 3, Events: 500, Client: "500/0/0",
			Shutdown: 1500 * time.Millisecond, Initialized: "true", Groups: 4},
		{Name: "broken", Err: errors.New("the example exited\nbefore serving")},
	}
	var b strings.Builder
	if err := writeTable(&b, results, "baseline"); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	row := func(name string) []string {
		m := regexp.MustCompile(`(?m)^\s*`+name+`\s.*$`).FindAllString(out, -1)
		if len(m) != 2 {
			t.Fatalf("want two rows for %s (one per table):\n%s", name, out)
		}
		return []string{strings.Fields(m[0])[0], strings.Join(strings.Fields(m[0])[1:], " "), strings.Join(strings.Fields(m[1])[1:], " ")}
	}
	if got, want := row("baseline")[1], "1000 1000 2.00ms 10.00ms 20.00ms 0 1.00x 1.00x 1.00x 100µs 1.00x"; got != want {
		t.Errorf("baseline load row %q, want %q", got, want)
	}
	if got, want := row("healthy")[1], "500 500 3.00ms 25.00ms 40.00ms 2 0.50x 1.50x 2.50x 200µs 2.00x"; got != want {
		t.Errorf("healthy load row %q, want %q", got, want)
	}
	if got, want := row("healthy")[2], "true 4 3 500 500/0/0 0.10 0.00 0.00ms 1500.00ms 0"; got != want {
		t.Errorf("healthy lifecycle row %q, want %q", got, want)
	}
	if got := row("broken"); got[1] != "failed" || got[2] != "failed" {
		t.Errorf("broken rows %q, want failed", got)
	}
	for _, want := range []string{"healthy: first error: status 500", "broken: failed: the example exited before serving"} {
		if !strings.Contains(out, want) {
			t.Errorf("the report lacks %q:\n%s", want, out)
		}
	}

	// Without a baseline every ratio is "-".
	b.Reset()
	if err := writeTable(&b, results[1:2], "baseline"); err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`healthy\s+500\s+500\s+\S+\s+\S+\s+\S+\s+2\s+-\s+-\s+-\s+200µs\s+-\s*\n`).MatchString(b.String()) {
		t.Errorf("no baseline, want ratios of -:\n%s", b.String())
	}
}

func TestParseProcStat(t *testing.T) {
	line := "27386 (a (weird) name) R 27384 27384 25054 0 -1 4194304 101 0 0 0 250 30 0 0 20 0 1 0 186904 3133440 411\n"
	if got, ok := parseProcStat(line); !ok || got != 280*clockTick {
		t.Errorf("parseProcStat = %v, %v; want %v", got, ok, 280*clockTick)
	}
	for _, bad := range []string{"", "1 (x) R 1 2", "1 (x) R 1 1 1 0 -1 0 0 0 0 0 x 30 0"} {
		if _, ok := parseProcStat(bad); ok {
			t.Errorf("parseProcStat(%q) ok", bad)
		}
	}
}

func TestLogBuffer(t *testing.T) {
	var b logBuffer
	io.WriteString(&b, "first line\n")
	if b.String() != "first line\n" {
		t.Fatalf("got %q", b.String())
	}
	for i := 0; i < 5*logKeep/10; i++ {
		io.WriteString(&b, "0123456789")
	}
	io.WriteString(&b, "last line\n")
	s := b.String()
	if !strings.HasPrefix(s, "first line\n") || !strings.HasSuffix(s, "last line\n") || !strings.Contains(s, "bytes left out") {
		t.Errorf("head %q ... tail %q", s[:20], s[len(s)-20:])
	}
	if len(s) > 3*logKeep+100 {
		t.Errorf("kept %d bytes, want at most about %d", len(s), 3*logKeep)
	}
}

func TestParseOptions(t *testing.T) {
	o, err := parseOptions(nil, io.Discard)
	if err != nil || o.Duration != 10*time.Second || o.Concurrency != 16 || len(o.Scenarios) != len(scenarios) || o.Scenarios[0] != baselineName {
		t.Errorf("defaults %+v, %v", o, err)
	}
	o, err = parseOptions([]string{"-duration", "2s", "-concurrency", "4", "-scenarios", "baseline, hanging"}, io.Discard)
	if err != nil || o.Duration != 2*time.Second || o.Concurrency != 4 || strings.Join(o.Scenarios, ",") != "baseline,hanging" {
		t.Errorf("got %+v, %v", o, err)
	}
	for _, bad := range [][]string{
		{"-duration", "0s"}, {"-concurrency", "0"}, {"-warmup", "-1s"}, {"-scenarios", "nope"}, {"-scenarios", ","}, {"extra"},
	} {
		if _, err := parseOptions(bad, io.Discard); err == nil {
			t.Errorf("parseOptions(%q) accepted", bad)
		}
	}
}

func TestCheckLoopback(t *testing.T) {
	for u, ok := range map[string]bool{
		"http://127.0.0.1:8080": true,
		"http://[::1]:8080":     true,
		"http://10.0.0.1:8080":  false,
		"http://localhost:8080": false, // a name, not an address
		"http://0.0.0.0:8080":   false,
	} {
		if err := checkLoopback(u); (err == nil) != ok {
			t.Errorf("checkLoopback(%q) = %v", u, err)
		}
	}
}
