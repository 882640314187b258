package testenv

import (
	"os/exec"
	"runtime"
	"syscall"
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"tincan.dev/pkg/network"
)

// Netns starts a process that holds a new network namespace, for a test to
// play another host in, and returns its pid. It is killed when the test ends.
func Netns(t testing.TB) int {
	t.Helper()
	cmd := exec.Command("sleep", "infinity")
	cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: unix.CLONE_NEWNET}
	require.NoError(t, cmd.Start())
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	return cmd.Process.Pid
}

// Wire makes a new network namespace joined to ours by a veth: link name
// with hostAddr/24 here, eth0 with peerAddr/24 inside. It returns its pid.
func Wire(t testing.TB, name, hostAddr, peerAddr string) int {
	t.Helper()
	pid := Netns(t)
	v := network.Veth{Host: name, HostAddr: network.MustCIDR(hostAddr + "/24"), Peer: "eth0", PeerAddr: network.MustCIDR(peerAddr + "/24"), PeerPid: pid}
	require.NoError(t, v.Add())
	t.Cleanup(func() { network.Delete(name) })
	return pid
}

// InNetns runs f on a thread inside the network namespace of pid (0: ours),
// then moves the thread back. A socket belongs to the namespace it was made
// in, whatever thread uses it later.
func InNetns(t testing.TB, pid int, f func()) {
	t.Helper()
	if pid == 0 {
		f()
		return
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	here, err := netns.Get()
	require.NoError(t, err)
	defer here.Close()
	there, err := netns.GetFromPid(pid)
	require.NoError(t, err)
	defer there.Close()
	require.NoError(t, netns.Set(there))
	defer func() {
		if err := netns.Set(here); err != nil {
			panic(err) // this thread must not go back to the pool
		}
	}()
	f()
}
