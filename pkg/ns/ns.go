// Package ns names namespaces and changes what a UTS namespace holds.
//
// Every namespace has an identity: the inode number of /proc/<pid>/ns/<kind>.
// Two processes share a namespace exactly when those inodes are equal, which is
// how the tests check that a lesson really made a new one (namespaces(7),
// "The /proc/[pid]/ns/ directory").
package ns

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"syscall"

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

// CheckHostname refuses a name that is not a host name, before any namespace
// exists, so the user gets the reason rather than EINVAL or a broken file.
//
// sethostname(2) takes any 64 bytes, newlines included; but the name is also
// written into the container's /etc/hosts, where "box\n6.6.6.6 bank" would
// add a line. So the name must be one RFC 1123 allows (section 2.1): labels
// of letters, digits and hyphens, joined by dots, each 1 to 63 long and
// neither starting nor ending with a hyphen. RFC 1123 allows 253 bytes in
// all; the kernel's 64 is the tighter bound.
func CheckHostname(name string) error {
	switch {
	case name == "":
		return fmt.Errorf("hostname is empty: give a name of 1 to %d bytes", HostnameMax)
	case len(name) > HostnameMax:
		return fmt.Errorf("hostname %.20q... is %d bytes: the kernel takes at most %d (HOST_NAME_MAX)", name, len(name), HostnameMax)
	}
	for _, label := range strings.Split(name, ".") {
		if err := checkLabel(label); err != nil {
			return fmt.Errorf("hostname %q: %s: use letters, digits, '-' and '.' (RFC 1123)", name, err)
		}
	}
	return nil
}

// checkLabel says what is wrong with one dot-separated part of a host name.
func checkLabel(l string) error {
	switch {
	case l == "":
		return errors.New("empty label (two dots, or a dot at an end)")
	case len(l) > 63:
		return fmt.Errorf("label %.20q... is %d bytes, more than 63", l, len(l))
	case l[0] == '-' || l[len(l)-1] == '-':
		return fmt.Errorf("label %q starts or ends with '-'", l)
	}
	for _, c := range l {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-') {
			return fmt.Errorf("%q is not allowed", c)
		}
	}
	return nil
}

// Sethostname sets the hostname of the calling process's UTS namespace: with
// CLONE_NEWUTS that is the container's own, and the host keeps its name.
func Sethostname(name string) error {
	if err := CheckHostname(name); err != nil {
		return err
	}
	return trace.Sethostname(name)
}
