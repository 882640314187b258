package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"tincan.dev/pkg/testenv"
)

// runc's CVE-2024-21626, as a caller's leak: a directory fd that can's
// caller left open (a shell's exec 7</) must not become a door out of the
// container through -w /proc/self/fd/7. Nor may fd 0 opened on a directory,
// which can cannot close: can checks after chdir that the working directory
// lies inside the new root, or has no /proc yet to follow the link.
func TestInheritedDirFD(t *testing.T) {
	testenv.NeedRoot(t)
	root := rootWithProbe(t)
	secret := filepath.Join(t.TempDir(), "secret")
	require.NoError(t, os.WriteFile(secret, []byte("host secret\n"), 0o644))
	hostRoot, err := os.Open("/")
	require.NoError(t, err)
	defer hostRoot.Close()
	up := "../../../../../../../../../../.." + secret

	cmd := exec.Command(canBin(), "--chroot", root, "-w", "/proc/self/fd/7", "--", "cat", up)
	cmd.ExtraFiles = []*os.File{nil, nil, nil, nil, hostRoot} // fd 7 of can
	r := testenv.Run(t, cmd)
	require.NotContains(t, r.Stdout, "host secret", "read the host's file through an inherited fd")
	require.Equal(t, 125, r.Code, r.Stderr)
	// Refused by chdir itself: the fd was closed before setup began.
	require.Contains(t, r.Stderr, "chdir /proc/self/fd/7: ")

	// Started from a thread of can, can changes directory before PID 1
	// mounts the container's /proc: there is no /proc/self/fd/0 yet.
	// Re-executed (--init), the child has its /proc, and getcwd's check
	// refuses.
	for _, tc := range []struct{ flag, refusal string }{
		{"--init=false", "chdir /proc/self/fd/0: no such file or directory"},
		{"--init", "outside the container's root"},
	} {
		cmd = exec.Command(canBin(), tc.flag, "--chroot", root, "-w", "/proc/self/fd/0", "--", "cat", up)
		cmd.Stdin = hostRoot
		r = testenv.Run(t, cmd)
		require.NotContains(t, r.Stdout, "host secret", "%s: read the host's file through fd 0", tc.flag)
		require.Equal(t, 125, r.Code, r.Stderr)
		require.Contains(t, r.Stderr, tc.refusal, tc.flag)
	}
	requireNoState(t)
}

// The child's marker in the caller's environment neither makes can think it
// is the child nor reaches CMD.
func TestChildMarkerNotFaked(t *testing.T) {
	testenv.NeedRoot(t)
	for _, v := range []string{"_TINCAN_CHILD=1", "_TINCAN_STAGE2={}"} {
		cmd := exec.Command(canBin(), "cleanup")
		cmd.Env = append(os.Environ(), v)
		r := testenv.Run(t, cmd)
		require.Equal(t, 0, r.Code, "%s can cleanup: %s", v, r.Stderr)

		cmd = exec.Command(canBin(), "--init", "--", "sh", "-c", "echo ${_TINCAN_CHILD-unset} ${_TINCAN_STAGE2-unset}")
		cmd.Env = append(os.Environ(), v)
		r = testenv.Run(t, cmd)
		require.Equal(t, 0, r.Code, "%s: %s", v, r.Stderr)
		require.Equal(t, "unset unset\n", r.Stdout)
	}
}

// The Go runtime raises its own soft RLIMIT_NOFILE to the hard limit at
// start, and puts the old one back in the children it starts; PID 1, a
// raw clone of can, must get it back too: CMD sees the limit can's caller
// had (select(2)-based programs need FD_SETSIZE's 1024).
func TestNofileLimit(t *testing.T) {
	testenv.NeedRoot(t)
	var lim unix.Rlimit
	require.NoError(t, unix.Getrlimit(unix.RLIMIT_NOFILE, &lim))
	if lim.Max <= 1024 {
		t.Skipf("the hard RLIMIT_NOFILE is %d: nothing to raise; raise it with ulimit -Hn", lim.Max)
	}
	for _, flag := range []string{"--init=false", "--init"} {
		// Not a simple command, so that sh stays can's parent.
		cmd := exec.Command("sh", "-c", `ulimit -Sn 1024 && "$0" "$@"; exit $?`, canBin(), flag, "--chroot", testenv.Rootfs(t), "sh", "-c", "ulimit -Sn")
		r := testenv.Run(t, cmd)
		require.Equal(t, 0, r.Code, r.Stderr)
		require.Equal(t, "1024\n", r.Stdout, flag)
	}
}
