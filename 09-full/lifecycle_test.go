package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/stretchr/testify/require"

	"tincan.dev/pkg/cgroup"
	"tincan.dev/pkg/testenv"
)

// A setup step that fails half way (here chdir, after every mount) is one
// line, exit 125, and leaves nothing: no state, cgroup, work dir.
func TestTeardownOnSetupFailure(t *testing.T) {
	testenv.NeedRoot(t)
	dir := demoLayers(t)
	r := can(t, "--fs", dir, "--memory", "64M", "-w", "/nonexistent", "--", "true")
	require.Equal(t, 125, r.Code)
	require.Equal(t, "can: -w /nonexistent: chdir /nonexistent: no such file or directory\n", r.Stderr)
	requireNoState(t)
	works, _ := filepath.Glob(filepath.Join(dir, ".work-*"))
	require.Empty(t, works)
}

// SIGTERM to can: passed to the container; a PID 1 without a handler ignores
// it, so after --stop-timeout can kills it, and tears down.
func TestSIGTERMTeardown(t *testing.T) {
	testenv.NeedRoot(t)
	cmd := exec.Command(canBin(), "--stop-timeout", "200ms", "--memory", "64M", "--", "sh", "-c", "echo up; exec sleep 60")
	stdout, _ := cmd.StdoutPipe()
	require.NoError(t, cmd.Start())
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	buf := make([]byte, 3)
	_, err := stdout.Read(buf)
	require.NoError(t, err)
	require.NoError(t, cmd.Process.Signal(syscall.SIGTERM))
	cmd.Wait()
	require.Equal(t, 137, cmd.ProcessState.ExitCode(), "want SIGKILL after the stop timeout")
	requireNoState(t)
}

// Nothing of can's own open files reaches CMD: only 0, 1 and 2 (and the
// directory ls reads /proc/self/fd with).
func TestFDsClosed(t *testing.T) {
	testenv.NeedRoot(t)
	f, err := os.Open("/etc/hostname")
	require.NoError(t, err)
	defer f.Close()
	cmd := exec.Command(canBin(), "--chroot", rootWithProbe(t), "--", "ls", "/proc/self/fd")
	cmd.ExtraFiles = []*os.File{f} // fd 3 of can
	r := testenv.Run(t, cmd)
	require.Equal(t, 0, r.Code, r.Stderr)
	require.Equal(t, []string{"0", "1", "2", "3"}, strings.Fields(r.Stdout), "3 is ls's own directory fd; more is a leak")
	r = testenv.Run(t, exec.Command(canBin(), "--chroot", rootWithProbe(t), "--", "readlink", "/proc/self/fd/3"))
	require.NotEqual(t, 0, r.Code, "fd 3 is open in CMD: %s", r.Stdout)
}

func TestNoPivot(t *testing.T) {
	testenv.NeedRoot(t)
	r := can(t, "--no-pivot", "-v", "--chroot", rootWithProbe(t), "--", "ls", "/probe")
	require.Equal(t, 0, r.Code, r.Stderr)
	require.Equal(t, "/probe\n", r.Stdout)
	require.Contains(t, r.Stderr, "+ chroot(")
	require.NotContains(t, r.Stderr, "pivot_root")
}

// --user-ns as root: root inside is uid 100000 outside.
func TestUserNS(t *testing.T) {
	testenv.NeedRoot(t)
	r := can(t, "--user-ns", "--chroot", rootWithProbe(t), "--", "sh", "-c", "id -u; cat /proc/self/uid_map")
	require.Equal(t, 0, r.Code, r.Stderr)
	require.Equal(t, []string{"0", "0", "100000", "65536"}, strings.Fields(r.Stdout))
}

// As an ordinary user can adds a user namespace by itself, and refuses in
// words what rootless cannot do.
func TestRootless(t *testing.T) {
	root := rootWithProbe(t)
	run := func(args ...string) testenv.Result {
		cmd := exec.Command(canBin(), args...)
		testenv.AsNobody(t, cmd)
		return testenv.Run(t, cmd)
	}
	r := run("--chroot", root, "--", "sh", "-c", "id -u; grep CapEff /proc/self/status")
	if r.Code == 125 && strings.Contains(r.Stderr, "user namespace") {
		t.Skipf("the kernel refuses unprivileged user namespaces here: %s", r.Stderr)
	}
	require.Equal(t, 0, r.Code, r.Stderr)
	require.Equal(t, "0\nCapEff:\t00000000a80425fb\n", r.Stdout)

	r = run("--net", "bridge", "true")
	require.Equal(t, 125, r.Code)
	require.Contains(t, r.Stderr, "--net bridge: creating a bridge and NAT rules on the host needs root")
	// The suite's own cgroup is not delegated to nobody (TestRootlessDelegated
	// makes one that is).
	r = run("--memory", "8M", "true")
	require.Equal(t, 125, r.Code)
	require.Contains(t, r.Stderr, "can: a memory limit without root needs ")
	require.Equal(t, 1, strings.Count(r.Stderr, "\n"), r.Stderr)
}

// In a cgroup v2 subtree delegated to the user (systemd's Delegate=yes) the
// limits work without root: the container's cgroup is tincan/65534-<id>
// there, CMD sees its limits, the OOM killer is reported, and nothing is
// left behind.
func TestRootlessDelegated(t *testing.T) {
	readString := func(t *testing.T, path string) string {
		b, err := os.ReadFile(path)
		require.NoError(t, err)
		return string(b)
	}
	dir := testenv.Delegate(t)
	root := rootWithProbe(t)
	run := func(args ...string) testenv.Result {
		cmd := exec.Command(canBin(), append([]string{"--chroot", root}, args...)...)
		testenv.InCgroup(t, cmd, dir)
		return testenv.RunAsNobody(t, cmd)
	}
	// Seen from the host while it runs (inside, /sys is the host's, bound:
	// a user namespace may not mount a sysfs): its limits, and the uid in
	// its name, as in root's tincan/ (pkg/owner).
	cmd := exec.Command(canBin(), "--chroot", root, "--memory", "32M", "--pids", "16", "--cpus", "0.5", "--", "sh", "-c", "echo up; read x; exit 0")
	testenv.InCgroup(t, cmd, dir)
	testenv.AsNobody(t, cmd)
	done := holding(t, cmd, "up\n")
	running, err := filepath.Glob(filepath.Join(dir, "tincan", "*", "cgroup.procs"))
	require.NoError(t, err)
	require.Len(t, running, 1)
	running[0] = filepath.Dir(running[0])
	require.Regexp(t, `^65534-[0-9a-f]{12}$`, filepath.Base(running[0]))
	for file, want := range map[string]string{"memory.max": "33554432\n", "pids.max": "16\n", "cpu.max": "50000 100000\n"} {
		require.Equal(t, want, readString(t, filepath.Join(running[0], file)), file)
	}
	done()

	// A second can starts where the first moved its caller: tincan-init.
	dir = filepath.Join(dir, cgroup.InitGroup)
	r := run("--memory", "8M", "--", "sh", "-c", "x=a; while true; do x=$x$x; done")
	require.Equal(t, 137, r.Code, r.Stderr)
	require.Contains(t, r.Stderr, "can: killed by the OOM killer: memory limit 8 MiB reached")
	require.NoDirExists(t, filepath.Join(filepath.Dir(dir), "tincan"), "can left its cgroup in the delegated subtree")
}
