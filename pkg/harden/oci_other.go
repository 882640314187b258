//go:build !amd64 && !arm64

package harden

import (
	"fmt"
	"runtime"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// SeccompProgram: the table of system call names is generated for amd64 and
// arm64 only (mksysnames.go).
func SeccompProgram(*specs.LinuxSeccomp) ([]unix.SockFilter, error) {
	return nil, fmt.Errorf("seccomp: no system call table for %s: remove linux.seccomp from config.json", runtime.GOARCH)
}
