//go:build !amd64 && !arm64

package harden

import (
	"fmt"
	"runtime"

	"golang.org/x/sys/unix"

	"tincan.dev/pkg/sysprog"
)

// installFilter: the filter's table of system call numbers is written for
// amd64 and arm64 only.
func installFilter(*sysprog.Program, uint64) error {
	return fmt.Errorf("seccomp: no system call table for %s: run with the filter off", runtime.GOARCH)
}

// DefaultFilter: none here, for the same reason.
func DefaultFilter() []unix.SockFilter { return nil }
