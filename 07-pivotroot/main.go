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
	"tincan.dev/pkg/trace"
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
	if err := trace.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
		return err
	}
	// exercise: pivot_root(2) needs the new root to be a mount point: bind DIR onto itself, mount(2) with MS_BIND|MS_REC (trace.Mount), see "bind mount" in mount(8)
	// pivot_root needs DIR to be a mount point, and a directory of the
	// host's filesystem is not one: a bind mount of DIR onto itself makes
	// it one (MS_REC takes the mounts below DIR along).
	if err := trace.Mount(*root, *root, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
		return err
	}
	// end exercise
	// A proc of the new PID namespace, as 05-pid mounts it, in DIR.
	if err := trace.Mount("proc", *root+"/proc", "proc", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, ""); err != nil {
		return err
	}
	// A /dev of its own, without the host's disks. In a user namespace (not
	// root: step.Main made one) mknod is refused, and the host's device
	// nodes are bound in instead.
	if err := mount.Dev(*root, mount.InUserNamespace()); err != nil {
		return err
	}
	// exercise: make DIR the new /: chdir(2) into it, pivot_root(".", "."), then detach the old root stacked on it, umount2(".", MNT_DETACH), and chdir("/"), see NOTES in pivot_root(2); with --chroot, chroot(".") instead (trace.Chdir, trace.PivotRoot, trace.Unmount, trace.Chroot)
	if err := trace.Chdir(*root); err != nil {
		return err
	}
	if *chroot {
		// chroot(2) changes only how this process resolves "/": the host's
		// tree stays mounted, and root can climb out (see the README).
		if err := trace.Chroot("."); err != nil {
			return err
		}
	} else {
		// pivot_root(".", ".") is the form pivot_root(2) gives for this
		// (NOTES): the new root becomes "/", and the old root is mounted
		// on top of it, at "/" too. Unmounting "." peels the old root off;
		// MNT_DETACH lets that happen while the host's mounts in it are
		// busy. Nothing of the host's file tree is reachable after it.
		if err := trace.PivotRoot(".", "."); err != nil {
			return err
		}
		if err := trace.Unmount(".", unix.MNT_DETACH); err != nil {
			return err
		}
	}
	if err := trace.Chdir("/"); err != nil {
		return err
	}
	// end exercise
	return reexec.Exec(args)
}
