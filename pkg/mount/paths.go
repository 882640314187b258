package mount

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"golang.org/x/sys/unix"

	"tincan.dev/pkg/sysprog"
	"tincan.dev/pkg/trace"
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
	return sysprog.RunNow(func(p *sysprog.Program) error { return PlanMask(p, paths) })
}

// ReadOnly makes each existing path read-only: a bind mount of the path onto
// itself, then a remount of that bind with MS_RDONLY. A bind mount ignores
// MS_RDONLY on creation (mount(2), "Creating a bind mount"), so it takes two calls.
// The remount keeps the flags the mount already had (nosuid, nodev, noexec):
// dropping a locked flag inside a user namespace is refused with EPERM.
func ReadOnly(paths []string) error {
	return sysprog.RunNow(func(p *sysprog.Program) error { return PlanReadOnly(p, paths) })
}

// RemountReadOnly remounts the bind mount at p read-only, keeping its other flags.
func RemountReadOnly(path string) error {
	return sysprog.RunNow(func(p *sysprog.Program) error { return PlanRemountReadOnly(p, path, path) })
}

// The Plan functions prepare their calls for a process that makes them
// later (pkg/sysprog): the container's PID 1, which mounts /proc and only
// then can hide what is under it. They look at the paths now: what exists,
// file or directory, with which flags. For /proc and /sys, the host's answer
// is the container's, the kernel being the same.

// PlanMask adds Mask's calls for paths to p.
func PlanMask(p *sysprog.Program, paths []string) error {
	for _, path := range paths {
		fi, err := os.Stat(path)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return err
		}
		// A path under one masked before it is hidden by then: nothing
		// left to hide (ENOENT), as runc's maskPath has it.
		if fi.IsDir() {
			planMount(p, "tmpfs", path, "tmpfs", unix.MS_RDONLY, "").Allow(unix.ENOENT)
		} else {
			planMount(p, "/dev/null", path, "", unix.MS_BIND, "").Allow(unix.ENOENT)
		}
	}
	return nil
}

// PlanReadOnly adds ReadOnly's calls for paths to p.
func PlanReadOnly(p *sysprog.Program, paths []string) error {
	for _, path := range paths {
		if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
			continue
		}
		planMount(p, path, path, "", unix.MS_BIND|unix.MS_REC, "")
		if err := PlanRemountReadOnly(p, path, path); err != nil {
			return err
		}
	}
	return nil
}

// PlanRemountReadOnly adds the read-only remount of the bind mount at
// target to p, keeping the flags the mount at now has (statfs(2)): now is
// where the same mount is reached from here, before pivot_root.
func PlanRemountReadOnly(p *sysprog.Program, target, now string) error {
	var st unix.Statfs_t
	if err := unix.Statfs(now, &st); err != nil {
		return fmt.Errorf("statfs %s: %w", now, err)
	}
	flags := mountFlags(st.Flags)
	if strings.HasPrefix(target, "/proc/") {
		// Whoever mounted the host's /proc, the container's is mounted by
		// Proc, with these.
		flags |= procFlags
	}
	planMount(p, "", target, "", unix.MS_BIND|unix.MS_REMOUNT|unix.MS_RDONLY|flags, "")
	return nil
}

// PlanProc adds Proc's mount to p.
func PlanProc(p *sysprog.Program, target string) {
	planMount(p, "proc", target, "proc", procFlags, "")
}

// planMount adds mount(2) to p.
func planMount(p *sysprog.Program, source, target, fstype string, flags uintptr, data string) *sysprog.Call {
	return p.Add(trace.MountText(source, target, fstype, flags, data), "",
		unix.SYS_MOUNT, p.StrOrNil(source), p.Str(target), p.StrOrNil(fstype), flags, p.StrOrNil(data))
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
