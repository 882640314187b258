package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/stretchr/testify/require"

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
	r = run("--memory", "8M", "true")
	require.Equal(t, 125, r.Code)
	require.Contains(t, r.Stderr, "needs root")
	require.Equal(t, 1, strings.Count(r.Stderr, "\n"), r.Stderr)
}
