// Package network connects network namespaces, through rtnetlink(7) as ip(8)
// does and nftables' netlink protocol as nft(8) does, never by running them.
//
//   - veth.go: a veth pair whose inner end is created inside the namespace
//     (01-net --veth);
//   - bridge.go: the bridge tincan0 the containers plug into, its subnet
//     (the first of Pools no host route uses), and Attach, Publish (which
//     holds each host port with a socket), Detach, Sweep, Cleanup
//     (can --net bridge);
//   - ipam.go: the addresses, one file each under a flock'd directory;
//   - nat.go: table ip tincan: masquerade out, DNAT of published ports in,
//     and the guard that keeps containers off the host's 127.0.0.1;
//   - ports.go: -p [HOSTIP:]HOSTPORT:PORT[/tcp|/udp];
//   - hosts.go: a container's /etc/hosts and /etc/resolv.conf.
//
// A container on the bridge, from start to end:
//
//	b := network.Bridge{}                      // tincan0, a free subnet (Pools), table tincan
//	err := b.CheckForward()                    // a warning: a forward chain drops (Docker's)
//	a, err := b.Attach(id, pid, nil)           // pid waits in its new netns
//	err = a.Publish([]network.Port{p})         // p from network.ParsePort("8080:80")
//	...                                        // the container runs
//	err = a.Detach()                           // rules, veth, address gone
//
// and for can cleanup: b.Sweep(alive), or b.Cleanup() to remove everything.
// See network_namespaces(7), veth(4), bridge(8) and nft(8).
package network
