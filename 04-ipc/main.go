// Command 04-ipc runs a command in a new IPC namespace: System V message
// queues, semaphores and shared memory made on the host are out of its sight,
// and its own vanish with it (ipc_namespaces(7)).
//
//	ipcmk -Q && sudo 04-ipc ipcs -q
package main

import (
	"golang.org/x/sys/unix"

	"tincan.dev/pkg/reexec"
	"tincan.dev/pkg/step"
)

func main() {
	step.Main("04-ipc", "[--] [CMD [ARG...]]", parent, child)
}

// parent runs on the host: it starts this program again in new namespaces.
func parent(cmd *reexec.Cmd) (int, error) {
	// exercise: start the child with System V IPC objects of its own: CLONE_NEWIPC in Cloneflags, see ipc_namespaces(7)
	// System V message queues, semaphores and shared memory segments are
	// found by key and id in a table that belongs to an IPC namespace. In a
	// new one the table is empty: ipcs lists none of the host's objects,
	// and those CMD makes die with the namespace (ipc_namespaces(7)).
	cmd.SysProcAttr.Cloneflags = unix.CLONE_NEWIPC
	// end exercise
	return cmd.Run()
}

// child runs inside the new namespaces, then becomes CMD.
func child(args []string) error {
	return reexec.Exec(args)
}
