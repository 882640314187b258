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
	"golang.org/x/sys/unix"

	"tincan.dev/pkg/trace"
)

// Mount is mount(2), traced, with an error that names the target
// (trace.Mount).
func Mount(source, target, fstype string, flags uintptr, data string) error {
	return trace.Mount(source, target, fstype, flags, data)
}

// Unmount is umount2(2), traced (trace.Unmount).
func Unmount(target string, flags int) error { return trace.Unmount(target, flags) }

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
	return Mount("proc", target, "proc", procFlags, "")
}

const procFlags = unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC

// Tmpfs mounts a new, empty tmpfs on target. data is tmpfs's option string,
// such as "size=64m,mode=1777" (tmpfs(5)); "" takes the defaults.
func Tmpfs(target, data string) error {
	return Mount("tmpfs", target, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV, data)
}
