// Command 01-net runs a command in a new network namespace: it sees only a
// loopback device of its own (network_namespaces(7)). With --veth it is also
// wired to the host by a veth pair.
//
//	sudo 01-net ip -o link
//	sudo 01-net --veth -- busybox ping -c1 10.201.0.1
package main

import (
	"flag"
	"net"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"tincan.dev/pkg/owner"
	"tincan.dev/pkg/reexec"
	"tincan.dev/pkg/step"
	"tincan.dev/pkg/trace/rtnl"
)

var veth = flag.Bool("veth", false, "connect to the host: eth0 "+innerAddr.String()+" inside, "+hostEnd+" "+hostAddr.String()+" outside")

// The two ends of the cable, and their addresses. Link names and routes are
// the whole machine's: on a server a class shares, each user gets their own
// (pkg/owner), and root the ones of the transcripts, tincan-veth0 and
// 10.201.0.0/24.
var (
	hostEnd             = owner.Link("tincan-veth0", "tincan-v")
	hostAddr, innerAddr = owner.Subnet30(cidr("10.201.0.0/16"))
	innerEnd            = "eth0"
)

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
		// exercise: --veth: while the child waits, make a veth pair (netlink.Veth, rtnl.LinkAdd) whose inner end is born in the child's namespace (PeerNamespace: netlink.NsPid), then give the host end hostAddr and set it up; delete it when CMD ends, see veth(4)
		// A veth pair is a cable: what enters one end leaves the other
		// (veth(4)). The inner end is made straight in the child's
		// namespace (IFLA_NET_NS_PID): moving a link between namespaces
		// afterwards waits for RCU grace periods, tens of milliseconds.
		attrs := netlink.NewLinkAttrs()
		attrs.Name = hostEnd
		pair := &netlink.Veth{LinkAttrs: attrs, PeerName: innerEnd, PeerNamespace: netlink.NsPid(cmd.Pid)}
		if err := rtnl.LinkAdd(pair); err != nil {
			cmd.Abort()
			return 0, err
		}
		// Deleting one end deletes both. The child's namespace would take
		// the pair with it when it dies, but later, in the background.
		defer rtnl.LinkDel(pair)
		if err := up(pair, hostAddr); err != nil {
			cmd.Abort()
			return 0, err
		}
		// end exercise
	}
	return cmd.ContinueAndWait()
}

// child runs inside the new namespaces, then becomes CMD.
func child(args []string) error {
	// exercise: a new network namespace's lo is down, so even 127.0.0.1 is unreachable: set it up (rtnl.LinkByName, rtnl.LinkSetUp); with --veth, give eth0 innerAddr and set it up too, see rtnetlink(7)
	// A new network namespace holds only lo, and it is down.
	lo, err := rtnl.LinkByName("lo")
	if err != nil {
		return err
	}
	if err := rtnl.LinkSetUp(lo); err != nil {
		return err
	}
	if *veth {
		// Our end of the cable, made here by the parent while we waited.
		eth0, err := rtnl.LinkByName(innerEnd)
		if err != nil {
			return err
		}
		if err := up(eth0, innerAddr); err != nil {
			return err
		}
	}
	// end exercise
	return reexec.Exec(args)
}

// up gives link its address, which also gives the kernel its route to the
// address's network, and sets it up: ip addr add, then ip link set up.
func up(link netlink.Link, addr *net.IPNet) error {
	if err := rtnl.AddrAdd(link, addr); err != nil {
		return err
	}
	return rtnl.LinkSetUp(link)
}

// cidr parses an address with its prefix, keeping the host part
// (net.ParseCIDR alone keeps only the network's).
func cidr(s string) *net.IPNet {
	ip, n, err := net.ParseCIDR(s)
	if err != nil {
		panic(err)
	}
	n.IP = ip
	return n
}
