package trace

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"

	"golang.org/x/sys/unix"
)

// The calls below make one system call each, printed first in the spelling
// of its man page. The lessons call them in place of golang.org/x/sys/unix
// (trace.Mount for unix.Mount, same arguments), so the call a lesson teaches
// is on its page and in its -v output. Each error is one line: the call, its
// argument, the errno and, where the man page says why, the fix.

// MountFlags names mount(2)'s flags.
var MountFlags = []Flag{
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

// Mount is mount(2): unix.Mount, traced, with an error that names the target.
func Mount(source, target, fstype string, flags uintptr, data string) error {
	Call("%s", MountText(source, target, fstype, flags, data))
	if err := unix.Mount(source, target, fstype, flags, data); err != nil {
		return fmt.Errorf("mount %s on %s: %w%s", describeMount(source, fstype), describeTarget(target), err, mountHint(target, err))
	}
	return nil
}

// MountText spells a mount(2) call as the trace prints it.
func MountText(source, target, fstype string, flags uintptr, data string) string {
	return fmt.Sprintf("mount(%s, %s, %s, %s, %s)", Str(source), Str(target), Str(fstype), Flags(flags, MountFlags), Str(data))
}

func describeMount(source, fstype string) string {
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

// describeTarget names a mount target for an error: a magic link of
// /proc/self/fd (a directory reached through a file descriptor, as
// pkg/mount.InRoot does) by the file it stands for.
func describeTarget(target string) string {
	if !strings.HasPrefix(target, "/proc/self/fd/") {
		return target
	}
	if p, err := os.Readlink(target); err == nil {
		return p
	}
	return target
}

func mountHint(target string, err error) string {
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

// Unmount is umount2(2): unix.Unmount, traced.
func Unmount(target string, flags int) error {
	name := "0"
	if flags&unix.MNT_DETACH != 0 {
		name = "MNT_DETACH"
	}
	Call("umount2(%q, %s)", target, name)
	if err := unix.Unmount(target, flags); err != nil {
		return fmt.Errorf("umount %s: %w", target, err)
	}
	return nil
}

// PivotRoot is pivot_root(2): unix.PivotRoot, traced. The errors say which
// of the man page's rules the new root broke.
func PivotRoot(newRoot, putOld string) error {
	Call("pivot_root(%q, %q)", newRoot, putOld)
	if err := unix.PivotRoot(newRoot, putOld); err != nil {
		hint := ""
		switch {
		case errors.Is(err, unix.EBUSY):
			hint = ": the new root is on the current root's mount: bind it onto itself first"
		case errors.Is(err, unix.EINVAL):
			hint = ": the new root must be a mount point (bind it onto itself) whose parent mount is not shared (make / private first)"
		case errors.Is(err, unix.EPERM):
			hint = ": pivot_root needs CAP_SYS_ADMIN in the user namespace that owns this mount namespace"
		}
		return fmt.Errorf("pivot_root(%q, %q): %w%s", newRoot, putOld, err, hint)
	}
	return nil
}

// Chroot is chroot(2): unix.Chroot, traced.
func Chroot(dir string) error {
	Call("chroot(%q)", dir)
	if err := unix.Chroot(dir); err != nil {
		return fmt.Errorf("chroot %s: %w", dir, err)
	}
	return nil
}

// Chdir is chdir(2): unix.Chdir, traced.
func Chdir(dir string) error {
	Call("chdir(%q)", dir)
	if err := unix.Chdir(dir); err != nil {
		return fmt.Errorf("chdir %s: %w", dir, err)
	}
	return nil
}

// Sethostname is sethostname(2): unix.Sethostname, traced.
func Sethostname(name string) error {
	Call("sethostname(%q, %d)", name, len(name))
	if err := unix.Sethostname([]byte(name)); err != nil {
		return fmt.Errorf("sethostname %q: %w", name, err)
	}
	return nil
}

// Mkdir is mkdir(2): unix.Mkdir, traced. The error wraps the errno, so
// errors.Is(err, fs.ErrExist) tells a directory that was already there.
func Mkdir(path string, mode uint32) error {
	Call("mkdir(%q, %#o)", path, mode)
	if err := unix.Mkdir(path, mode); err != nil {
		return fmt.Errorf("mkdir %s: %w", path, err)
	}
	return nil
}

// WriteFile writes data to the existing file path in a single write(2),
// traced as write(path, data): path stands for the file descriptor open(2)
// returned for it. It is for the kernel's files (/proc/PID/uid_map, a
// cgroup's limits), which take a value in one write and are never created:
// a missing one is an error (fs.ErrNotExist).
func WriteFile(path, data string) error {
	Call("write(%q, %q)", path, data)
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err == nil {
		_, err = f.WriteString(data)
		err = errors.Join(err, f.Close())
	}
	if err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		return fmt.Errorf("write %q to %s: %w", data, path, err)
	}
	return nil
}

// Write writes data to f, an open file, in a single write(2), traced.
func Write(f *os.File, data string) error {
	Call("write(%d, %q), fd %[1]d being %[3]s", f.Fd(), data, f.Name())
	if _, err := f.WriteString(data); err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		return fmt.Errorf("write %q to %s: %w", data, f.Name(), err)
	}
	return nil
}
