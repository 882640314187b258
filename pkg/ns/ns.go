// Package ns names namespaces and changes what a UTS namespace holds.
//
// Every namespace has an identity: the inode number of /proc/<pid>/ns/<kind>.
// Two processes share a namespace exactly when those inodes are equal, which is
// how the tests check that a lesson really made a new one (namespaces(7),
// "The /proc/[pid]/ns/ directory").
package ns

import (
	"fmt"
	"os"
	"syscall"

	"golang.org/x/sys/unix"

	"tincan.dev/pkg/trace"
)

// Inode returns the identity of process pid's namespace of the given kind
// ("net", "mnt", "uts", "ipc", "pid", "user", "cgroup"); pid 0 means self.
func Inode(pid int, kind string) (uint64, error) {
	p := fmt.Sprintf("/proc/%d/ns/%s", pid, kind)
	if pid == 0 {
		p = "/proc/self/ns/" + kind
	}
	fi, err := os.Stat(p)
	if err != nil {
		return 0, err
	}
	return fi.Sys().(*syscall.Stat_t).Ino, nil
}

// HostnameMax is the longest hostname the kernel takes (HOST_NAME_MAX).
const HostnameMax = 64

// CheckHostname refuses a name sethostname(2) would refuse, before any
// namespace exists, so the user gets the reason rather than EINVAL.
func CheckHostname(name string) error {
	switch {
	case name == "":
		return fmt.Errorf("hostname is empty: give a name of 1 to %d bytes", HostnameMax)
	case len(name) > HostnameMax:
		return fmt.Errorf("hostname %.20q... is %d bytes: the kernel takes at most %d (HOST_NAME_MAX)", name, len(name), HostnameMax)
	}
	return nil
}

// Sethostname sets the hostname of the calling process's UTS namespace: with
// CLONE_NEWUTS that is the container's own, and the host keeps its name.
func Sethostname(name string) error {
	if err := CheckHostname(name); err != nil {
		return err
	}
	trace.Call("sethostname(%q, %d)", name, len(name))
	if err := unix.Sethostname([]byte(name)); err != nil {
		return fmt.Errorf("sethostname %q: %w", name, err)
	}
	return nil
}
