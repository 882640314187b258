package mount

import (
	"errors"
	"os"

	"golang.org/x/sys/unix"
)

// MaskedPaths are the files and directories runc hides from a container
// (the OCI runtime spec's linux.maskedPaths, as Docker fills it): kernel memory,
// keys, timers, firmware. A file is hidden by bind-mounting /dev/null over it,
// a directory by a read-only empty tmpfs.
var MaskedPaths = []string{
	"/proc/asound", "/proc/acpi", "/proc/interrupts", "/proc/kcore", "/proc/keys",
	"/proc/latency_stats", "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug",
	"/proc/scsi", "/sys/firmware", "/sys/devices/virtual/powercap",
}

// ReadonlyPaths stay visible but cannot be written: writing /proc/sys or
// /proc/sysrq-trigger as root inside would change the host's kernel.
var ReadonlyPaths = []string{
	"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger",
}

// Mask hides each path that exists; missing ones are skipped (they vary by kernel).
func Mask(paths []string) error {
	for _, p := range paths {
		fi, err := os.Stat(p)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return err
		}
		if fi.IsDir() {
			err = Mount("tmpfs", p, "tmpfs", unix.MS_RDONLY, "")
		} else {
			err = Mount("/dev/null", p, "", unix.MS_BIND, "")
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// ReadOnly makes each existing path read-only: a bind mount of the path onto
// itself, then a remount of that bind with MS_RDONLY. A bind mount ignores
// MS_RDONLY on creation (mount(2), "Creating a bind mount"), so it takes two calls.
// The remount keeps the flags the mount already had (nosuid, nodev, noexec):
// dropping a locked flag inside a user namespace is refused with EPERM.
func ReadOnly(paths []string) error {
	for _, p := range paths {
		if _, err := os.Stat(p); errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err := Mount(p, p, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
			return err
		}
		if err := RemountReadOnly(p); err != nil {
			return err
		}
	}
	return nil
}

// RemountReadOnly remounts the bind mount at p read-only, keeping its other flags.
func RemountReadOnly(p string) error {
	var st unix.Statfs_t
	if err := unix.Statfs(p, &st); err != nil {
		return err
	}
	return Mount("", p, "", unix.MS_BIND|unix.MS_REMOUNT|unix.MS_RDONLY|mountFlags(st.Flags), "")
}

// statfsToMount pairs each flag statfs(2) reports in f_flags (ST_*) with the
// mount(2) flag (MS_*) that sets it. They are two sets of numbers: most
// share a bit, but ST_RELATIME is 0x1000, which as a mount flag is MS_BIND,
// while MS_RELATIME is 0x200000. So each is translated by name, as runc's
// getMountFlags does, never passed through as a bit mask.
var statfsToMount = []struct{ st, ms uintptr }{
	{unix.ST_RDONLY, unix.MS_RDONLY},
	{unix.ST_NOSUID, unix.MS_NOSUID},
	{unix.ST_NODEV, unix.MS_NODEV},
	{unix.ST_NOEXEC, unix.MS_NOEXEC},
	{unix.ST_SYNCHRONOUS, unix.MS_SYNCHRONOUS},
	{unix.ST_MANDLOCK, unix.MS_MANDLOCK},
	{unix.ST_NOATIME, unix.MS_NOATIME},
	{unix.ST_NODIRATIME, unix.MS_NODIRATIME},
	{unix.ST_RELATIME, unix.MS_RELATIME},
}

// mountFlags turns statfs's f_flags into the mount flags that keep them on a
// remount. Keeping the atime flags matters in a user namespace: a mount
// inherited from the host has them locked, and a remount that changes them
// is refused with EPERM (mount_namespaces(7), "Restrictions on mount namespaces").
func mountFlags(statfs int64) uintptr {
	var ms uintptr
	for _, f := range statfsToMount {
		if uintptr(statfs)&f.st != 0 {
			ms |= f.ms
		}
	}
	return ms
}
