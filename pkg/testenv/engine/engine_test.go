package engine_test

import (
	"os"
	"os/exec"
	"testing"

	"tincan.dev/pkg/testenv"
	"tincan.dev/pkg/testenv/engine"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// TestRunc proves the harness with runc, the reference the engines were
// written for: about a minute and a half, so only when asked.
// TINCAN_ENGINES=1 uses runc from $PATH; TINCAN_ENGINES=/path/to/runtime
// drives another runtime the same way.
func TestRunc(t *testing.T) {
	rt := os.Getenv("TINCAN_ENGINES")
	switch rt {
	case "":
		t.Skip("drives podman, containerd and docker (apt-get install podman containerd docker.io runc): TINCAN_ENGINES=1 go test ./pkg/testenv/engine")
	case "1":
		p, err := exec.LookPath("runc")
		if err != nil {
			t.Skip("runc not found: apt-get install runc")
		}
		rt = p
	}
	engine.Test(t, rt)
}
