// Command 03-uts runs a command in a new UTS namespace with a hostname of its
// own: the host keeps its name (uts_namespaces(7)).
//
//	sudo 03-uts --hostname box -- hostname
package main

import (
	"flag"

	"golang.org/x/sys/unix"

	"tincan.dev/pkg/ns"
	"tincan.dev/pkg/reexec"
	"tincan.dev/pkg/step"
	"tincan.dev/pkg/trace"
)

var hostname = flag.String("hostname", "tincan", "the container's hostname: letters, digits, - and ., 1 to 64 bytes")

func main() {
	step.Main("03-uts", "[--hostname NAME] [--] [CMD [ARG...]]", parent, child)
}

// parent runs on the host: it starts this program again in new namespaces.
func parent(cmd *reexec.Cmd) (int, error) {
	// Refuse a bad name here, before any namespace exists.
	if err := ns.CheckHostname(*hostname); err != nil {
		return 0, err
	}
	// exercise: start the child with a hostname of its own: CLONE_NEWUTS in Cloneflags, see uts_namespaces(7)
	cmd.SysProcAttr.Cloneflags = unix.CLONE_NEWUTS
	// end exercise
	return cmd.Run()
}

// child runs inside the new namespaces, then becomes CMD.
func child(args []string) error {
	// exercise: set the hostname of the child's UTS namespace to *hostname: sethostname(2) (trace.Sethostname takes the name as a string), see uts_namespaces(7)
	// sethostname(2) changes the hostname of the caller's UTS namespace:
	// here the new one, so the host keeps its name. It needs
	// CAP_SYS_ADMIN in the user namespace that owns the UTS namespace.
	if err := trace.Sethostname(*hostname); err != nil {
		return err
	}
	// end exercise
	return reexec.Exec(args)
}
