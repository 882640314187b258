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

	"tincan.dev/pkg/reexec"
	"tincan.dev/pkg/step"
	"tincan.dev/pkg/trace"
)

// tmpfs collects every --tmpfs DIR.
var tmpfs step.List

func main() {
	flag.Var(&tmpfs, "tmpfs", "mount an empty tmpfs on `DIR`, an existing directory (repeatable)")
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
	// exercise: make / private, recursively: mount(2) with MS_REC|MS_PRIVATE (trace.Mount takes unix.Mount's arguments), see "Shared subtrees" in mount_namespaces(7); then mount a new tmpfs on each dir in tmpfs, see tmpfs(5)
	// The new namespace starts as a copy of the host's mount table, and a
	// copy of a shared mount stays in its peer group: a mount made under it
	// here would appear on the host too (mount_namespaces(7), "Shared
	// subtrees"; on systemd hosts "/" is shared). So first make every
	// mount private: no source, no type, only the propagation flags.
	if err := trace.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
		return err
	}
	for _, dir := range tmpfs {
		// tmpfs lives in memory: the source is only a name, shown in
		// /proc/self/mountinfo.
		if err := trace.Mount("tmpfs", dir, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV, ""); err != nil {
			return err
		}
	}
	// end exercise
	return reexec.Exec(args)
}
