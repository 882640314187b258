// Package rtnl is package trace for network links: each function sends one
// rtnetlink(7) request through github.com/vishvananda/netlink, printed first
// as the request the kernel receives (RTM_NEWLINK, RTM_NEWADDR...), so that
// 01-net's -v output shows how a veth pair is made. It is a package of its
// own so that only the lessons that use netlink link it in.
package rtnl

import (
	"errors"
	"fmt"
	"net"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"tincan.dev/pkg/trace"
)

// LinkAdd is RTM_NEWLINK with NLM_F_CREATE: it makes link. For a veth, the
// request also names the peer and, with PeerNamespace, the network
// namespace the peer is made in (IFLA_NET_NS_PID or IFLA_NET_NS_FD).
func LinkAdd(link netlink.Link) error {
	name := link.Attrs().Name
	if v, ok := link.(*netlink.Veth); ok {
		where := ""
		switch ns := v.PeerNamespace.(type) {
		case netlink.NsPid:
			where = fmt.Sprintf(", IFLA_NET_NS_PID: %d", ns)
		case netlink.NsFd:
			where = fmt.Sprintf(", IFLA_NET_NS_FD: %d", ns)
		}
		trace.Call("RTM_NEWLINK {kind: veth, name: %q, peer: %q%s}", name, v.PeerName, where)
	} else {
		trace.Call("RTM_NEWLINK {kind: %s, name: %q}", link.Type(), name)
	}
	if err := netlink.LinkAdd(link); err != nil {
		if errors.Is(err, unix.EEXIST) {
			return fmt.Errorf("create %s %s: %w: a link of that name exists, made by another run of yours (or one that was killed): stop that run, or ip link del %[2]s if none is left (names are per user, see pkg/owner)", link.Type(), name, err)
		}
		return fmt.Errorf("create %s %s: %w", link.Type(), name, err)
	}
	return nil
}

// LinkByName finds the link called name in this network namespace
// (RTM_GETLINK, not traced: it changes nothing).
func LinkByName(name string) (netlink.Link, error) {
	link, err := netlink.LinkByName(name)
	if err != nil {
		return nil, fmt.Errorf("find link %s: %w", name, err)
	}
	return link, nil
}

// AddrAdd is RTM_NEWADDR: it gives link the address addr, such as
// 10.201.0.2/24. The kernel adds the route to the address's network with it.
func AddrAdd(link netlink.Link, addr *net.IPNet) error {
	name := link.Attrs().Name
	trace.Call("RTM_NEWADDR {dev: %q, addr: %s}", name, addr)
	if err := netlink.AddrAdd(link, &netlink.Addr{IPNet: addr}); err != nil {
		return fmt.Errorf("add address %s to %s: %w", addr, name, err)
	}
	return nil
}

// LinkSetUp is RTM_NEWLINK with IFF_UP: ip link set NAME up.
func LinkSetUp(link netlink.Link) error {
	name := link.Attrs().Name
	trace.Call("RTM_NEWLINK {dev: %q, flags: IFF_UP}", name)
	if err := netlink.LinkSetUp(link); err != nil {
		return fmt.Errorf("set %s up: %w", name, err)
	}
	return nil
}

// LinkDel is RTM_DELLINK: it deletes link, and for a veth its peer with it.
// A link already gone is not an error: a veth also dies with the network
// namespace that holds its peer.
func LinkDel(link netlink.Link) error {
	name := link.Attrs().Name
	trace.Call("RTM_DELLINK {dev: %q}", name)
	if err := netlink.LinkDel(link); err != nil && !errors.Is(err, unix.ENODEV) {
		return fmt.Errorf("delete link %s: %w", name, err)
	}
	return nil
}
