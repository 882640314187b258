package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/vishvananda/netlink"

	"tincan.dev/pkg/testenv"
)

// can -v cleanup cleans, tracing, instead of running "cleanup" as a command,
// and says what it removed: here the state and cgroup of a can killed by
// SIGKILL, which could not tear down its container itself.
func TestVerboseCleanupSaysWhatItRemoved(t *testing.T) {
	testenv.NeedRoot(t)
	cleanupAll(t)
	c := exec.Command(canBin(), "sleep", "100")
	require.NoError(t, c.Start())
	var id string
	for deadline := time.Now().Add(10 * time.Second); id == "" && time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		for s := range stateIDs() {
			id = s
		}
	}
	require.NotEmpty(t, id, "no state directory in /run/tincan 10s after can started")
	require.NoError(t, c.Process.Signal(syscall.SIGKILL))
	c.Wait()

	r := can(t, "-v", "cleanup")
	require.Equal(t, 0, r.Code, r.Stderr)
	require.Contains(t, r.Stdout, "removed container "+id+"\n", "can -v cleanup did not say what it removed")
	require.Contains(t, r.Stderr, `rmdir("`, "can -v cleanup traced no kernel call")
	require.Empty(t, stateIDs(), "can -v cleanup left a state directory")

	r = can(t, "cleanup")
	require.Equal(t, 0, r.Code, r.Stderr)
	require.NotContains(t, r.Stdout, "container "+id, "a second cleanup still finds the container")
}

// A bridge gone without can (deleted by hand, or with the network namespace
// it was made in) leaves its address allocator's lock and last address:
// cleanup --all removes them, and says so.
func TestCleanupAllRemovesStaleAddresses(t *testing.T) {
	testenv.NeedRoot(t)
	cleanupAll(t)
	_, err := netlink.LinkByName("tincan0")
	require.Error(t, err, "a bridge exists: this test needs none")
	dir := "/run/tincan/ipam/10.77.0.0-16"
	require.NoError(t, os.MkdirAll(dir, 0o755))
	for _, f := range []string{"lock", "last"} {
		require.NoError(t, os.WriteFile(filepath.Join(dir, f), nil, 0o644))
	}

	r := can(t, "cleanup")
	require.Equal(t, 0, r.Code, r.Stderr)
	require.Contains(t, r.Stdout, "kept bridge addresses /run/tincan/ipam: containers share it (can cleanup --all removes it)\n")
	require.DirExists(t, dir)
	r = can(t, "cleanup", "--all")
	require.Equal(t, 0, r.Code, r.Stderr)
	require.Contains(t, r.Stdout, "removed bridge addresses /run/tincan/ipam\n")
	require.NoDirExists(t, "/run/tincan")
}
