// Package mount makes the mounts a container needs, each call traced in the
// spelling of mount(2).
//
// A new mount namespace starts as a copy of its parent's mount table. Copies of
// "shared" mounts stay in the same peer group as the originals, so a mount made
// under them inside the container would propagate back to the host: that is
// why the first thing a container does is make "/" private, recursively
// (mount_namespaces(7), "Shared subtrees"). On systemd hosts "/" is shared.
package mount

import (
	"errors"
	"fmt"
	"os"

	"golang.org/x/sys/unix"

	"tincan.dev/pkg/trace"
)

var flagNames = []trace.Flag{
	{Bit: unix.MS_RDONLY, Name: "MS_RDONLY"},
	{Bit: unix.MS_NOSUID, Name: "MS_NOSUID"},
	{Bit: unix.MS_NODEV, Name: "MS_NODEV"},
	{Bit: unix.MS_NOEXEC, Name: "MS_NOEXEC"},
	{Bit: unix.MS_REMOUNT, Name: "MS_REMOUNT"},
	{Bit: unix.MS_BIND, Name: "MS_BIND"},
	{Bit: unix.MS_REC, Name: "MS_REC"},
	{Bit: unix.MS_PRIVATE, Name: "MS_PRIVATE"},
	{Bit: unix.MS_SLAVE, Name: "MS_SLAVE"},
	{Bit: unix.MS_SHARED, Name: "MS_SHARED"},
	{Bit: unix.MS_RELATIME, Name: "MS_RELATIME"},
	{Bit: unix.MS_STRICTATIME, Name: "MS_STRICTATIME"},
}

// Mount is mount(2), traced, with an error that names the target.
func Mount(source, target, fstype string, flags uintptr, data string) error {
	trace.Call("mount(%s, %s, %s, %s, %s)", trace.Str(source), trace.Str(target),
		trace.Str(fstype), trace.Flags(flags, flagNames), trace.Str(data))
	if err := unix.Mount(source, target, fstype, flags, data); err != nil {
		return fmt.Errorf("mount %s on %s: %w%s", describe(source, fstype), describeTarget(target), err, hint(target, err))
	}
	return nil
}

// Unmount is umount2(2), traced.
func Unmount(target string, flags int) error {
	name := "0"
	if flags&unix.MNT_DETACH != 0 {
		name = "MNT_DETACH"
	}
	trace.Call("umount2(%q, %s)", target, name)
	if err := unix.Unmount(target, flags); err != nil {
		return fmt.Errorf("umount %s: %w", target, err)
	}
	return nil
}

// MakePrivate makes every mount at and below path private, so nothing mounted
// in this namespace propagates to the host, and nothing the host mounts later
// appears here. Go does this for SysProcAttr.Unshareflags but not for
// Cloneflags, so a child created with CLONE_NEWNS must do it itself, first.
func MakePrivate(path string) error {
	return Mount("", path, "", unix.MS_REC|unix.MS_PRIVATE, "")
}

// Proc mounts a new proc filesystem on target. proc shows the PID namespace of
// the process that mounts it, so only a process inside the new PID namespace
// can mount the /proc that ps needs (pid_namespaces(7), "/proc and PID
// namespaces").
func Proc(target string) error {
	return Mount("proc", target, "proc", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, "")
}

// Tmpfs mounts a new, empty tmpfs on target. data is tmpfs's option string,
// such as "size=64m,mode=1777" (tmpfs(5)); "" takes the defaults.
func Tmpfs(target, data string) error {
	return Mount("tmpfs", target, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV, data)
}

func describe(source, fstype string) string {
	switch {
	case fstype != "" && source != "" && source != fstype:
		return fstype + " " + source
	case fstype != "":
		return fstype
	case source != "":
		return source
	}
	return "(propagation change)"
}

func hint(target string, err error) string {
	switch {
	case errors.Is(err, unix.ENOENT):
		if _, serr := os.Stat(target); serr != nil {
			return ": create the directory first (mkdir -p " + target + ")"
		}
	case errors.Is(err, unix.ENOTDIR):
		return ": the mount point must be a directory"
	case errors.Is(err, unix.EPERM):
		return ": mounting needs CAP_SYS_ADMIN in the user namespace that owns this mount namespace (run with sudo, see make doctor)"
	}
	return ""
}
