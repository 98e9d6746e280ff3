package main

import (
	"context"
	"os/exec"
	"regexp"
	"strings"
	"testing"
)

// TestRunShort runs the whole tool briefly on two scenarios: it builds the
// example, runs it as processes against the backend, and reports.
func TestRunShort(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the example as a process; skipped with -short")
	}
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("the go command is not on PATH; it is needed to build the example")
	}
	var stdout, stderr strings.Builder
	err := run(context.Background(), []string{"-duration", "300ms", "-warmup", "0s", "-concurrency", "4", "-scenarios", "baseline,healthy"}, &stdout, &stderr)
	out := stdout.String()
	if err != nil {
		t.Fatalf("run: %v\nstdout:\n%s\nstderr:\n%s", err, out, stderr.String())
	}
	// scenario requests req/s p50 p99 max errors, then the ratios.
	load := regexp.MustCompile(`(?m)^\s*(baseline|healthy)\s+(\d+)\s+\d+\s+\S+ms\s+\S+ms\s+\S+ms\s+(\d+)\s+(\S+)x`)
	rows := load.FindAllStringSubmatch(out, -1)
	if len(rows) != 2 {
		t.Fatalf("want two load rows:\n%s", out)
	}
	for _, r := range rows {
		if r[2] == "0" || r[3] != "0" {
			t.Errorf("%s: %s requests, %s errors; want some and none:\n%s", r[1], r[2], r[3], out)
		}
	}
	if rows[0][4] != "1.00" {
		t.Errorf("the baseline's own throughput ratio is %sx, want 1.00x", rows[0][4])
	}
	// The healthy example delivered exposures and exited cleanly; the
	// baseline logged none.
	life := regexp.MustCompile(`(?m)^\s*(baseline|healthy)\s+(true|false|\?)\s+(\d+)\s+(\d+)\s+(\d+)\s+\S+\s+\S+\s+\S+\s+\S+\s+(\S+)ms\s+(-?\d+)\s*$`)
	got := map[string][]string{}
	for _, m := range life.FindAllStringSubmatch(out, -1) {
		got[m[1]] = m
	}
	if b := got["baseline"]; b == nil || b[3] != "1" || b[5] != "0" || b[7] != "0" {
		t.Errorf("baseline lifecycle %q, want 1 group, no events, exit 0:\n%s", b, out)
	}
	if h := got["healthy"]; h == nil || h[2] != "true" || h[3] == "0" || h[5] == "0" || h[7] != "0" {
		t.Errorf("healthy lifecycle %q, want initialised, groups, events, exit 0:\n%s", h, out)
	}
}
