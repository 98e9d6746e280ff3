//go:build !unix

package redisserver

import (
	"errors"
	"os"
)

var errNoStop = errors.New("redisserver: pausing a process needs SIGSTOP, which this system lacks")

func stop(*os.Process) error { return errNoStop }
func cont(*os.Process) error { return errNoStop }
