// Command 02-mnt runs a command in a new mount namespace, with a fresh tmpfs
// on each --tmpfs directory: the command sees them, the host never does
// (mount_namespaces(7)).
//
//	sudo 02-mnt --tmpfs /mnt -- findmnt /mnt
package main

import (
	"flag"
	"fmt"
	"os"

	"golang.org/x/sys/unix"

	"tincan.dev/pkg/mount"
	"tincan.dev/pkg/reexec"
	"tincan.dev/pkg/step"
)

// tmpfs collects every --tmpfs DIR.
var tmpfs []string

func main() {
	flag.Func("tmpfs", "mount an empty tmpfs on `DIR`, an existing directory (repeatable)", func(dir string) error {
		tmpfs = append(tmpfs, dir)
		return nil
	})
	step.Main("02-mnt", "[--tmpfs DIR]... [--] [CMD [ARG...]]", parent, child)
}

// parent runs on the host: it starts this program again in new namespaces.
func parent(cmd *reexec.Cmd) (int, error) {
	for _, dir := range tmpfs {
		if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
			return 0, fmt.Errorf("--tmpfs %s: not an existing directory: create it first (mkdir -p %s)", dir, dir)
		}
	}
	// exercise: start the child with a mount table of its own: CLONE_NEWNS in Cloneflags, see mount_namespaces(7)
	cmd.SysProcAttr.Cloneflags = unix.CLONE_NEWNS
	// end exercise
	return cmd.Run()
}

// child runs inside the new namespaces, then becomes CMD.
func child(args []string) error {
	// exercise: make / private (MS_REC|MS_PRIVATE, see "Shared subtrees" in mount_namespaces(7)), then mount a tmpfs on each dir in tmpfs (pkg/mount)
	// The new namespace starts as a copy of the host's mount table, and copies
	// of shared mounts still propagate back: make them private first.
	if err := mount.MakePrivate("/"); err != nil {
		return err
	}
	for _, dir := range tmpfs {
		if err := mount.Tmpfs(dir, ""); err != nil {
			return err
		}
	}
	// end exercise
	return reexec.Exec(args)
}
