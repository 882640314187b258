package mount

import (
	"fmt"

	"golang.org/x/sys/unix"

	"tincan.dev/pkg/trace"
)

// Bind mounts the tree at source on target as well (MS_BIND|MS_REC: with the
// mounts below source, a "recursive bind"). target must exist, and be a
// directory when source is one, a file when source is a file.
func Bind(source, target string) error {
	return Mount(source, target, "", unix.MS_BIND|unix.MS_REC, "")
}

// PrepareRoot binds root onto itself. pivot_root(2) wants the new root to be
// a mount point, and a plain directory of the host's filesystem is not one;
// the bind makes it one, whose parent is "/" (already made private: the
// kernel also refuses a new root whose parent mount is shared). The mounts
// the container gets next (/proc, /dev) go on top of this bind, in the
// container's mount namespace only.
func PrepareRoot(root string) error {
	return Bind(root, root)
}

// PivotRoot makes root, prepared by PrepareRoot, the root of this mount
// namespace, and detaches the old root so nothing of the host's file tree is
// left reachable. It uses the form pivot_root(2) documents for exactly this
// (NOTES): chdir(new_root); pivot_root(".", "."); umount2(".", MNT_DETACH).
// After pivot_root the old root is mounted on top of the new one at "/"; the
// unmount peels it off, and MNT_DETACH lets that happen while the host's
// mounts below it are still busy.
func PivotRoot(root string) error {
	if err := Chdir(root); err != nil {
		return err
	}
	if err := trace.PivotRoot(".", "."); err != nil {
		return fmt.Errorf("new root %s: %w", root, err)
	}
	if err := Unmount(".", unix.MNT_DETACH); err != nil {
		return err
	}
	return Chdir("/")
}

// Chroot is the old alternative to PivotRoot: chroot(2) changes only how this
// process resolves "/". The host's tree stays mounted in the namespace, and a
// process with CAP_SYS_CHROOT can climb back out of it (chroot(2), NOTES:
// "This call does not change the current working directory"). The 07-pivotroot
// lesson shows the escape.
func Chroot(root string) error {
	if err := Chdir(root); err != nil {
		return err
	}
	if err := trace.Chroot("."); err != nil {
		return fmt.Errorf("new root %s: %w", root, err)
	}
	return Chdir("/")
}

// Chdir is chdir(2), traced (trace.Chdir).
func Chdir(dir string) error { return trace.Chdir(dir) }
