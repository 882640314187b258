package mount

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"tincan.dev/pkg/trace"
)

// Devices are the device nodes every container gets in its /dev: the set the
// OCI runtime spec calls "default devices" (config-linux.md), with their
// fixed major and minor numbers (the kernel's Documentation/admin-guide/devices.txt).
var Devices = []struct {
	Name         string
	Major, Minor uint32
}{
	{"null", 1, 3}, {"zero", 1, 5}, {"full", 1, 7},
	{"random", 1, 8}, {"urandom", 1, 9}, {"tty", 5, 0},
}

// Dev gives the root filesystem at root a /dev of its own: a small tmpfs with
// the Devices, a private devpts for terminals, a /dev/shm and the usual
// symlinks. The host's /dev, with its disks, stays out of reach.
//
// As real root it creates the nodes with mknod(2). In a user namespace
// (userns true) the kernel refuses mknod of devices, for good reason: root
// there could otherwise make a node for the host's disk. So each node is a
// bind mount of the host's own node onto an empty file (runc does the same).
// root/dev is found inside root (InRoot), made if missing.
func Dev(root string, userns bool) error {
	target, err := InRoot(root, "/dev", true)
	if err != nil {
		return err
	}
	defer target.Close()
	// Not MS_NODEV, which would make every node in it unusable. MS_NOEXEC
	// and MS_NOSUID: a writable /dev is no place for programs. What may be
	// opened here is decided by the device cgroup's allowlist
	// (pkg/cgroup.DefaultDevices), not by which nodes exist: root inside can
	// mknod others. MS_STRICTATIME because that is what devtmpfs uses and
	// what runc passes.
	if err := Mount("tmpfs", target.Path(), "tmpfs", unix.MS_NOSUID|unix.MS_NOEXEC|unix.MS_STRICTATIME, "mode=755,size=65536k"); err != nil {
		return err
	}
	// The rest goes in the new tmpfs, reached through a handle on it.
	top, err := InRoot(root, "/dev", true)
	if err != nil {
		return err
	}
	defer top.Close()
	dev := top.Path()
	for _, d := range Devices {
		path := filepath.Join(dev, d.Name)
		if userns {
			if err := Mknod(path, unix.S_IFREG|0o666, 0, 0); err != nil {
				return err
			}
			if err := Bind("/dev/"+d.Name, path); err != nil {
				return err
			}
			continue
		}
		if err := Mknod(path, unix.S_IFCHR|0o666, d.Major, d.Minor); err != nil {
			return err
		}
	}
	if err := Devpts(filepath.Join(dev, "pts")); err != nil {
		return err
	}
	for _, l := range [][2]string{
		{"ptmx", "pts/ptmx"}, {"fd", "/proc/self/fd"},
		{"stdin", "/proc/self/fd/0"}, {"stdout", "/proc/self/fd/1"}, {"stderr", "/proc/self/fd/2"},
	} {
		if err := Symlink(l[1], filepath.Join(dev, l[0])); err != nil {
			return err
		}
	}
	shm := filepath.Join(dev, "shm")
	if err := Mkdir(shm, 0o755); err != nil {
		return err
	}
	return Mount("shm", shm, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, "mode=1777,size=65536k")
}

// Devpts mounts a new devpts instance on target (created if missing), for the
// container's terminals. "newinstance" keeps its pty numbers apart from the
// host's; ptmxmode=0666 lets anyone open target/ptmx, which /dev/ptmx links to
// (the kernel's Documentation/filesystems/devpts.rst). New terminals belong to
// the "tty" group (gid=5), but only when gid 5 exists in this user namespace:
// the kernel refuses a gid it cannot map.
func Devpts(target string) error {
	if err := Mkdir(target, 0o755); err != nil {
		return err
	}
	opts := "newinstance,ptmxmode=0666,mode=0620"
	if idMapped("/proc/self/gid_map", 5) {
		opts += ",gid=5"
	}
	return Mount("devpts", target, "devpts", unix.MS_NOSUID|unix.MS_NOEXEC, opts)
}

// Mqueue mounts a POSIX message queue filesystem on root/dev/mqueue. It shows
// the queues of the IPC namespace of whoever mounts it (mq_overview(7)), so a
// process in the container's IPC namespace must mount it.
func Mqueue(root string) error {
	target, err := InRoot(root, "/dev/mqueue", true)
	if err != nil {
		return err
	}
	defer target.Close()
	return Mount("mqueue", target.Path(), "mqueue", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, "")
}

// Sys gives root a read-only /sys (root/sys found inside root, see InRoot). As real root it is a
// new sysfs. In a user namespace the kernel lets a new sysfs be mounted only by
// the owner of the current network namespace (sysfs shows that namespace's
// network devices), so there it binds the host's /sys, read-only; the mounts
// below it (/sys/fs/cgroup...) keep their flags, and their files belong to the
// host's root, who is nobody inside.
func Sys(root string, userns bool) error {
	target, err := InRoot(root, "/sys", true)
	if err != nil {
		return err
	}
	defer target.Close()
	if !userns {
		return Mount("sysfs", target.Path(), "sysfs", unix.MS_RDONLY|unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, "")
	}
	if err := Bind("/sys", target.Path()); err != nil {
		return err
	}
	// The handle is on the directory under the bind: remount the bind itself.
	top, err := InRoot(root, "/sys", true)
	if err != nil {
		return err
	}
	defer top.Close()
	return RemountReadOnly(top.Path())
}

// InUserNamespace reports whether this process is in a user namespace other
// than the initial one. The initial namespace maps every id to itself:
// /proc/self/uid_map is "0 0 4294967295" there and nowhere else
// (user_namespaces(7)).
func InUserNamespace() bool {
	b, err := os.ReadFile("/proc/self/uid_map")
	if err != nil {
		return false
	}
	return strings.Join(strings.Fields(string(b)), " ") != "0 0 4294967295"
}

// idMapped reports whether id (as seen inside) appears in a uid_map or gid_map
// file, whose lines are "inside outside count".
func idMapped(file string, id uint64) bool {
	f, err := os.Open(file)
	if err != nil {
		return false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) != 3 {
			continue
		}
		inside, err1 := strconv.ParseUint(fields[0], 10, 32)
		count, err2 := strconv.ParseUint(fields[2], 10, 64)
		if err1 == nil && err2 == nil && id >= inside && id < inside+count {
			return true
		}
	}
	return false
}

// Mknod is mknod(2), traced. The mode is set again with chmod(2) afterwards,
// because mknod's is filtered through the umask.
func Mknod(path string, mode uint32, major, minor uint32) error {
	kind := "S_IFCHR"
	if mode&unix.S_IFMT == unix.S_IFREG {
		kind = "S_IFREG"
	}
	trace.Call("mknod(%q, %s|%#o, makedev(%d, %d))", path, kind, mode&0o7777, major, minor)
	if err := unix.Mknod(path, mode, int(unix.Mkdev(major, minor))); err != nil {
		return fmt.Errorf("mknod %s: %w", path, err)
	}
	return chmod(path, mode&0o7777)
}

// Mkdir is mkdir(2), traced; a directory that exists already is fine.
func Mkdir(path string, mode uint32) error {
	trace.Call("mkdir(%q, %#o)", path, mode)
	if err := unix.Mkdir(path, mode); err != nil && !errors.Is(err, unix.EEXIST) {
		return fmt.Errorf("mkdir %s: %w", path, err)
	}
	return nil
}

// Symlink is symlink(2), traced: link will point to target.
func Symlink(target, link string) error {
	trace.Call("symlink(%q, %q)", target, link)
	if err := unix.Symlink(target, link); err != nil {
		return fmt.Errorf("symlink %s: %w", link, err)
	}
	return nil
}

func chmod(path string, mode uint32) error {
	trace.Call("chmod(%q, %#o)", path, mode)
	if err := unix.Chmod(path, mode); err != nil {
		return fmt.Errorf("chmod %s: %w", path, err)
	}
	return nil
}
