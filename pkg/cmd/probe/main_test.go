package main

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"tincan.dev/pkg/ns"
	"tincan.dev/pkg/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// probe runs the probe binary and returns its output; it must exit 0.
func probe(t *testing.T, args ...string) (string, *exec.Cmd) {
	t.Helper()
	cmd := exec.Command(testenv.Probe(t), args...)
	r := testenv.Run(t, cmd)
	require.Equal(t, 0, r.Code, "probe %v: %s", args, r.Stderr)
	return r.Stdout, cmd
}

// The probe runs in the test's own namespaces, as the test's child, so each
// answer can be checked against what the test sees itself.
func TestMyPid(t *testing.T) {
	out, cmd := probe(t, "mypid")
	require.Equal(t, fmt.Sprintf("pid %d\nppid %d\n", cmd.Process.Pid, os.Getpid()), out)
}

func TestNamespaces(t *testing.T) {
	out, _ := probe(t, "ns")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	require.GreaterOrEqual(t, len(lines), 7, out)
	for _, line := range lines {
		kind, inode, _ := strings.Cut(line, " ")
		want, err := ns.Inode(0, kind)
		require.NoError(t, err)
		require.Equal(t, fmt.Sprint(want), inode, kind)
	}
}

func TestCaps(t *testing.T) {
	out, _ := probe(t, "caps")
	status, err := os.ReadFile("/proc/self/status")
	require.NoError(t, err)
	var keys []string
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		k, v, _ := strings.Cut(line, " ")
		keys = append(keys, k)
		if k == "CapBnd" || k == "NoNewPrivs" || k == "Seccomp" { // inherited as they are
			require.Contains(t, string(status), k+":\t"+v+"\n")
		}
	}
	require.Equal(t, []string{"CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb", "NoNewPrivs", "Seccomp"}, keys)
}

func TestMounts(t *testing.T) {
	out, _ := probe(t, "mounts")
	require.Contains(t, "\n"+out, "\n/proc proc\n")
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		require.Len(t, strings.Fields(line), 2, line)
	}
}

func TestUIDAndHostname(t *testing.T) {
	out, _ := probe(t, "uid")
	require.True(t, strings.HasPrefix(out, fmt.Sprintf("uid %d\ngid %d\nuid_map ", os.Getuid(), os.Getgid())), out)
	require.Contains(t, out, "\ngid_map ")
	out, _ = probe(t, "hostname")
	host, err := os.Hostname()
	require.NoError(t, err)
	require.Equal(t, host+"\n", out)
}

// Without a filter clone3 reaches the kernel, which refuses size 0; mount is
// refused for a missing capability (nobody) or for the missing file system
// type (root), and nothing gets mounted.
func TestSyscall(t *testing.T) {
	out, _ := probe(t, "syscall", "clone3")
	require.Equal(t, "EINVAL\n", out)
	out, _ = probe(t, "syscall", "fork")
	require.Equal(t, "ok\n", out)
	out, _ = probe(t, "syscall", "1000") // a number no kernel has
	require.Equal(t, "ENOSYS\n", out)
	if testenv.Root() && !testing.Short() { // as root, and as nobody: NeedRoot's tests
		out, _ = probe(t, "syscall", "mount")
		require.Equal(t, "ENODEV\n", out)
		cmd := exec.Command(testenv.Probe(t), "syscall", "mount")
		testenv.AsNobody(t, cmd)
		r := testenv.Run(t, cmd)
		require.Equal(t, "EPERM\n", r.Stdout, r.Stderr)
	}
}

func TestUsage(t *testing.T) {
	for _, args := range [][]string{nil, {"nosuch"}, {"syscall"}, {"syscall", "nosuch"}, {"syscall", "-1"}} {
		r := testenv.Run(t, exec.Command(testenv.Probe(t), args...))
		require.Equal(t, 2, r.Code, "%v", args)
		require.Contains(t, r.Stderr, "usage: probe")
	}
}

// The SYN's checksums are right: summed with them, each comes to zero.
func TestSynPacket(t *testing.T) {
	src, dst := net.IPv4(10, 77, 0, 2).To4(), net.IPv4(127, 0, 0, 1).To4()
	p := synPacket(src, dst, 40001, 7777)
	require.Len(t, p, 40)
	require.Equal(t, uint16(0), csum(p[:20]), "IP header checksum")
	pseudo := append(append(append([]byte{}, src...), dst...), 0, 6, 0, 20)
	require.Equal(t, uint16(0), csum(append(pseudo, p[20:]...)), "TCP checksum")
	require.Equal(t, byte(0x02), p[33], "SYN only")
}
