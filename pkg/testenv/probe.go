package testenv

import (
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
)

var probe struct {
	once sync.Once
	path string
	err  error
}

// Probe returns the path of the probe binary (pkg/cmd/probe), a static
// program a test copies into a container's root file system to read the
// kernel's view from inside: probe caps, probe ns, probe syscall mount, ...
// It is built once per test process, with CGO_ENABLED=0, into Bin, or when
// Main built nothing, into a directory of its own that Main removes at the end.
func Probe(t testing.TB) string {
	t.Helper()
	probe.once.Do(func() {
		dir := Bin
		if dir == "" {
			if dir, probe.err = os.MkdirTemp("", "tincan-test-bin-"); probe.err != nil {
				return
			}
			atExit = append(atExit, func() { os.RemoveAll(dir) })
			os.Chmod(dir, 0o755) // the rootless tests run it as nobody
		}
		_, here, _, _ := runtime.Caller(0) // .../pkg/testenv/probe.go
		src := filepath.Join(filepath.Dir(here), "..", "cmd", "probe")
		probe.err = Build(src, dir)
		probe.path = filepath.Join(dir, "probe")
	})
	if probe.err != nil {
		t.Fatalf("testenv: build the probe: %v", probe.err)
	}
	return probe.path
}
