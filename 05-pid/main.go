// Command 05-pid runs a command as PID 1 of a new PID namespace, with /proc
// mounted again inside a new mount namespace so that ps sees only the
// container's processes (pid_namespaces(7)).
//
//	sudo 05-pid ps aux
package main

import (
	"golang.org/x/sys/unix"

	"tincan.dev/pkg/reexec"
	"tincan.dev/pkg/step"
	"tincan.dev/pkg/trace"
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
	// exercise: ps reads /proc, which shows the PID namespace of whoever mounted it: make / private (mount(2) with MS_REC|MS_PRIVATE, trace.Mount), then mount a new proc on /proc, see "/proc and PID namespaces" in pid_namespaces(7)
	// Make our copy of the mount table private first, or the new /proc
	// would be mounted on the host's /proc too, wherever "/" is shared
	// (mount_namespaces(7), "Shared subtrees").
	if err := trace.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
		return err
	}
	// A proc filesystem shows the PID namespace of the process that
	// mounts it: mounted here, the new one, where CMD is PID 1.
	if err := trace.Mount("proc", "/proc", "proc", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, ""); err != nil {
		return err
	}
	// end exercise
	return reexec.Exec(args)
}
