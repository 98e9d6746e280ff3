//go:build !linux

package main

import (
	"os/exec"
	"time"
)

// killWithParent does nothing outside Linux.
func killWithParent(*exec.Cmd) {}

// processCPU is not available outside Linux.
func processCPU(int) (time.Duration, bool) { return 0, false }

// selfCPU is not available outside Linux.
func selfCPU() (time.Duration, bool) { return 0, false }
