// Package userns maps user and group ids into a user namespace, and explains
// when the kernel refuses to create one.
//
// A user namespace is the only namespace an unprivileged user may create. Inside
// it the creator holds every capability, over the namespaces it owns: so a user
// who maps their own uid to 0 can then make PID, mount, UTS, IPC and network
// namespaces too. That is how every step here runs without sudo. The capabilities
// are over the new namespaces only: the host's files still see the real uid.
// See user_namespaces(7).
package userns

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// MapCallerToRoot adds CLONE_NEWUSER to attr with a one-line map: uid 0 and
// gid 0 inside are the caller's uid and gid outside. An unprivileged process
// may write exactly this map and no other (user_namespaces(7), "Defining user
// and group ID mappings"). setgroups(2) must be denied first for the gid map to
// be accepted; Go does that when GidMappingsEnableSetgroups is false.
func MapCallerToRoot(attr *syscall.SysProcAttr) {
	attr.Cloneflags |= unix.CLONE_NEWUSER
	attr.UidMappings = []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Geteuid(), Size: 1}}
	attr.GidMappings = []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Getegid(), Size: 1}}
	attr.GidMappingsEnableSetgroups = false
}

// Explain turns the kernel's refusal to create a user namespace into a line
// that names the setting responsible. err is returned unchanged otherwise.
func Explain(err error) error {
	switch {
	case errors.Is(err, unix.ENOSPC):
		return fmt.Errorf("%w: user namespaces are disabled (user.max_user_namespaces is %s): "+
			"ask root to run sysctl -w user.max_user_namespaces=15000, or run with sudo", err, sysctl("user/max_user_namespaces"))
	case errors.Is(err, unix.EPERM), errors.Is(err, unix.EACCES):
		if sysctl("kernel/apparmor_restrict_unprivileged_userns") == "1" {
			return fmt.Errorf("%w: AppArmor forbids unprivileged user namespaces "+
				"(kernel.apparmor_restrict_unprivileged_userns=1): run with sudo, or see make doctor", err)
		}
		if sysctl("kernel/unprivileged_userns_clone") == "0" {
			return fmt.Errorf("%w: unprivileged user namespaces are disabled "+
				"(kernel.unprivileged_userns_clone=0): run with sudo, or see make doctor", err)
		}
		return fmt.Errorf("%w: the kernel refused a user namespace: run with sudo, or see make doctor", err)
	}
	return err
}

// sysctl reads /proc/sys/<name>, or "unset" when it does not exist.
func sysctl(name string) string {
	b, err := os.ReadFile("/proc/sys/" + name)
	if err != nil {
		return "unset"
	}
	return strings.TrimSpace(string(b))
}
