package testenv

import (
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestMain(m *testing.M) { Main(m) }

func set(paths []string) map[string]bool {
	s := map[string]bool{}
	for _, p := range paths {
		s[p] = true
	}
	return s
}

// A cgroup left below a hierarchy's tincan directory is seen on a v2 host,
// where it is <root>/tincan/<id>, and on a hybrid one, in a v1 hierarchy or
// in the cgroup2 beside them. Mounts of something else, or of a hierarchy's
// subdirectory, are not where tincan makes cgroups.
func TestCgroupDirsOnEveryLayout(t *testing.T) {
	v2, hybrid := t.TempDir(), t.TempDir()
	mountinfo := fmt.Sprintf(`24 1 0:22 / %[1]s rw,nosuid,nodev,noexec,relatime shared:9 - cgroup2 cgroup2 rw,nsdelegate
30 1 0:26 / %[2]s ro,nosuid shared:10 - tmpfs tmpfs ro,mode=755
31 30 0:27 / %[2]s/unified rw,relatime shared:11 - cgroup2 cgroup2 rw
35 30 0:32 / %[2]s/memory rw,relatime shared:15 - cgroup cgroup rw,memory
36 30 0:33 /sub %[2]s/elsewhere rw,relatime - cgroup2 cgroup2 rw
`, v2, hybrid)
	for _, d := range []string{"unified", "memory", "elsewhere/tincan/x", "tincan/y"} {
		require.NoError(t, os.MkdirAll(filepath.Join(hybrid, d), 0o755))
	}
	before := cgroupDirs(mountinfo)
	require.Empty(t, before)

	leaks := []string{
		filepath.Join(v2, "tincan/0123456789ab"),
		filepath.Join(hybrid, "memory/tincan/0123456789ab"),
		filepath.Join(hybrid, "unified/tincan/tincan-test-x/nested"),
	}
	for _, l := range leaks {
		require.NoError(t, os.MkdirAll(l, 0o755))
	}
	require.ElementsMatch(t, []string{
		filepath.Join(hybrid, "memory/tincan"),
		filepath.Join(hybrid, "memory/tincan/0123456789ab"),
		filepath.Join(hybrid, "unified/tincan"),
		filepath.Join(hybrid, "unified/tincan/tincan-test-x"),
		filepath.Join(hybrid, "unified/tincan/tincan-test-x/nested"),
		filepath.Join(v2, "tincan"),
		filepath.Join(v2, "tincan/0123456789ab"),
	}, diff(set(before), set(cgroupDirs(mountinfo))))
}

// A run whose test leaves a cgroup on the cgroup2 hierarchy fails, naming
// it. The run is this test binary again, in a sandbox of its own, running
// only TestHelperLeaksACgroup.
func TestLeakedCgroupFailsTheRun(t *testing.T) {
	NeedRoot(t)
	mountinfo, err := os.ReadFile("/proc/self/mountinfo")
	require.NoError(t, err)
	var root string
	for _, line := range strings.Split(string(mountinfo), "\n") {
		if f := strings.Fields(line); len(f) > 8 && f[3] == "/" && strings.Contains(line, " - cgroup2 ") {
			root = f[4]
		}
	}
	if root == "" {
		t.Skip("no cgroup2 hierarchy mounted here")
	}
	// Not named tincan-test-*, like pkg/cgroup's test cgroups, which the
	// glob /sys/fs/cgroup/*/tincan* this check once was matched on v2 by
	// chance; nor like can's 12-digit IDs, which another run's check
	// would take for its own.
	leak := filepath.Join(root, "tincan", fmt.Sprintf("leak-%08x", rand.Uint32()))
	t.Cleanup(func() {
		os.Remove(leak)
		os.Remove(filepath.Dir(leak)) // fails, as it should, while another cgroup is in it
	})
	cmd := exec.Command("/proc/self/exe", "-test.run=^TestHelperLeaksACgroup$")
	for _, e := range os.Environ() {
		if !strings.HasPrefix(e, sandboxEnv+"=") {
			cmd.Env = append(cmd.Env, e)
		}
	}
	cmd.Env = append(cmd.Env, "TINCAN_TEST_LEAK="+leak)
	out, err := cmd.CombinedOutput()
	require.DirExists(t, leak, "the helper made no cgroup:\n%s", out)
	require.Error(t, err, "a run that left %s passed:\n%s", leak, out)
	require.Contains(t, string(out), "left these on the host:")
	require.Contains(t, string(out), "cgroup "+leak+"\n")
}

// TestHelperLeaksACgroup makes the cgroup $TINCAN_TEST_LEAK and leaves it.
func TestHelperLeaksACgroup(t *testing.T) {
	leak := os.Getenv("TINCAN_TEST_LEAK")
	if leak == "" {
		t.Skip("run by TestLeakedCgroupFailsTheRun")
	}
	require.NoError(t, os.MkdirAll(leak, 0o755))
}
