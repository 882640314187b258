// Package rootfs makes the directory a container uses as its "/": a busybox
// tree built offline from the host's busybox-static (Busybox), or a root
// filesystem tarball unpacked safely (Import), such as alpine-minirootfs or
// the output of docker export. Check tells a runtime, before it starts
// anything, whether a directory can serve as a root at all. Layers is
// soulwing/can's layered layout (image/N, config, container) for overlayfs.
//
// A root filesystem is only a directory tree: the kernel calls that make it a
// container's root (bind mount, pivot_root, /proc, /dev) are in pkg/mount.
package rootfs

import (
	"debug/elf"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// BusyboxPath is where Debian's and Ubuntu's busybox-static put the binary.
const BusyboxPath = "/bin/busybox"

// The small /etc every busybox tool expects. gid 5 is "tty": devpts gives new
// terminals to it when the container's /dev/pts is mounted with gid=5.
var etc = map[string]string{
	"etc/passwd": "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n",
	"etc/group":  "root:x:0:\ntty:x:5:\nnobody:x:65534:\n",
	"etc/hosts":  "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n",
}

// Busybox builds a busybox root filesystem in dir, which must be missing or
// empty: /bin/busybox (copied from the host, which must be statically linked:
// the container has no /lib to load a shared library from), a link for each
// applet at the path `busybox --list-full` gives it (bin/sh, usr/bin/awk, ...),
// a minimal /etc, and the empty directories a runtime mounts on: /proc, /sys,
// /dev, /tmp (mode 1777, like a host's) and /root.
func Busybox(dir string) error {
	if err := emptyDir(dir); err != nil {
		return err
	}
	if err := checkStatic(BusyboxPath); err != nil {
		return err
	}
	for _, d := range []string{"bin", "sbin", "usr/bin", "usr/sbin", "etc", "proc", "sys", "dev", "tmp", "root"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			return err
		}
	}
	// The umask would turn 01777 into 01755: set the mode explicitly.
	if err := os.Chmod(filepath.Join(dir, "tmp"), os.ModeSticky|0o777); err != nil {
		return err
	}
	if err := os.Chmod(filepath.Join(dir, "root"), 0o700); err != nil {
		return err
	}
	if err := copyFile(BusyboxPath, filepath.Join(dir, "bin/busybox"), 0o755); err != nil {
		return err
	}
	out, err := exec.Command(BusyboxPath, "--list-full").Output()
	if err != nil {
		return fmt.Errorf("%s --list-full: %w", BusyboxPath, err)
	}
	for _, applet := range strings.Fields(string(out)) {
		if applet == "bin/busybox" {
			continue
		}
		// busybox picks the applet by the name it was run as (argv[0]), so
		// a symlink is enough. An absolute target is fine: it is resolved
		// inside the container, where /bin/busybox is this copy.
		if err := os.Symlink("/bin/busybox", filepath.Join(dir, applet)); err != nil {
			return fmt.Errorf("applet link: %w", err)
		}
	}
	for name, content := range etc {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			return err
		}
	}
	return nil
}

// emptyDir creates dir, or accepts it when it exists and is empty, so that a
// rootfs is never built over (or mixed with) another one.
func emptyDir(dir string) error {
	err := os.Mkdir(dir, 0o755)
	if err == nil || !errors.Is(err, os.ErrExist) {
		return err
	}
	f, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer f.Close()
	if _, err := f.Readdirnames(1); err != io.EOF {
		return fmt.Errorf("%s is not an empty directory: remove it first (rm -rf %s) or pick another", dir, dir)
	}
	return nil
}

// checkStatic refuses a dynamically linked binary: one with a PT_INTERP
// program header names the loader (ld-linux.so) it needs, which a busybox
// root filesystem does not have.
func checkStatic(path string) error {
	f, err := elf.Open(path)
	if err != nil {
		return fmt.Errorf("%s: %w: install busybox-static (apt-get install busybox-static)", path, err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return fmt.Errorf("%s is dynamically linked: install busybox-static, not busybox", path)
		}
	}
	return nil
}

func copyFile(src, dst string, mode os.FileMode) error {
	b, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	if err := os.WriteFile(dst, b, mode); err != nil {
		return err
	}
	return os.Chmod(dst, mode) // WriteFile's mode is filtered by the umask
}
