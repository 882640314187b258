package main

import (
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"tincan.dev/pkg/testenv"
)

// openNodes makes a node for each "name type major minor redirection" and
// opens it (redirection < to read, > to write, <> both), printing OPENED name
// when the kernel lets it.
func openNodes(nodes ...string) string {
	var b strings.Builder
	for _, n := range nodes {
		f := strings.Fields(n)
		b.WriteString("mknod /tmp/" + f[0] + " " + f[1] + " " + f[2] + " " + f[3] + " || echo MKNOD FAILED " + f[0] + "\n")
		b.WriteString("(exec 3" + f[4] + "/tmp/" + f[0] + ") 2>&1 && echo OPENED " + f[0] + "\n")
	}
	return b.String() + "exit 0\n"
}

// The attack of issue 10: root in a default container keeps CAP_MKNOD, makes
// nodes for the host's devices and opens them. The device cgroup must refuse
// every open with EPERM: /dev/kvm (no such device on many hosts: then the
// open would fail with ENXIO, not EPERM, without the allowlist), /dev/kmsg
// (a write forges lines in the host's kernel log), and a block device, the
// first loop device, standing for the host's disk.
func TestDevicesAttack(t *testing.T) {
	testenv.NeedRoot(t) // the device cgroup and pids.max are root's
	root := rootWithProbe(t)
	if _, err := os.Stat("/dev/loop0"); err != nil {
		t.Skip("no /dev/loop0 on this machine to attack (modprobe loop)")
	}
	r := can(t, "--chroot", root, "--", "sh", "-c", openNodes("kvm c 10 232 <>", "kmsg c 1 11 >", "loop b 7 0 <"))
	require.Equal(t, 0, r.Code, r.Stderr)
	require.NotContains(t, r.Stdout, "OPENED")
	require.NotContains(t, r.Stdout, "MKNOD FAILED", "making a node is allowed, as in Docker; opening it is not")
	require.Equal(t, 3, strings.Count(r.Stdout, "Operation not permitted"), r.Stdout)

	// Docker's --privileged keeps every device: so does can's.
	r = can(t, "--privileged", "--chroot", root, "--", "sh", "-c", "rm /tmp/loop; "+openNodes("loop b 7 0 <"))
	require.Equal(t, "OPENED loop\n", r.Stdout, r.Stderr)

	// Even then, the tmpfs mounts can makes are nodev, as Docker's: a node
	// there opens nothing (EACCES, from the mount, not the cgroup).
	script := "for d in /scratch /dev/shm; do mknod $d/loop b 7 0; (exec 3<$d/loop) 2>&1 && echo OPENED $d; done; exit 0"
	r = can(t, "--privileged", "--tmpfs", "/scratch", "--chroot", root, "--", "sh", "-c", script)
	require.Equal(t, 0, r.Code, r.Stderr)
	require.NotContains(t, r.Stdout, "OPENED")
	require.Equal(t, 2, strings.Count(r.Stdout, "Permission denied"), r.Stdout)
}

// The devices every container needs still work, as do terminals; /dev is
// nosuid and noexec, so a program copied there does not run.
func TestDevicesAllowed(t *testing.T) {
	testenv.NeedRoot(t) // the device cgroup and pids.max are root's
	root := rootWithProbe(t)
	script := `echo discarded >/dev/null && echo null ok
head -c 3 /dev/zero | wc -c
head -c 3 /dev/urandom | wc -c
head -c 3 /dev/random | wc -c
echo x 2>&1 >/dev/full | grep -q "No space left" && echo full ok
(exec 3<>/dev/ptmx) 2>&1 && echo ptmx ok
(exec 3<>/dev/tty) 2>&1 && echo tty ok
cp /bin/busybox /dev/true && /dev/true 2>&1 || echo noexec ok
grep " /dev " /proc/self/mountinfo`
	r := can(t, "--chroot", root, "--", "sh", "-c", script)
	require.Equal(t, 0, r.Code, r.Stderr)
	lines := strings.Split(r.Stdout, "\n")
	require.Equal(t, []string{"null ok", "3", "3", "3", "full ok", "ptmx ok"}, lines[:6], r.Stdout)
	// Without a controlling terminal (as under go test): ENXIO, from the
	// tty driver; never EPERM, from the device cgroup.
	if lines[6] != "tty ok" {
		require.Contains(t, lines[6], "No such device or address")
	}
	require.Contains(t, lines[7], "Permission denied")
	require.Equal(t, "noexec ok", lines[8])
	require.Contains(t, lines[9], "nosuid")
	require.Contains(t, lines[9], "noexec")
}

// --pids counts processes and threads. can's own child is a Go program with
// several threads until it execs CMD: the limit must count CMD only, with no
// Go runtime crash ("failed to create new OS thread", exit 2) at any value.
func TestPidsLowLimits(t *testing.T) {
	testenv.NeedRoot(t) // the device cgroup and pids.max are root's
	root := rootWithProbe(t)
	for _, tc := range []struct {
		pids, script string
		code         int
		stderr       string
	}{
		{"1", "true", 0, ""},
		{"3", "sleep 0 & sleep 0 & wait", 0, ""},
		{"2", "sleep 0 & sleep 0 & wait", 2, "sh: can't fork: Resource temporarily unavailable\n"},
	} {
		r := can(t, "--pids", tc.pids, "--chroot", root, "--", "sh", "-c", tc.script)
		require.Equal(t, tc.code, r.Code, "--pids %s: %s", tc.pids, r.Stderr)
		require.Equal(t, tc.stderr, r.Stderr, "--pids %s", tc.pids)
	}
	r := can(t, "--pids", "1", "--chroot", root, "/bin/true")
	require.Equal(t, 0, r.Code, r.Stderr)
	require.Empty(t, r.Stderr)

	// In a user namespace the child could not open the host's pids.max; it
	// writes the one can opened for it.
	r = can(t, "--user-ns", "--pids", "2", "--chroot", root, "--", "sh", "-c", "sleep 0 & sleep 0 & wait")
	require.Equal(t, "sh: can't fork: Resource temporarily unavailable\n", r.Stderr)

	// With --init, stage 2 writes the limit, and it holds. (can's PID 1
	// counts too, with its threads, as tini does under docker --init.)
	r = can(t, "--init", "--pids", "20", "--chroot", root, "--", "sh", "-c", "for i in $(seq 30); do sleep 1 & done; wait")
	require.Contains(t, r.Stderr, "sh: can't fork: Resource temporarily unavailable\n")
	require.NotContains(t, r.Stderr, "runtime")
}
