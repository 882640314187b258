package main

import (
	"testing"

	"tincan.dev/pkg/testenv/engine"
)

// Podman, containerd (through ctr) and Docker run their containers with can
// as their OCI runtime: the checks of pkg/testenv/engine (run, exit codes,
// -e, --user, -w, --read-only, capabilities, stdin, -t, --memory,
// --pids-limit, exec, ps, pause, stop, rm, no cgroup left). Each engine
// skips, saying what to install, where it is missing.
func TestEngines(t *testing.T) {
	engine.Test(t, canBin())
}
