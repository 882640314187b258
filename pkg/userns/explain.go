package userns

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
)

// procDir is where the kernel's settings and our own process are read; the
// tests point it at a fake tree.
var procDir = "/proc"

// Explain turns the kernel's refusal to create a user namespace (clone(2)) or
// to take its maps into one line naming the setting responsible. err is
// returned unchanged when it is no such refusal.
func Explain(err error) error {
	if e := explain(err); e != err {
		return fmt.Errorf("%w (make doctor checks what this machine allows)", e)
	}
	return err
}

func explain(err error) error {
	switch {
	case errors.Is(err, unix.ENOSPC):
		// clone(2), ENOSPC: the limit in /proc/sys/user/max_user_namespaces
		// was reached (0 means none at all), or nesting went 32 deep.
		n := sysctl("user/max_user_namespaces")
		if n == "0" {
			return fmt.Errorf("%w: user namespaces are disabled (user.max_user_namespaces=0): "+
				"run as root, or ask root for sysctl -w user.max_user_namespaces=15000", err)
		}
		return fmt.Errorf("%w: too many user namespaces (user.max_user_namespaces=%s, or nested 32 deep)", err, n)
	case errors.Is(err, unix.EPERM), errors.Is(err, unix.EACCES):
		if why := restriction(); why != "" {
			return fmt.Errorf("%w: %s", err, why)
		}
		return fmt.Errorf("%w: the kernel refused a user namespace (inside a chroot, "+
			"or under a seccomp filter such as a container's?): run as root", err)
	}
	return err
}

// ExplainInside explains a privileged step that failed inside a user namespace
// that was created, but without its powers. With
// kernel.apparmor_restrict_unprivileged_userns=1 (Ubuntu 23.10 and later)
// clone succeeds, but AppArmor moves the process to its "unprivileged_userns"
// profile, which denies every capability: the first mount, sethostname or
// setresuid fails with EPERM or EACCES. err is returned unchanged otherwise.
func ExplainInside(err error) error {
	if !errors.Is(err, unix.EPERM) && !errors.Is(err, unix.EACCES) {
		return err
	}
	if !strings.HasPrefix(apparmorLabel(), "unprivileged_userns") {
		return err
	}
	return fmt.Errorf("%w: %s (make doctor checks what this machine allows)", err, restriction())
}

// restriction names the setting that keeps unprivileged users from using user
// namespaces, or returns "".
func restriction() string {
	switch {
	case sysctl("kernel/apparmor_restrict_unprivileged_userns") == "1":
		return "AppArmor restricts unprivileged user namespaces " +
			"(kernel.apparmor_restrict_unprivileged_userns=1): run as root, or ask root for " +
			"sysctl -w kernel.apparmor_restrict_unprivileged_userns=0"
	case sysctl("kernel/unprivileged_userns_clone") == "0":
		return "unprivileged user namespaces are disabled (kernel.unprivileged_userns_clone=0): " +
			"run as root, or ask root for sysctl -w kernel.unprivileged_userns_clone=1"
	}
	return ""
}

// sysctl reads /proc/sys/<name>, or "unset" when it does not exist.
func sysctl(name string) string {
	v, err := Sysctl(procDir, name)
	if err != nil {
		return "unset"
	}
	return v
}

// Sysctl reads the kernel setting name ("user/max_user_namespaces": the
// sysctl(8) name with / for .) under proc/sys; proc is where procfs is
// mounted ("/proc", or a fake tree in tests). pkg/doctor reads with it too.
func Sysctl(proc, name string) (string, error) {
	b, err := os.ReadFile(filepath.Join(proc, "sys", name))
	return strings.TrimSpace(string(b)), err
}

// apparmorLabel is this process's AppArmor profile, such as
// "unprivileged_userns (enforce)", or "" without AppArmor.
func apparmorLabel() string {
	for _, p := range []string{"/self/attr/apparmor/current", "/self/attr/current"} {
		if b, err := os.ReadFile(procDir + p); err == nil {
			return strings.TrimSpace(string(b))
		}
	}
	return ""
}
