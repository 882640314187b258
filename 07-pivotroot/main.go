// Command 07-pivotroot runs a command in a root filesystem of its own: the
// directory given by --rootfs becomes "/", with its own /proc and /dev, and
// the host's file tree is detached with pivot_root(2). With --chroot it uses
// chroot(2) instead, to show why containers do not.
//
//	make rootfs && sudo 07-pivotroot --rootfs rootfs -- ls /
package main

import (
	"flag"
	"fmt"

	"golang.org/x/sys/unix"

	"tincan.dev/pkg/mount"
	"tincan.dev/pkg/reexec"
	"tincan.dev/pkg/rootfs"
	"tincan.dev/pkg/step"
)

var (
	root   = flag.String("rootfs", "", "the root filesystem: a `DIR` holding bin/, etc/, proc/, dev/ (make rootfs builds one)")
	chroot = flag.Bool("chroot", false, "enter DIR with chroot(2) instead of pivot_root(2) (escapable: see README)")
)

func main() {
	step.Main("07-pivotroot", "--rootfs DIR [--chroot] [--] [CMD [ARG...]]", parent, child)
}

// parent runs on the host: it checks DIR before anything exists, so a
// mistake leaves nothing behind, then starts this program again in new
// namespaces.
func parent(cmd *reexec.Cmd) (int, error) {
	if *root == "" {
		return 0, fmt.Errorf("--rootfs DIR is required: make rootfs builds one in ./rootfs")
	}
	var need []string
	if flag.NArg() == 0 {
		need = append(need, "/bin/sh") // the default CMD
	}
	if err := rootfs.Check(*root, need...); err != nil {
		return 0, fmt.Errorf("--rootfs %w", err)
	}
	cmd.SysProcAttr.Cloneflags = unix.CLONE_NEWNS | unix.CLONE_NEWPID | unix.CLONE_NEWUTS | unix.CLONE_NEWIPC
	return cmd.Run()
}

// child runs inside the new namespaces, then becomes CMD, in DIR.
func child(args []string) error {
	// Private first: the mounts below must not propagate to the host, and
	// pivot_root refuses a new root whose parent mount is shared.
	if err := mount.MakePrivate("/"); err != nil {
		return err
	}
	// exercise: pivot_root(2) needs the new root to be a mount point: bind DIR onto itself (pkg/mount)
	// pivot_root needs DIR to be a mount point: bind it onto itself.
	if err := mount.PrepareRoot(*root); err != nil {
		return err
	}
	// end exercise
	if err := mount.Proc(*root + "/proc"); err != nil {
		return err
	}
	// In a user namespace (not root: step.Main made one) mknod is refused,
	// and the host's device nodes are bound in instead.
	if err := mount.Dev(*root, mount.InUserNamespace()); err != nil {
		return err
	}
	// exercise: make DIR the new / with pivot_root(".", ".") and detach the old root (or chroot(2) with --chroot), see pivot_root(2)
	enter := mount.PivotRoot
	if *chroot {
		enter = mount.Chroot
	}
	if err := enter(*root); err != nil {
		return err
	}
	// end exercise
	return reexec.Exec(args)
}
