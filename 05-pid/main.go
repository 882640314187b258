// Command 05-pid runs a command as PID 1 of a new PID namespace, with /proc
// mounted again inside a new mount namespace so that ps sees only the
// container's processes (pid_namespaces(7)).
//
//	sudo 05-pid ps aux
package main

import (
	"golang.org/x/sys/unix"

	"tincan.dev/pkg/mount"
	"tincan.dev/pkg/reexec"
	"tincan.dev/pkg/step"
)

func main() {
	step.Main("05-pid", "[--] [CMD [ARG...]]", parent, child)
}

// parent runs on the host: it starts this program again in new namespaces.
func parent(cmd *reexec.Cmd) (int, error) {
	// exercise: the child is PID 1 of a new PID namespace, and needs a mount namespace for its /proc: CLONE_NEWPID and CLONE_NEWNS, see pid_namespaces(7)
	cmd.SysProcAttr.Cloneflags = unix.CLONE_NEWPID | unix.CLONE_NEWNS
	// end exercise
	return cmd.Run()
}

// child runs inside the new namespaces, then becomes CMD.
func child(args []string) error {
	// exercise: ps reads /proc, which shows the PID namespace of whoever mounted it: make / private, then mount proc on /proc (pkg/mount)
	// Make our copy of the mount table private first, or the new /proc
	// would be mounted on the host's /proc too, wherever "/" is shared.
	if err := mount.MakePrivate("/"); err != nil {
		return err
	}
	if err := mount.Proc("/proc"); err != nil {
		return err
	}
	// end exercise
	return reexec.Exec(args)
}
