package mount

import (
	"errors"
	"fmt"
	"os"
	"path"
	"strings"

	"golang.org/x/sys/unix"

	"tincan.dev/pkg/trace"
)

// Target is a mount point inside a container's root filesystem, held open.
//
// The paths below a new root are the image's to decide, not the host's: an
// image whose /etc is a symlink to /home/you, resolved by the host before
// pivot_root, makes root create files in /home/you. So a target is opened
// with openat2(2) and RESOLVE_IN_ROOT, which resolves "..", absolute paths and
// symlinks as if root were "/" (Linux 5.6), and the mount is made on the
// open file through its magic link /proc/self/fd/N (Path): between the
// check and the mount, nobody can swap the path for a symlink (runc does the
// same, libcontainer/rootfs_linux.go).
type Target struct {
	f    *os.File
	Name string // the path as the container sees it, such as /proc
}

// Path is the target's magic link: mount(2) on it mounts on the open file.
func (t *Target) Path() string { return fmt.Sprintf("/proc/self/fd/%d", t.f.Fd()) }

// Close closes the target's file.
func (t *Target) Close() error { return t.f.Close() }

// InRoot opens name below the directory root, as the container will see it,
// for a mount. A directory (dir true) is made if missing, with its parents,
// like mkdir -p; a file is created empty if missing, its directories too.
func InRoot(root, name string, dir bool) (*Target, error) {
	rfd, err := unix.Open(root, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", root, err)
	}
	defer unix.Close(rfd)
	var fd int
	if dir {
		fd, err = MkdirAllInRoot(rfd, name)
	} else {
		fd, err = createInRoot(rfd, name)
	}
	if err != nil {
		return nil, fmt.Errorf("%s in %s: %w", name, root, err)
	}
	trace.Call("openat2(open(%q), %q, {O_PATH, RESOLVE_IN_ROOT}) = %d", root, name, fd)
	return &Target{f: os.NewFile(uintptr(fd), name), Name: name}, nil
}

// OpenInRoot opens name below the directory open as root, as if root were
// "/": openat2(2) with RESOLVE_IN_ROOT resolves "..", absolute names and
// symlinks inside root, as a chroot would. RESOLVE_NO_MAGICLINKS refuses the
// /proc/self/fd kind of link, which would lead anywhere.
func OpenInRoot(root int, name string, flags uint64) (int, error) {
	return unix.Openat2(root, name, &unix.OpenHow{
		Flags:   flags | unix.O_CLOEXEC,
		Resolve: unix.RESOLVE_IN_ROOT | unix.RESOLVE_NO_MAGICLINKS,
	})
}

// MkdirAllInRoot opens the directory name below root (see OpenInRoot) as an
// O_PATH file descriptor, making what is missing on the way (mode 0755).
func MkdirAllInRoot(root int, name string) (int, error) {
	fd, err := OpenInRoot(root, name, unix.O_PATH|unix.O_DIRECTORY)
	if !errors.Is(err, unix.ENOENT) {
		return fd, err
	}
	p, err := makeInRoot(root, name, true)
	if err != nil {
		return -1, err
	}
	return OpenInRoot(root, p, unix.O_PATH|unix.O_DIRECTORY)
}

// createInRoot opens the file name below root, creating it empty, and its
// directories, when missing.
func createInRoot(root int, name string) (int, error) {
	fd, err := OpenInRoot(root, name, unix.O_PATH)
	if !errors.Is(err, unix.ENOENT) {
		return fd, err
	}
	p, err := makeInRoot(root, name, false)
	if err != nil {
		return -1, err
	}
	return OpenInRoot(root, p, unix.O_PATH)
}

// makeInRoot walks name below root one component at a time, as the kernel
// would with root as "/", making each missing directory, and the last
// component as an empty file unless dir. A symlink met on the way is read
// and its target walked in its place (so /etc -> /elsewhere makes
// root/elsewhere), ".." stops at root. It returns the path it made, free of
// symlinks, for OpenInRoot.
func makeInRoot(root int, name string, dir bool) (string, error) {
	todo, cur, links, races := strings.Split(name, "/"), "/", 0, 0
	for len(todo) > 0 {
		c := todo[0]
		todo = todo[1:]
		switch c {
		case "", ".":
			continue
		case "..":
			cur = path.Dir(cur)
			continue
		}
		pfd, err := OpenInRoot(root, cur, unix.O_PATH|unix.O_DIRECTORY)
		if err != nil {
			return "", err
		}
		var st unix.Stat_t
		err = unix.Fstatat(pfd, c, &st, unix.AT_SYMLINK_NOFOLLOW)
		switch {
		case errors.Is(err, unix.ENOENT) && len(todo) == 0 && !dir:
			trace.Call("openat(open(%q), %q, O_CREAT|O_EXCL|O_NOFOLLOW, 0644)", cur, c)
			var fd int
			fd, err = unix.Openat(pfd, c, unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_RDONLY|unix.O_CLOEXEC, 0o644)
			if err == nil {
				unix.Close(fd)
			}
		case errors.Is(err, unix.ENOENT):
			trace.Call("mkdirat(open(%q), %q, 0755)", cur, c)
			err = unix.Mkdirat(pfd, c, 0o755)
		case err == nil && st.Mode&unix.S_IFMT == unix.S_IFLNK:
			if links++; links > 40 {
				err = unix.ELOOP
				break
			}
			buf := make([]byte, unix.PathMax)
			var n int
			if n, err = unix.Readlinkat(pfd, c, buf); err == nil {
				target := string(buf[:n])
				if path.IsAbs(target) {
					cur = "/"
				}
				todo = append(strings.Split(target, "/"), todo...)
				unix.Close(pfd)
				continue
			}
		}
		unix.Close(pfd)
		if errors.Is(err, unix.EEXIST) && races < 40 {
			// Another container on the same root made it between our
			// look and our make: look again, as if it had been there.
			races++
			todo = append([]string{c}, todo...)
			continue
		}
		if err != nil {
			return "", fmt.Errorf("make %s: %w", path.Join(cur, c), err)
		}
		cur = path.Join(cur, c)
	}
	return cur, nil
}
