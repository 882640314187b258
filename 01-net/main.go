// Command 01-net runs a command in a new network namespace: it sees only a
// loopback device of its own (network_namespaces(7)). With --veth it is also
// wired to the host by a veth pair.
//
//	sudo 01-net ip -o link
//	sudo 01-net --veth -- busybox ping -c1 10.201.0.1
package main

import (
	"flag"

	"golang.org/x/sys/unix"

	"tincan.dev/pkg/network"
	"tincan.dev/pkg/reexec"
	"tincan.dev/pkg/step"
)

var veth = flag.Bool("veth", false, "connect to the host: eth0 10.201.0.2/24 inside, tincan-veth0 10.201.0.1/24 outside")

func main() {
	step.Main("01-net", "[--veth] [--] [CMD [ARG...]]", parent, child)
}

// parent runs on the host: it starts this program again in new namespaces.
func parent(cmd *reexec.Cmd) (int, error) {
	// exercise: start the child in a network namespace of its own: CLONE_NEWNET in Cloneflags, see network_namespaces(7)
	cmd.SysProcAttr.Cloneflags = unix.CLONE_NEWNET
	// end exercise
	if err := cmd.Start(); err != nil {
		return 0, err
	}
	if *veth {
		// The child waits while we plug the cable into its namespace.
		pair := network.Veth{
			Host: "tincan-veth0", HostAddr: network.MustCIDR("10.201.0.1/24"),
			Peer: "eth0", PeerAddr: network.MustCIDR("10.201.0.2/24"),
			PeerPid: cmd.Pid,
		}
		if err := pair.Add(); err != nil {
			cmd.Abort()
			return 0, err
		}
		defer network.Delete(pair.Host)
	}
	return cmd.ContinueAndWait()
}

// child runs inside the new namespaces, then becomes CMD.
func child(args []string) error {
	// exercise: a new network namespace's lo is down, so even 127.0.0.1 is unreachable: set it up (pkg/network)
	if err := network.LoopbackUp(); err != nil {
		return err
	}
	// end exercise
	return reexec.Exec(args)
}
