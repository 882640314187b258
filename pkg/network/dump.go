package network

import (
	"errors"
	"fmt"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// dump returns what list returns, asking again while the kernel says its
// answer was not whole.
//
// A list request (ip link, ip address, ip route) is a netlink dump: the
// kernel answers in parts, one buffer at a time, and if the table changes
// between two parts (another container's veth made, or deleted with its
// network namespace, which the kernel does later, on a worker of its own)
// it marks the answer NLM_F_DUMP_INTR ("Dump was inconsistent due to
// sequence change", include/uapi/linux/netlink.h). vishvananda/netlink
// then returns EINTR rather than a list that may miss or repeat an entry.
// Nothing was interrupted on our side: the kernel asks the reader to
// start the dump again, and so do we (as cilium does).
func dump[T any](list func() ([]T, error)) ([]T, error) {
	const tries = 10
	for try := 1; ; try++ {
		l, err := list()
		if !errors.Is(err, unix.EINTR) {
			return l, err
		}
		if try == tries {
			return nil, fmt.Errorf("%w: the kernel's list changed while it was read, %d times in a row", err, tries)
		}
	}
}

// Links lists the links of this network namespace (ip link), whole.
func Links() ([]netlink.Link, error) { return dump(netlink.LinkList) }

// ipv4Addrs lists the IPv4 addresses of link (ip -4 address show dev LINK).
func ipv4Addrs(link netlink.Link) ([]netlink.Addr, error) {
	return dump(func() ([]netlink.Addr, error) { return netlink.AddrList(link, netlink.FAMILY_V4) })
}
