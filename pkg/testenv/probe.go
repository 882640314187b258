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
// It is built once per test process, with CGO_ENABLED=0, into Bin; when Main
// was given nothing to build, Probe makes Bin itself, and Main removes it at
// the end as usual. So call it only in tests run by Main.
func Probe(t testing.TB) string {
	t.Helper()
	probe.once.Do(func() {
		if Bin == "" {
			if Bin, probe.err = os.MkdirTemp("", "tincan-test-bin-"); probe.err != nil {
				return
			}
			os.Chmod(Bin, 0o755) // the rootless tests run it as nobody
		}
		_, here, _, _ := runtime.Caller(0) // .../pkg/testenv/probe.go
		src := filepath.Join(filepath.Dir(here), "..", "cmd", "probe")
		probe.err = Build(src, Bin)
		probe.path = filepath.Join(Bin, "probe")
	})
	if probe.err != nil {
		t.Fatalf("build the probe: %v", probe.err)
	}
	return probe.path
}
