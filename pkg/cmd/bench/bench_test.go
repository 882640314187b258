package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"tincan.dev/pkg/harden"
	"tincan.dev/pkg/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// The row "bwrap, can's hardening" must be what it says: bwrap's command
// runs under can's seccomp program (which bwrap refuses if writeFilter got
// its layout wrong), Docker's capabilities, a masked /proc/keys and a
// read-only /proc/sys.
func TestHardenedBwrap(t *testing.T) {
	testenv.NeedRoot(t)
	if _, err := exec.LookPath("bwrap"); err != nil {
		t.Skip("bwrap not installed: apt-get install bubblewrap")
	}
	if _, err := os.Stat("/proc/keys"); err != nil {
		t.Skip("no /proc/keys on this kernel to see masked")
	}
	filter := filepath.Join(t.TempDir(), "seccomp.bpf")
	require.NoError(t, writeFilter(filter, harden.DefaultFilter()))
	f, err := os.Open(filter)
	require.NoError(t, err)
	defer f.Close()
	script := "grep -E '^(Seccomp|CapEff):' /proc/self/status; hostname; wc -c </proc/keys; " +
		"echo x 2>/dev/null >/proc/sys/kernel/hostname && echo WROTE /proc/sys; exit 0"
	argv := hardenedBwrap(testenv.Rootfs(t), "/bin/sh", "-c", script)
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.ExtraFiles = []*os.File{f}
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "%s", out)
	keep, err := harden.CapMask(harden.DefaultCaps())
	require.NoError(t, err)
	want := fmt.Sprintf("CapEff:\t%016x\nSeccomp:\t2\ntincan-bench\n0\n", keep)
	require.Equal(t, want, string(out))
}
