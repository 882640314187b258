package main

import (
	"bufio"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/stretchr/testify/require"

	"tincan.dev/pkg/testenv"
)

// stopDuringStartup starts can with args, waits until its trace (-v) shows
// a line containing point ("" sends at once), sends SIGTERM, and returns how
// can ended: its exit code, or 128+N when signal N killed it (a SIGTERM
// before can has its handlers: nothing exists yet to tear down).
func stopDuringStartup(t *testing.T, point string, args ...string) int {
	t.Helper()
	cmd := exec.Command(canBin(), append([]string{"-v", "--stop-timeout", "60s"}, args...)...)
	stderr, err := cmd.StderrPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	lines := bufio.NewScanner(stderr)
	for point != "" && lines.Scan() && !strings.Contains(lines.Text(), point) {
	}
	require.NoError(t, cmd.Process.Signal(syscall.SIGTERM))
	go io.Copy(io.Discard, stderr)
	cmd.Wait()
	ws := cmd.ProcessState.Sys().(syscall.WaitStatus)
	if ws.Signaled() {
		return 128 + int(ws.Signal())
	}
	return ws.ExitStatus()
}

// A SIGTERM at any point of start-up ends the container at once with 143,
// with --init: PID 1 handles it from before CMD exists and passes it on.
// A lost signal shows as 137, after the 60 s stop timeout.
func TestSIGTERMDuringStartupInit(t *testing.T) {
	testenv.NeedRoot(t)
	root := rootWithProbe(t)
	// Before "go" (clone), in the child's setup (pivot_root), as CMD starts.
	points := []string{"", "clone(", "pivot_root(", "execve("}
	for i := 0; i < 24; i++ {
		p := points[i%len(points)]
		code := stopDuringStartup(t, p, "--init", "--chroot", root, "--", "sleep", "60")
		require.Equal(t, 143, code, "SIGTERM after %q: lost, or not passed on", p)
	}
	requireNoState(t)
}

// A reader that goes away (can -v ... | head) must not end can before its
// teardown: Go kills a program that writes to a broken stdout or stderr,
// unless it catches SIGPIPE, and a can killed half way leaves its cgroup
// and state for can cleanup.
func TestReaderGone(t *testing.T) {
	testenv.NeedRoot(t)
	r, w, err := os.Pipe()
	require.NoError(t, err)
	r.Close() // as head's, once it has its lines
	cmd := exec.Command(canBin(), "-v", "--chroot", testenv.Rootfs(t), "/bin/true")
	cmd.Stderr = w
	err = cmd.Run()
	w.Close()
	require.NoError(t, err, "can died of its stderr's reader going away")
	requireNoState(t)

	// Caught by can, not ignored: CMD gets SIGPIPE's default action back.
	out := can(t, "--chroot", testenv.Rootfs(t), "cat", "/proc/self/status")
	require.Equal(t, 0, out.Code, out.Stderr)
	ignored, err := strconv.ParseUint(statusField(out.Stdout, "SigIgn"), 16, 64)
	require.NoError(t, err, out.Stdout)
	require.Zero(t, ignored&(1<<(syscall.SIGPIPE-1)), "SIGPIPE is ignored in CMD")
}
