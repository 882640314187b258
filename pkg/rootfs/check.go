package rootfs

import (
	"errors"
	"fmt"
	"os"

	"golang.org/x/sys/unix"

	"tincan.dev/pkg/mount"
)

// Check tells, in one line with the fix, why dir cannot be a container's
// root: it is missing, it is not a directory, or one of files (absolute paths
// as the container sees them, such as "/bin/sh") is not in it. A runtime calls
// it before creating any namespace, so a mistake leaves nothing behind.
//
// files are looked up as the container will see them: a symlink such as
// alpine's /bin/sh -> /bin/busybox is followed inside dir, not on the host.
func Check(dir string, files ...string) error {
	fi, err := os.Stat(dir)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return fmt.Errorf("%s: no such directory: make rootfs builds one in ./rootfs", dir)
	case err != nil:
		return err
	case !fi.IsDir():
		return fmt.Errorf("%s: not a directory: give the directory holding the root filesystem", dir)
	}
	root, err := unix.Open(dir, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("%s: %w", dir, err)
	}
	defer unix.Close(root)
	for _, f := range files {
		fd, err := openInRoot(root, f, unix.O_PATH)
		if err != nil {
			return fmt.Errorf("%s has no %s (%w): is it a root filesystem? make rootfs builds one", dir, f, err)
		}
		unix.Close(fd)
	}
	return nil
}

// openInRoot opens name below the directory root as if root were "/"
// (mount.OpenInRoot: openat2(2) with RESOLVE_IN_ROOT, Linux 5.6), so whatever
// name or the links it crosses say, the file opened is inside root.
func openInRoot(root int, name string, flags uint64) (int, error) {
	return mount.OpenInRoot(root, name, flags)
}
