// A new network namespace holds only a loopback device, and it is down. To reach
// it from outside, the kernel offers a veth pair: two interfaces joined like the
// ends of a cable, whatever enters one leaves the other (veth(4)). One end stays
// on the host, the other lives in the container's namespace.
//
// The container's end is created directly inside the container's namespace
// (IFLA_NET_NS_PID in the RTM_NEWLINK request) rather than created on the host
// and moved there: moving a link between namespaces waits for RCU grace periods
// and costs tens of milliseconds, creating it in place costs none.

package network

import (
	"errors"
	"fmt"
	"net"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"tincan.dev/pkg/trace"
)

// Veth describes a veth pair between the caller's network namespace and the
// network namespace of process PeerPid.
type Veth struct {
	Host     string     // name of the end in the caller's namespace
	Alias    string     // its alias (ip link set NAME alias ...), such as its owner, or ""
	HostAddr *net.IPNet // its address, or nil
	Peer     string     // name of the end in PeerPid's namespace, e.g. eth0
	PeerAddr *net.IPNet // its address, or nil
	PeerPid  int        // a process in the target namespace
	Master   string     // a bridge to plug the host end into, or ""
}

// Add creates the pair, assigns the addresses and sets both ends up. On error
// nothing is left behind.
func (v Veth) Add() error { return v.add(nil) }

// add is Add, then inside(h) with h a netlink handle in the peer's namespace,
// for the callers that configure more there (a route, lo).
func (v Veth) add(inside func(h *netlink.Handle) error) (err error) {
	attrs := netlink.NewLinkAttrs()
	attrs.Name = v.Host
	link := &netlink.Veth{LinkAttrs: attrs, PeerName: v.Peer, PeerNamespace: netlink.NsPid(v.PeerPid)}
	trace.Call("RTM_NEWLINK {kind: veth, name: %q, peer: %q, IFLA_NET_NS_PID: %d}", v.Host, v.Peer, v.PeerPid)
	if err := netlink.LinkAdd(link); err != nil {
		if errors.Is(err, unix.EEXIST) {
			return fmt.Errorf("create veth %s: %w: a link of that name exists, another container's (can ps lists yours; can cleanup removes what yours left)", v.Host, err)
		}
		return fmt.Errorf("create veth %s <-> %s in the netns of pid %d: %w", v.Host, v.Peer, v.PeerPid, err)
	}
	defer func() {
		if err != nil {
			netlink.LinkDel(link) // deleting one end deletes both
		}
	}()
	if v.Alias != "" {
		// The kernel reads IFLA_IFALIAS only when a link is changed, not
		// when it is made: a second request.
		trace.Call("RTM_SETLINK {dev: %q, IFLA_IFALIAS: %q}", v.Host, v.Alias)
		if err := netlink.LinkSetAlias(link, v.Alias); err != nil {
			return fmt.Errorf("alias %q on %s: %w", v.Alias, v.Host, err)
		}
	}
	if v.Master != "" {
		// IFLA_MASTER: the bridge becomes the host end's master, like a
		// cable plugged into a switch port.
		trace.Call("RTM_SETLINK {dev: %q, IFLA_MASTER: %q}", v.Host, v.Master)
		if err := netlink.LinkSetMaster(link, &netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: v.Master}}); err != nil {
			return fmt.Errorf("plug %s into bridge %s: %w", v.Host, v.Master, err)
		}
		// Hairpin mode lets the bridge send a frame back out of the port it
		// came in by. A container reaching its own published port needs it
		// when br_netfilter is on (bridge-nf-call-iptables=1, as on most
		// hosts, Docker's too): the DNAT then happens inside the bridge,
		// which sends the packet back to the port it came from.
		trace.Call("RTM_SETLINK {dev: %q, IFLA_PROTINFO: {IFLA_BRPORT_MODE: hairpin}}", v.Host)
		if err := netlink.LinkSetHairpin(link, true); err != nil {
			return fmt.Errorf("hairpin mode on %s: %w", v.Host, err)
		}
	}
	if err := configure(&netlink.Handle{}, v.Host, v.HostAddr); err != nil {
		return err
	}
	nsh, err := netns.GetFromPid(v.PeerPid)
	if err != nil {
		return fmt.Errorf("open the network namespace of pid %d: %w", v.PeerPid, err)
	}
	defer nsh.Close()
	// A netlink socket opened in the peer's namespace talks to that namespace,
	// without moving this thread into it. Only NETLINK_ROUTE: with no family
	// named, the library also opens XFRM and NETFILTER sockets, which fail
	// with "protocol not supported" where xfrm_user cannot load.
	h, err := netlink.NewHandleAt(nsh, unix.NETLINK_ROUTE)
	if err != nil {
		return fmt.Errorf("netlink socket in the netns of pid %d: %w", v.PeerPid, err)
	}
	defer h.Close()
	if err := configure(h, v.Peer, v.PeerAddr); err != nil {
		return err
	}
	if inside != nil {
		return inside(h)
	}
	return nil
}

// configure gives the link name an address (when addr is not nil) and sets it up.
func configure(h *netlink.Handle, name string, addr *net.IPNet) error {
	link, err := h.LinkByName(name)
	if err != nil {
		return fmt.Errorf("find link %s: %w", name, err)
	}
	if addr != nil {
		trace.Call("RTM_NEWADDR {dev: %q, addr: %s}", name, addr)
		if err := h.AddrAdd(link, &netlink.Addr{IPNet: addr}); err != nil {
			return fmt.Errorf("add address %s to %s: %w", addr, name, err)
		}
	}
	trace.Call("RTM_NEWLINK {dev: %q, flags: IFF_UP}", name)
	if err := h.LinkSetUp(link); err != nil {
		return fmt.Errorf("set %s up: %w", name, err)
	}
	return nil
}

// Delete removes the link name from the caller's namespace; deleting either
// end of a veth pair deletes both. A link that is already gone (its peer's
// namespace died first, taking the pair with it) is not an error.
func Delete(name string) error {
	link, err := netlink.LinkByName(name)
	if err != nil {
		var nf netlink.LinkNotFoundError
		if errors.As(err, &nf) {
			return nil
		}
		return fmt.Errorf("find link %s: %w", name, err)
	}
	trace.Call("RTM_DELLINK {dev: %q}", name)
	if err := netlink.LinkDel(link); err != nil {
		return fmt.Errorf("delete link %s: %w", name, err)
	}
	return nil
}

// LoopbackUp sets lo up in the caller's network namespace: a new namespace
// has one, down, so even 127.0.0.1 is unreachable until this is done. One
// ioctl(2) on any socket of the namespace, as ifconfig does, rather than
// two netlink round trips (find the link, then set it up): every container
// with a network namespace of its own pays for it at start.
func LoopbackUp() error {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("set lo up: socket: %w", err)
	}
	defer unix.Close(fd)
	ifr, err := unix.NewIfreq("lo")
	if err != nil {
		return err
	}
	if err := unix.IoctlIfreq(fd, unix.SIOCGIFFLAGS, ifr); err != nil {
		return fmt.Errorf("set lo up: ioctl(SIOCGIFFLAGS): %w", err)
	}
	ifr.SetUint16(ifr.Uint16() | unix.IFF_UP)
	trace.Call("ioctl(socket(AF_INET), SIOCSIFFLAGS, {\"lo\", IFF_UP})")
	if err := unix.IoctlIfreq(fd, unix.SIOCSIFFLAGS, ifr); err != nil {
		return fmt.Errorf("set lo up: ioctl(SIOCSIFFLAGS): %w", err)
	}
	return nil
}

// MustCIDR parses an address with its prefix, such as 10.201.0.2/24, keeping
// the host part (net.ParseCIDR alone would keep only the network).
func MustCIDR(s string) *net.IPNet {
	ip, n, err := net.ParseCIDR(s)
	if err != nil {
		panic(err)
	}
	n.IP = ip
	return n
}
