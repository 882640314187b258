package network

import (
	"encoding/hex"
	"errors"
	"fmt"
	"hash/fnv"
	"net"
	"os"
	"path/filepath"
	"strings"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"tincan.dev/pkg/owner"
	"tincan.dev/pkg/trace"
)

// Defaults of a Bridge: what can --net bridge uses.
const (
	DefaultBridge   = "tincan0"
	DefaultTable    = "tincan"
	DefaultStateDir = "/run/tincan/ipam"
)

// Pools are the subnets a bridge given none chooses from: the first that
// overlaps no route of the host, as Docker's default-address-pools do. A
// subnet that overlaps a route takes addresses the host reaches elsewhere (its
// own network, a VPN's): packets to them would go to the containers. The
// list keeps clear of the subnets other software chooses without looking:
// podman's 10.88.0.0/16 and its 10.89+ networks, Docker's 172.17-31 and
// 192.168, Kubernetes' 10.96.0.0/12 and 10.244.0.0/16.
var Pools = pools("10.77.0.0/16", 11) // 10.77.0.0/16 to 10.87.0.0/16

// pools returns n subnets, first and the ones that follow it.
func pools(first string, n int) []*net.IPNet {
	_, p, _ := net.ParseCIDR(first)
	ones, _ := p.Mask.Size()
	var all []*net.IPNet
	for i := 0; i < n; i++ {
		all = append(all, &net.IPNet{IP: addIP(p.IP, uint32(i)<<(32-ones)), Mask: p.Mask})
	}
	return all
}

// reserved are the ranges no bridge may overlap, whatever the routes say.
var reserved = []struct{ subnet, what string }{
	{"0.0.0.0/8", `"this network"`},
	{"127.0.0.0/8", "loopback"},
	{"169.254.0.0/16", "link-local"},
	{"224.0.0.0/3", "multicast and reserved"},
}

// Bridge is a software switch on the host with the containers plugged into it
// (the CNI bridge plugin's picture):
//
//	container 1: eth0 10.77.0.2 ─ veth ─ tc-c1 ┐
//	container 2: eth0 10.77.0.3 ─ veth ─ tc-c2 ┴ tincan0 10.77.0.1/16 ─ host routing, NAT ─ eth0 of the host
//
// The containers reach each other through the bridge, in one layer-2
// segment, and everything else through the host: their default route is the
// bridge's address. The host forwards their packets (ip_forward) and, in the
// nftables table Table, masquerades them on their way out and DNATs published
// ports in (see nat.go). The zero value of each field means its default.
type Bridge struct {
	Name     string     // the bridge link, tincan0
	Subnet   *net.IPNet // the existing bridge's, or the first free of Pools
	StateDir string     // holds the address allocator's directory per subnet, /run/tincan/ipam
	Table    string     // the nftables table, tincan
}

// OwnBridge is the default bridge of the user can runs for (pkg/owner):
// DefaultBridge for root, tincan<uid> for a user who runs can through sudo.
func OwnBridge() string { return owner.Link(DefaultBridge, "tincan") }

// ownTable and OwnStateDir are the same for the nftables table and the
// allocations: tincan-<uid>, /run/tincan-<uid>/ipam.
func ownTable() string {
	if uid := owner.UID(); uid != 0 {
		return fmt.Sprintf("%s-%d", DefaultTable, uid)
	}
	return DefaultTable
}

func OwnStateDir() string {
	if uid := owner.UID(); uid != 0 {
		return fmt.Sprintf("/run/tincan-%d/ipam", uid)
	}
	return DefaultStateDir
}

func (b Bridge) withDefaults() (Bridge, error) {
	if b.Name == "" {
		b.Name = OwnBridge()
	}
	if b.StateDir == "" {
		b.StateDir = OwnStateDir()
	}
	if b.Table == "" {
		b.Table = ownTable()
	}
	if b.Subnet == nil {
		subnet, err := b.chooseSubnet()
		if err != nil {
			return b, err
		}
		b.Subnet = subnet
	}
	ones, bits := b.Subnet.Mask.Size()
	if b.Subnet.IP.To4() == nil || bits != 32 || ones < 8 || ones > 30 {
		return b, fmt.Errorf("subnet %s: give an IPv4 subnet from /8 to /30 (a /31 or /32 leaves no address for a container), such as %s", b.Subnet, Pools[0])
	}
	b.Subnet = &net.IPNet{IP: b.Subnet.IP.Mask(b.Subnet.Mask).To4(), Mask: b.Subnet.Mask}
	for _, r := range reserved {
		_, n, _ := net.ParseCIDR(r.subnet)
		if overlaps(b.Subnet, n) {
			return b, fmt.Errorf("subnet %s overlaps %s, %s addresses: choose a private subnet such as %s", b.Subnet, n, r.what, Pools[0])
		}
	}
	return b, nil
}

// chooseSubnet answers the subnet of the bridge, when it has an address:
// containers on it keep theirs while the host's routes change. Otherwise it
// is the first of Pools that no route of the host overlaps.
func (b Bridge) chooseSubnet() (*net.IPNet, error) {
	if link, err := netlink.LinkByName(b.Name); err == nil {
		addrs, err := ipv4Addrs(link)
		if err != nil {
			return nil, fmt.Errorf("addresses of %s: %w", b.Name, err)
		}
		if len(addrs) > 0 {
			a := addrs[0].IPNet
			return &net.IPNet{IP: a.IP.Mask(a.Mask), Mask: a.Mask}, nil
		}
	}
	routes, err := hostRoutes(b.Name)
	if err != nil {
		return nil, err
	}
	for _, p := range Pools {
		if routeOver(p, routes) == nil {
			return p, nil
		}
	}
	return nil, fmt.Errorf("every default subnet, %s to %s, overlaps a route of this host (ip route): choose a free one with --subnet",
		Pools[0], Pools[len(Pools)-1])
}

// checkRoutes refuses a subnet that overlaps a route of the host.
func (b Bridge) checkRoutes() error {
	routes, err := hostRoutes(b.Name)
	if err != nil {
		return err
	}
	if r := routeOver(b.Subnet, routes); r != nil {
		dev := ""
		if l, err := netlink.LinkByIndex(r.LinkIndex); err == nil {
			dev = " dev " + l.Attrs().Name
		}
		return fmt.Errorf("subnet %s overlaps the route %s%s of this host: choose a subnet no route uses (ip route)", b.Subnet, r.Dst, dev)
	}
	return nil
}

// hostRoutes lists the routes of the main table (ip route), but the
// default route, which overlaps everything, and those of the bridge itself.
func hostRoutes(bridge string) ([]netlink.Route, error) {
	trace.Call("RTM_GETROUTE {family: AF_INET, table: main}")
	all, err := dump(func() ([]netlink.Route, error) { return netlink.RouteList(nil, netlink.FAMILY_V4) })
	if err != nil {
		return nil, fmt.Errorf("list the host's routes: %w", err)
	}
	own := -1
	if l, err := netlink.LinkByName(bridge); err == nil {
		own = l.Attrs().Index
	}
	var routes []netlink.Route
	for _, r := range all {
		if ones, _ := maskSize(r.Dst); r.Dst != nil && ones > 0 && r.LinkIndex != own {
			routes = append(routes, r)
		}
	}
	return routes, nil
}

func maskSize(n *net.IPNet) (int, int) {
	if n == nil {
		return 0, 0
	}
	return n.Mask.Size()
}

// routeOver returns the first route whose destination overlaps n, or nil.
func routeOver(n *net.IPNet, routes []netlink.Route) *netlink.Route {
	for i := range routes {
		if overlaps(n, routes[i].Dst) {
			return &routes[i]
		}
	}
	return nil
}

// overlaps reports whether two subnets share an address: as subnets nest or
// are apart, one then holds the other's first address.
func overlaps(a, b *net.IPNet) bool {
	return a.Contains(b.IP.Mask(b.Mask)) || b.Contains(a.IP.Mask(a.Mask))
}

// IPAM is the bridge's address allocator: a directory per subnet, such as
// /run/tincan/ipam/10.77.0.0-16.
func (b Bridge) IPAM() IPAM {
	b, _ = b.withDefaults()
	dir := strings.ReplaceAll(b.Subnet.String(), "/", "-")
	return IPAM{Dir: filepath.Join(b.StateDir, dir), Subnet: b.Subnet}
}

// Ensure makes the bridge, its address, its nftables table and the sysctls
// forwarding needs, or leaves them as they are when they exist. Each step
// takes "already there" for success, so cans that start at the same time
// never fail or double anything.
func (b Bridge) Ensure() error {
	b, err := b.withDefaults()
	if err != nil {
		return err
	}
	gw := &net.IPNet{IP: b.IPAM().Gateway(), Mask: b.Subnet.Mask}
	if err := b.ensureLink(gw); err != nil {
		return err
	}
	// The host routes the containers' packets only with forwarding on. In a
	// network namespace of its own this sysctl is the namespace's.
	if err := sysctl("net/ipv4/ip_forward", "1"); err != nil {
		return err
	}
	// A packet from 127.0.0.1, DNATed in output to a container, must leave
	// through the bridge, and its replies come back to 127.0.0.1 on it. Both
	// are "martians" the kernel drops unless route_localnet is on for the
	// link (ip-sysctl: route_localnet).
	if err := sysctl("net/ipv4/conf/"+b.Name+"/route_localnet", "1"); err != nil {
		return err
	}
	t, err := openTable(b.Table)
	if err != nil {
		return err
	}
	return t.create(natRules(b.Name, b.Subnet))
}

func (b Bridge) ensureLink(gw *net.IPNet) error {
	link, err := netlink.LinkByName(b.Name)
	if err != nil {
		// No bridge yet, so no container on the subnet: a last look that
		// it is still free, before the bridge's route takes it.
		if err := b.checkRoutes(); err != nil {
			return err
		}
		attrs := netlink.NewLinkAttrs()
		attrs.Name = b.Name
		// A bridge takes the lowest MAC address of its ports unless it was
		// given one: then each container that comes or goes could change
		// the gateway's MAC under the others' ARP caches. A fixed address,
		// from the gateway's IP in the locally administered range
		// (02:...), keeps it still.
		attrs.HardwareAddr = net.HardwareAddr(append([]byte{0x02, 0x42}, gw.IP.To4()...))
		trace.Call("RTM_NEWLINK {kind: bridge, name: %q, address: %s, flags: NLM_F_CREATE|NLM_F_EXCL}", b.Name, attrs.HardwareAddr)
		err := netlink.LinkAdd(&netlink.Bridge{LinkAttrs: attrs})
		if err != nil && !errors.Is(err, unix.EEXIST) {
			return fmt.Errorf("create bridge %s: %w", b.Name, err)
		}
		if link, err = netlink.LinkByName(b.Name); err != nil {
			return fmt.Errorf("find bridge %s: %w", b.Name, err)
		}
	}
	if link.Type() != "bridge" {
		return fmt.Errorf("%s is a %s link, not a bridge: remove it or choose another name", b.Name, link.Type())
	}
	addrs, err := ipv4Addrs(link)
	if err != nil {
		return fmt.Errorf("addresses of %s: %w", b.Name, err)
	}
	for _, a := range addrs {
		if a.IPNet.String() != gw.String() {
			return fmt.Errorf("bridge %s has address %s, not %s: it serves another subnet; remove it with can cleanup --all", b.Name, a.IPNet, gw)
		}
	}
	if len(addrs) == 0 {
		trace.Call("RTM_NEWADDR {dev: %q, addr: %s}", b.Name, gw)
		if err := netlink.AddrAdd(link, &netlink.Addr{IPNet: gw}); err != nil && !errors.Is(err, unix.EEXIST) {
			return fmt.Errorf("add address %s to %s: %w", gw, b.Name, err)
		}
	}
	if link.Attrs().Flags&net.FlagUp == 0 {
		trace.Call("RTM_NEWLINK {dev: %q, flags: IFF_UP}", b.Name)
		if err := netlink.LinkSetUp(link); err != nil {
			return fmt.Errorf("set %s up: %w", b.Name, err)
		}
	}
	return b.ensureCarrier()
}

// ensureCarrier plugs a veth whose two ends stay on the host into the bridge.
//
// A bridge has carrier only while one of its ports has. When the first
// container plugs in, the bridge's carrier comes on, but the kernel acts on
// it (operstate up, and a real queue instead of one that drops everything)
// in linkwatch, which handles such events at most once a second. For up to
// a second the host's packets to the container, its answers to ARP among
// them, are dropped: the first connection waits a TCP retransmission, a DNS
// query its 5 s retry. A port that is always up keeps the carrier on.
func (b Bridge) ensureCarrier() error {
	name := b.Name
	if len(name) > 12 {
		name = name[:12]
	}
	keep := Veth{Host: name + "-up", Peer: name + "-dn", PeerPid: os.Getpid(), Master: b.Name}
	if _, err := netlink.LinkByName(keep.Host); err == nil {
		return nil
	}
	if err := keep.Add(); err != nil && !errors.Is(err, unix.EEXIST) {
		return err
	}
	return nil
}

// CheckForward reports chains, in other tables, that drop forwarded packets
// by default, as the FORWARD chain of a host running Docker does, and do not
// accept the bridge's packets (iifname and oifname the bridge). The bridge
// is then cut off: containers cannot go out, published ports are not reached
// from other hosts (the host itself still reaches them, through output).
//
// An accept rule in table tincan cannot help. Every base chain hooked at
// forward sees the packet, in priority order; accept only ends the packet's
// walk through that one chain, while a drop anywhere is final. So the accept
// has to go into the chain that drops: CheckForward returns the commands.
// It cannot see legacy iptables (x_tables) rules, only nftables ones.
func (b Bridge) CheckForward() error {
	b, err := b.withDefaults()
	if err != nil {
		return err
	}
	drops, err := forwardDrops(b.Name)
	if err != nil || len(drops) == 0 {
		return err
	}
	var fix []string
	for _, c := range drops {
		fix = append(fix,
			fmt.Sprintf("nft insert rule %s iifname %q accept", c, b.Name),
			fmt.Sprintf("nft insert rule %s oifname %q accept", c, b.Name))
	}
	return fmt.Errorf("chain %s drops forwarded packets (policy drop, as Docker sets it), so %s is cut off; allow it there: %s",
		strings.Join(drops, ", chain "), b.Name, strings.Join(fix, "; "))
}

// Attachment is a container plugged into a bridge. Its fields are enough to
// Detach it from another process, such as can cleanup.
type Attachment struct {
	Bridge   Bridge
	ID       string     // the container's id, the owner of its address and rules
	IP       *net.IPNet // eth0's address inside, such as 10.77.0.2/16
	Gateway  net.IP     // the bridge's address, the default route inside
	HostVeth string     // the host end of the cable, tc-<id>

	held      []*os.File // the sockets that hold the published ports, see reserve
	published bool       // Publish put rules in the table, and Release has not yet deleted them
}

// HostVeth names the host end of a container's veth. A link name holds 15
// bytes (IFNAMSIZ, 16, with its NUL), too few for "tincan-" and can's IDs of
// 12 hex digits; "tc-" and the whole ID fit, so two containers never share a
// name (a prefix of the ID would: cleanup after one could delete the
// other's). An ID that does not fit, or holds what a link name may not (/,
// :, spaces), becomes 12 hex digits of its FNV-1a hash (a name, not a
// secret: crypto/sha256 would link some 25 packages of Go's FIPS module into
// can, whose init every start pays). Two IDs could still meet, so the veth
// carries its owner's whole ID as its alias too (IFLA_IFALIAS, ip link's
// "alias"), and cleanup deletes a veth only when the alias names the owner.
func HostVeth(id string) string {
	fits := len(id) > 0 && len(id) <= 12
	for _, c := range id {
		fits = fits && (c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.')
	}
	if !fits {
		h := fnv.New64a()
		h.Write([]byte(id))
		id = hex.EncodeToString(h.Sum(nil)[:6])
	}
	return "tc-" + id
}

// deleteOwned deletes the veth name if its alias says owner made it.
func deleteOwned(name, owner string) error {
	link, err := netlink.LinkByName(name)
	if err != nil || link.Attrs().Alias != owner {
		return nil // gone with its namespace, or another container's
	}
	return Delete(name)
}

// Attach plugs the container whose process is pid into the bridge, with the
// address want, or the next free one when want is nil: it makes sure the
// bridge exists, allocates the address, creates a veth whose end eth0 is
// made directly inside the container's network namespace and whose host end
// is plugged into the bridge, and inside sets lo and eth0 up, with the
// address and a default route through the bridge. On error nothing is left.
func (b Bridge) Attach(id string, pid int, want net.IP) (*Attachment, error) {
	b, err := b.withDefaults()
	if err != nil {
		return nil, err
	}
	if err := b.Ensure(); err != nil {
		return nil, err
	}
	ip, err := b.IPAM().Allocate(id, want)
	if err != nil {
		return nil, err
	}
	a := &Attachment{
		Bridge:   b,
		ID:       id,
		IP:       &net.IPNet{IP: ip, Mask: b.Subnet.Mask},
		Gateway:  b.IPAM().Gateway(),
		HostVeth: HostVeth(id),
	}
	v := Veth{Host: a.HostVeth, Alias: id, Peer: "eth0", PeerAddr: a.IP, PeerPid: pid, Master: b.Name}
	err = v.add(func(h *netlink.Handle) error {
		if err := configure(h, "lo", nil); err != nil {
			return err
		}
		eth0, err := h.LinkByName("eth0")
		if err != nil {
			return fmt.Errorf("find eth0: %w", err)
		}
		trace.Call("RTM_NEWROUTE {dst: default, gateway: %s, dev: \"eth0\"}", a.Gateway)
		if err := h.RouteAdd(&netlink.Route{LinkIndex: eth0.Attrs().Index, Gw: a.Gateway}); err != nil {
			return fmt.Errorf("default route via %s: %w", a.Gateway, err)
		}
		return nil
	})
	if err != nil {
		b.IPAM().Release(ip, id)
		return nil, err
	}
	return a, nil
}

// Publish makes each port of the host lead to the container: one DNAT rule
// per port, tagged with the container's id. A port another container has
// published already is refused, and so is one a program of the host uses
// (see reserve); then none of ports is published.
func (a *Attachment) Publish(ports []Port) error {
	if len(ports) == 0 {
		return nil
	}
	b, err := a.Bridge.withDefaults()
	if err != nil {
		return err
	}
	// The allocator's lock also serialises the check and the adding of rules.
	unlock, err := b.IPAM().lock()
	if err != nil {
		return err
	}
	defer unlock()
	t, err := openTable(b.Table)
	if err != nil {
		return err
	}
	rules, err := t.portRules()
	if err != nil {
		return err
	}
	for i, p := range ports {
		for _, r := range rules {
			if owner, q, ok := ruleOwner(r); ok && p.overlaps(q) {
				return fmt.Errorf("port %s: host port %d/%s is published by container %s already", p, p.HostPort, p.Proto, owner)
			}
		}
		for _, q := range ports[:i] {
			if p.overlaps(q) {
				return fmt.Errorf("port %s: host port %d/%s is given twice", p, p.HostPort, p.Proto)
			}
		}
	}
	var held []*os.File
	for _, p := range ports {
		f, err := reserve(p)
		if err != nil {
			closeAll(held)
			return err
		}
		held = append(held, f)
	}
	for _, p := range ports {
		t.add(dnatRule(a.ID, p, a.IP.IP))
	}
	if err := t.flush(); err != nil {
		closeAll(held)
		return err
	}
	a.held = append(a.held, held...)
	a.published = true
	return nil
}

// reserve binds a socket to the host port p publishes, and keeps it, as
// docker-proxy does for Docker. The DNAT rule alone would take the port from
// under a program of the host that listens there: its clients would reach
// the container instead, and neither side would be told. The bind asks the
// kernel the questions the rule cannot: it fails with EADDRINUSE when a
// socket of the host holds the port (on HostIP, or on any address when
// HostIP is nil). A HostIP that is not an address of this host is refused
// first, from the kernel's routing answer for it (type local, as the rules'
// fib daddr type local asks): bind's EADDRNOTAVAIL says the same, but not on
// hosts that set ip_nonlocal_bind, and there the port would silently never
// be reached. Kept open for the container's
// life, the socket also makes a program that starts later fail to bind,
// instead of silently never getting a packet. A TCP socket listens, so that
// SO_REUSEADDR on the other side does not let it in (bind(2), socket(7)); no
// connection ever reaches it, as the DNAT rules send them to the container
// before the kernel looks for a socket. The socket lives as long as can does,
// which waits for the container; a can killed by SIGKILL frees it with its
// other files, and can cleanup deletes the rule.
func reserve(p Port) (*os.File, error) {
	if p.HostIP != nil && !isLocal(p.HostIP) {
		return nil, fmt.Errorf("port %s: %s is not an address of this host: give one of them (ip -4 addr) or none", p, p.HostIP)
	}
	typ, name := unix.SOCK_STREAM, "SOCK_STREAM"
	if p.Proto == "udp" {
		typ, name = unix.SOCK_DGRAM, "SOCK_DGRAM"
	}
	trace.Call("socket(AF_INET, %s|SOCK_CLOEXEC, 0)", name)
	fd, err := unix.Socket(unix.AF_INET, typ|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("port %s: socket: %w", p, err)
	}
	f := os.NewFile(uintptr(fd), "port "+p.String())
	ip := net.IPv4zero.To4()
	if p.HostIP != nil {
		ip = p.HostIP.To4()
	}
	addr := &unix.SockaddrInet4{Port: int(p.HostPort)}
	copy(addr.Addr[:], ip)
	if typ == unix.SOCK_STREAM {
		// A connection of a past program of the host, in TIME_WAIT on
		// the port, is no reason to refuse it.
		trace.Call("setsockopt(%d, SOL_SOCKET, SO_REUSEADDR, 1)", fd)
		if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEADDR, 1); err != nil {
			f.Close()
			return nil, fmt.Errorf("port %s: SO_REUSEADDR: %w", p, err)
		}
	}
	trace.Call("bind(%d, {%s:%d})", fd, ip, p.HostPort)
	err = unix.Bind(fd, addr)
	if err == nil && typ == unix.SOCK_STREAM {
		trace.Call("listen(%d, 1)", fd)
		err = unix.Listen(fd, 1)
	}
	switch {
	case err == nil:
		return f, nil
	case errors.Is(err, unix.EADDRINUSE):
		err = fmt.Errorf("port %s: host port %s:%d/%s: %w: a program of the host uses it; stop it or publish another port", p, ip, p.HostPort, p.Proto, err)
	case errors.Is(err, unix.EADDRNOTAVAIL):
		err = fmt.Errorf("port %s: %s is not an address of this host: give one of them (ip -4 addr) or none", p, ip)
	default:
		err = fmt.Errorf("port %s: bind %s:%d/%s: %w", p, ip, p.HostPort, p.Proto, err)
	}
	f.Close()
	return nil, err
}

// isLocal reports whether the host's routing delivers packets to ip
// locally (ip route get: "local").
func isLocal(ip net.IP) bool {
	trace.Call("RTM_GETROUTE {dst: %s}", ip)
	routes, err := netlink.RouteGet(ip)
	return err == nil && len(routes) > 0 && routes[0].Type == unix.RTN_LOCAL
}

func closeAll(files []*os.File) {
	for _, f := range files {
		f.Close()
	}
}

// Release frees what a container that has exited held on the host: its
// rules, the ports' sockets and its address. It leaves the veth to the
// kernel, which deletes it with the container's network namespace, after
// the namespace's last process: deleting it here would wait for RCU grace
// periods, some 20 ms at every container's end (docs/ARCHITECTURE.md, rule 8). It can
// run twice.
func (a *Attachment) Release() error {
	b, err := a.Bridge.withDefaults()
	if err != nil {
		return err
	}
	var errs []error
	var ports []Port
	// Most containers publish nothing, and their end need not list the
	// table's rules. Rules a can left when it was killed are the sweep's.
	if a.published {
		t, err := openTable(b.Table)
		if err == nil {
			ports, err = t.deleteRules(func(owner string) bool { return owner == a.ID })
		}
		a.published = err != nil
		errs = append(errs, err)
	}
	// The rules are gone: the ports may serve the host again.
	closeAll(a.held)
	a.held = nil
	for _, p := range ports {
		if p.Proto == "udp" {
			errs = append(errs, forgetConnections(a.IP.IP))
			break
		}
	}
	errs = append(errs, b.IPAM().Release(a.IP.IP, a.ID))
	return errors.Join(errs...)
}

// Detach undoes Attach and Publish while the container may still run: it
// is Release, and it deletes the veth, waiting for the kernel to do so.
func (a *Attachment) Detach() error {
	return errors.Join(a.Release(), deleteOwned(a.HostVeth, a.ID))
}

// forgetConnections deletes the conntrack entries to and from ip. A UDP
// client that keeps sending to a published port keeps its entry alive, and
// with it the DNAT to this address, after the container is gone: a new
// container on that port would never see the packets (conntrack(8) -D). TCP
// needs none of this: its next packet to a dead container gets a reset.
// The dump walks conntrack's hash table, shared by every namespace: some
// 10 ms here, so only containers that published UDP ports pay it.
func forgetConnections(ip net.IP) error {
	from, to := &netlink.ConntrackFilter{}, &netlink.ConntrackFilter{}
	from.AddIP(netlink.ConntrackOrigSrcIP, ip)
	to.AddIP(netlink.ConntrackReplySrcIP, ip)
	trace.Call("IPCTNL_MSG_CT_DELETE {orig src or reply src: %s}", ip)
	_, err := netlink.ConntrackDeleteFilters(netlink.ConntrackTable, unix.AF_INET, from, to)
	if err != nil {
		return fmt.Errorf("forget the connections of %s: %w", ip, err)
	}
	return nil
}

// Sweep detaches the containers that are gone but still hold an address or
// rules, for example after their can was killed: every owner for which alive
// returns false.
func (b Bridge) Sweep(alive func(id string) bool) error {
	b, err := b.withDefaults()
	if err != nil {
		return err
	}
	var errs []error
	t, err := openTable(b.Table)
	if err == nil {
		_, err = t.deleteRules(func(owner string) bool { return !alive(owner) })
	}
	errs = append(errs, err)
	held, err := b.IPAM().Allocated()
	errs = append(errs, err)
	for addr, owner := range held {
		if !alive(owner) {
			ip := net.ParseIP(addr).To4()
			errs = append(errs, forgetConnections(ip), deleteOwned(HostVeth(owner), owner))
		}
	}
	_, err = b.IPAM().Sweep(alive)
	errs = append(errs, err)
	return errors.Join(errs...)
}

// Cleanup removes everything the bridge made: the veths still plugged into
// it, the bridge, the nftables table and the address allocations. ip_forward
// stays on, as other software on the host may rely on it.
func (b Bridge) Cleanup() error {
	b, err := b.withDefaults()
	if err != nil {
		return err
	}
	var errs []error
	t, err := openTable(b.Table)
	if err == nil {
		err = t.deleteTable()
	}
	errs = append(errs, err)
	if br, err := netlink.LinkByName(b.Name); err == nil {
		links, err := Links()
		errs = append(errs, err)
		for _, l := range links {
			if l.Attrs().MasterIndex == br.Attrs().Index {
				errs = append(errs, Delete(l.Attrs().Name))
			}
		}
		errs = append(errs, Delete(b.Name))
	}
	errs = append(errs, os.RemoveAll(b.IPAM().Dir))
	return errors.Join(errs...)
}

// sysctl writes value to /proc/sys/name unless it holds it already.
func sysctl(name, value string) error {
	p := "/proc/sys/" + name
	if b, err := os.ReadFile(p); err == nil && strings.TrimSpace(string(b)) == value {
		return nil
	}
	trace.Call("write(%q, %q)", p, value)
	if err := os.WriteFile(p, []byte(value), 0o644); err != nil {
		return fmt.Errorf("sysctl %s=%s: %w", strings.ReplaceAll(name, "/", "."), value, err)
	}
	return nil
}
