package network

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"strings"

	"github.com/google/nftables"
	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/expr"
	"github.com/google/nftables/userdata"
	"github.com/vishvananda/netlink/nl"
	"golang.org/x/sys/unix"

	"tincan.dev/pkg/trace"
)

// The NAT rules live in one nftables table of their own (nft(8), family ip),
// spoken to over netlink as nft does, never by running it:
//
//	table ip tincan {
//	  chain prerouting  { type nat hook prerouting priority dstnat; fib daddr type local jump ports }
//	  chain output      { type nat hook output priority dstnat;     fib daddr type local jump ports }
//	  chain ports       { tcp dport 8080 dnat to 10.77.0.2:80 comment "c0ffee 8080:80/tcp" ... }
//	  chain postrouting { type nat hook postrouting priority srcnat;
//	    ip saddr 10.77.0.0/16 oifname != "tincan0" masquerade
//	    ip saddr 10.77.0.0/16 oifname "tincan0" ct status dnat masquerade
//	    ip saddr 127.0.0.0/8 oifname "tincan0" masquerade }
//	  chain input       { type filter hook input priority filter;
//	    iifname "tincan0" ip daddr 127.0.0.0/8 ct status dnat accept
//	    iifname "tincan0" ip daddr 127.0.0.0/8 drop }
//	}
//
// prerouting sees packets arriving from outside, output those the host itself
// sends: a published port needs both, so both jump to one chain of DNAT rules,
// one per port, tagged with the owner's id in the rule's comment. The three
// masquerades are: containers going out (their source becomes the host's
// address on the way out); hairpin (a container reaching a published port of
// the host, DNATed back onto the bridge: without the masquerade the server
// would answer the client directly, from an address it never called); and
// 127.0.0.1 (a local client's source means "this host" and the container
// cannot answer it; the kernel only routes 127/8 out of the bridge at all with
// route_localnet on it, see Bridge.Ensure).
//
// Only the NAT type of chain can NAT, and only the first packet of a
// connection goes through it: conntrack applies the same translation to the
// rest, and the reverse to the replies.
//
// The input chain is the price of route_localnet (CVE-2020-8558, which hit
// kube-proxy the same way). With it on, the bridge no longer drops packets
// to 127.0.0.0/8 as martians, whoever sends them: a container with
// CAP_NET_RAW (one of Docker's 14) can address a TCP SYN to 127.0.0.1 and
// the gateway's MAC, and the host delivers it to services that listen on
// 127.0.0.1 only, trusting that no other machine can reach them. The rule
// drops what comes in from the bridge to 127.0.0.0/8, except packets of a
// connection conntrack DNATed: the replies of containers to the host's own
// 127.0.0.1 clients of published ports, which is what route_localnet is on
// for. kube-proxy's rule is the same (-d 127.0.0.0/8 ! --ctstate DNAT -j DROP).
// It takes two rules, an accept and a drop, not one "ct status != dnat"
// match: a packet conntrack finds invalid carries no connection, so no
// status, and a match on a status that is not there never matches: such a
// packet would pass. An accept ends the walk of this chain only; every other
// base chain on the hook still sees the packet.

// rule is one nft rule: what the kernel runs (exprs) and how nft lists it
// (text), for the trace and for the tests that compare the two.
type rule struct {
	chain   string
	text    string
	comment string
	exprs   []expr.Any
}

// natRules are the rules a bridge's table holds whatever runs.
func natRules(bridge string, subnet *net.IPNet) []rule {
	local := []expr.Any{
		&expr.Fib{Register: 1, FlagDADDR: true, ResultADDRTYPE: true},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: binaryutil.NativeEndian.PutUint32(unix.RTN_LOCAL)},
		&expr.Verdict{Kind: expr.VerdictJump, Chain: "ports"},
	}
	loopback := &net.IPNet{IP: net.IPv4(127, 0, 0, 0).To4(), Mask: net.CIDRMask(8, 32)}
	return []rule{
		{chain: "prerouting", text: "fib daddr type local jump ports", exprs: local},
		{chain: "output", text: "fib daddr type local jump ports", exprs: local},
		{
			chain: "postrouting",
			text:  fmt.Sprintf("ip saddr %s oifname != %q masquerade", subnet, bridge),
			exprs: join(saddrIn(subnet), ifname(expr.MetaKeyOIFNAME, expr.CmpOpNeq, bridge), masquerade()),
		},
		{
			chain: "postrouting",
			text:  fmt.Sprintf("ip saddr %s oifname %q ct status dnat masquerade", subnet, bridge),
			exprs: join(saddrIn(subnet), ifname(expr.MetaKeyOIFNAME, expr.CmpOpEq, bridge), ctStatusDNAT(), masquerade()),
		},
		{
			chain: "postrouting",
			text:  fmt.Sprintf("ip saddr %s oifname %q masquerade", loopback, bridge),
			exprs: join(saddrIn(loopback), ifname(expr.MetaKeyOIFNAME, expr.CmpOpEq, bridge), masquerade()),
		},
		{
			chain: "input",
			text:  fmt.Sprintf("iifname %q ip daddr %s ct status dnat accept", bridge, loopback),
			exprs: join(ifname(expr.MetaKeyIIFNAME, expr.CmpOpEq, bridge), daddrIn(loopback), ctStatusDNAT(), verdict(expr.VerdictAccept)),
		},
		{
			chain: "input",
			text:  fmt.Sprintf("iifname %q ip daddr %s drop", bridge, loopback),
			exprs: join(ifname(expr.MetaKeyIIFNAME, expr.CmpOpEq, bridge), daddrIn(loopback), verdict(expr.VerdictDrop)),
		},
	}
}

// dnatRule sends p to the container's address ip. owner goes in the comment.
func dnatRule(owner string, p Port, ip net.IP) rule {
	var match []expr.Any
	text := ""
	if p.HostIP != nil {
		match = payloadIs(expr.PayloadBaseNetworkHeader, 16, p.HostIP.To4()) // ip daddr
		text = fmt.Sprintf("ip daddr %s ", p.HostIP)
	}
	proto := byte(unix.IPPROTO_TCP)
	if p.Proto == "udp" {
		proto = unix.IPPROTO_UDP
	}
	match = join(match,
		[]expr.Any{
			&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: 1},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{proto}},
		},
		payloadIs(expr.PayloadBaseTransportHeader, 2, binaryutil.BigEndian.PutUint16(p.HostPort)), // th dport
	)
	comment := owner + " " + p.String()
	return rule{
		chain:   "ports",
		text:    fmt.Sprintf("%s%s dport %d dnat to %s:%d comment %q", text, p.Proto, p.HostPort, ip, p.Port, comment),
		comment: comment,
		exprs: join(match, []expr.Any{
			&expr.Immediate{Register: 1, Data: ip.To4()},
			&expr.Immediate{Register: 2, Data: binaryutil.BigEndian.PutUint16(p.Port)},
			&expr.NAT{Type: expr.NATTypeDestNAT, Family: unix.NFPROTO_IPV4, RegAddrMin: 1, RegProtoMin: 2},
		}),
	}
}

// ruleOwner reads back the owner and port of a rule dnatRule made.
func ruleOwner(r *nftables.Rule) (owner string, p Port, ok bool) {
	comment, _ := userdata.GetString(r.UserData, userdata.TypeComment)
	owner, spec, found := strings.Cut(comment, " ")
	if !found {
		return "", Port{}, false
	}
	p, err := ParsePort(spec)
	return owner, p, err == nil
}

// Expression helpers: each returns the expressions of one match, as nft
// compiles it, working in register 1.

func saddrIn(n *net.IPNet) []expr.Any { return addrIn(12, n) }

func daddrIn(n *net.IPNet) []expr.Any { return addrIn(16, n) }

// addrIn matches the IPv4 address at offset (12 source, 16 destination) of
// the network header against the subnet n.
func addrIn(offset uint32, n *net.IPNet) []expr.Any {
	return []expr.Any{
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: offset, Len: 4},
		&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 4, Mask: n.Mask, Xor: make([]byte, 4)},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: n.IP.Mask(n.Mask).To4()},
	}
}

func payloadIs(base expr.PayloadBase, offset uint32, data []byte) []expr.Any {
	return []expr.Any{
		&expr.Payload{DestRegister: 1, Base: base, Offset: offset, Len: uint32(len(data))},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: data},
	}
}

// ifname matches an interface name, which the kernel compares as the
// IFNAMSIZ bytes of the name padded with zeros.
func ifname(key expr.MetaKey, op expr.CmpOp, name string) []expr.Any {
	b := make([]byte, unix.IFNAMSIZ)
	copy(b, name)
	return []expr.Any{&expr.Meta{Key: key, Register: 1}, &expr.Cmp{Op: op, Register: 1, Data: b}}
}

// ipsDstNAT is IPS_DST_NAT of linux/netfilter/nf_conntrack_common.h.
const ipsDstNAT = 1 << 5

// ctStatusDNAT matches connections whose destination conntrack rewrote.
func ctStatusDNAT() []expr.Any {
	return []expr.Any{
		&expr.Ct{Register: 1, Key: expr.CtKeySTATUS},
		&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 4,
			Mask: binaryutil.NativeEndian.PutUint32(ipsDstNAT), Xor: make([]byte, 4)},
		&expr.Cmp{Op: expr.CmpOpNeq, Register: 1, Data: make([]byte, 4)},
	}
}

func masquerade() []expr.Any { return []expr.Any{&expr.Masq{}} }

func verdict(kind expr.VerdictKind) []expr.Any { return []expr.Any{&expr.Verdict{Kind: kind}} }

func join(parts ...[]expr.Any) []expr.Any {
	var all []expr.Any
	for _, p := range parts {
		all = append(all, p...)
	}
	return all
}

// natTable is a bridge's nftables table and its chains.
type natTable struct {
	conn   *nftables.Conn
	table  *nftables.Table
	chains map[string]*nftables.Chain
}

func openTable(name string) (*natTable, error) {
	conn, err := nftables.New()
	if err != nil {
		return nil, fmt.Errorf("nftables: %w", err)
	}
	t := &nftables.Table{Family: nftables.TableFamilyIPv4, Name: name}
	nat := func(name string, hook *nftables.ChainHook, prio *nftables.ChainPriority) *nftables.Chain {
		return &nftables.Chain{Name: name, Table: t, Type: nftables.ChainTypeNAT, Hooknum: hook, Priority: prio}
	}
	return &natTable{conn: conn, table: t, chains: map[string]*nftables.Chain{
		"ports":       {Name: "ports", Table: t},
		"prerouting":  nat("prerouting", nftables.ChainHookPrerouting, nftables.ChainPriorityNATDest),
		"output":      nat("output", nftables.ChainHookOutput, nftables.ChainPriorityNATDest),
		"postrouting": nat("postrouting", nftables.ChainHookPostrouting, nftables.ChainPriorityNATSource),
		"input": {Name: "input", Table: t, Type: nftables.ChainTypeFilter,
			Hooknum: nftables.ChainHookInput, Priority: nftables.ChainPriorityFilter},
	}}, nil
}

// create makes the table with its chains and rules in one batch, which the
// kernel commits as a whole or not at all. NLM_F_EXCL makes the batch fail
// with EEXIST when the table exists: then another can made it, complete, and
// there is nothing to do. So two cans starting at once never double a rule.
// A failed batch costs the kernel some 10 ms to undo, so the table's chains
// are first looked for, and in the common case found.
//
// A table a can made before the input chain existed lacks it: the chain and
// its rules are added to it. Two cans that do so at once may each add the
// rules; an accept or a drop twice does what it does once.
func (t *natTable) create(rules []rule) error {
	trace.Call("NFT_MSG_GETCHAIN {family: ip}")
	chains, err := t.conn.ListChainsOfTableFamily(t.table.Family)
	if err != nil {
		return fmt.Errorf("nftables: list chains: %w", err)
	}
	have := map[string]bool{}
	for _, c := range chains {
		if c.Table.Name == t.table.Name {
			have[c.Name] = true
		}
	}
	if have["input"] {
		return nil
	}
	if len(have) == 0 {
		trace.Call("NFT_MSG_NEWTABLE {family: ip, name: %q, flags: NLM_F_EXCL}", t.table.Name)
		t.conn.CreateTable(t.table)
	}
	for _, name := range []string{"ports", "prerouting", "output", "postrouting", "input"} {
		if have[name] {
			continue
		}
		c := t.chains[name]
		if c.Hooknum != nil {
			trace.Call("NFT_MSG_NEWCHAIN {table: %q, name: %q, type: %s, hook: %s, priority: %d}", t.table.Name, name, c.Type, name, *c.Priority)
		} else {
			trace.Call("NFT_MSG_NEWCHAIN {table: %q, name: %q}", t.table.Name, name)
		}
		t.conn.AddChain(c)
	}
	for _, r := range rules {
		if !have[r.chain] {
			t.add(r)
		}
	}
	if err := t.flush(); err != nil && !errors.Is(err, unix.EEXIST) {
		return err
	}
	return nil
}

func (t *natTable) add(r rule) {
	trace.Call("NFT_MSG_NEWRULE {table: %q, chain: %q, rule: %s}", t.table.Name, r.chain, r.text)
	nr := &nftables.Rule{Table: t.table, Chain: t.chains[r.chain], Exprs: r.exprs}
	if r.comment != "" {
		nr.UserData = userdata.AppendString(nil, userdata.TypeComment, r.comment)
	}
	t.conn.AddRule(nr)
}

func (t *natTable) flush() error {
	trace.Call("sendmsg(NETLINK_NETFILTER, NFNL_MSG_BATCH_BEGIN ... NFNL_MSG_BATCH_END)")
	if err := t.conn.Flush(); err != nil {
		return fmt.Errorf("nftables table %s: %w", t.table.Name, err)
	}
	return nil
}

// portRules lists the DNAT rules of the ports chain; none if the table is
// gone. The list is whole: it asks again until no batch was committed while
// it ran.
//
// A list of rules is a netlink dump, answered in parts when it is long (a
// hundred rules or so), and a neighbour's rule added or deleted between two
// parts moves the others under the kernel's cursor: the answer misses or
// repeats a rule. The kernel marks such an answer (NLM_F_DUMP_INTR), but
// google/nftables, through mdlayher/netlink, does not look, and a rule a
// release missed would stay, sending its port to an address the next
// container may get. So, as nft does for its cache (src/cache.c in the
// nftables sources), the ruleset's generation is read before and after
// the list: the kernel adds one for every batch it commits, and the same
// number twice means nothing changed in between (TestRulesListedWhole).
func (t *natTable) portRules() ([]*nftables.Rule, error) {
	const tries = 10
	for try := 1; ; try++ {
		before, err := generation()
		if err != nil {
			return nil, err
		}
		trace.Call("NFT_MSG_GETRULE {table: %q, chain: \"ports\"}", t.table.Name)
		rules, err := t.conn.GetRules(t.table, t.chains["ports"])
		if errors.Is(err, unix.ENOENT) {
			return nil, nil
		}
		if err != nil {
			return nil, fmt.Errorf("nftables table %s: list rules: %w", t.table.Name, err)
		}
		after, err := generation()
		if err != nil {
			return nil, err
		}
		if before == after {
			return rules, nil
		}
		if try == tries {
			return nil, fmt.Errorf("nftables table %s: list rules: the ruleset changed while it was read, %d times in a row", t.table.Name, tries)
		}
	}
}

// generation asks for the ruleset's generation number (NFT_MSG_GETGEN,
// answered with NFTA_GEN_ID, big-endian like all of nftables' numbers).
func generation() (uint32, error) {
	trace.Call("NFT_MSG_GETGEN")
	req := nl.NewNetlinkRequest(unix.NFNL_SUBSYS_NFTABLES<<8|unix.NFT_MSG_GETGEN, 0)
	req.AddData(&nl.Nfgenmsg{NfgenFamily: unix.AF_UNSPEC, Version: unix.NFNETLINK_V0})
	msgs, err := req.Execute(unix.NETLINK_NETFILTER, 0)
	if err != nil {
		return 0, fmt.Errorf("nftables: read the generation: %w", err)
	}
	for _, m := range msgs {
		if len(m) < nl.SizeofNfgenmsg {
			continue
		}
		attrs, err := nl.ParseRouteAttr(m[nl.SizeofNfgenmsg:])
		if err != nil {
			return 0, fmt.Errorf("nftables: read the generation: %w", err)
		}
		for _, a := range attrs {
			if a.Attr.Type == unix.NFTA_GEN_ID && len(a.Value) == 4 {
				return binary.BigEndian.Uint32(a.Value), nil
			}
		}
	}
	return 0, errors.New("nftables: read the generation: the kernel's answer has no NFTA_GEN_ID")
}

// deleteRules deletes, in one batch, the port rules whose owner matches,
// and returns their ports.
func (t *natTable) deleteRules(match func(owner string) bool) ([]Port, error) {
	rules, err := t.portRules()
	if err != nil {
		return nil, err
	}
	var deleted []Port
	for _, r := range rules {
		if owner, p, ok := ruleOwner(r); ok && match(owner) {
			trace.Call("NFT_MSG_DELRULE {table: %q, chain: \"ports\", handle: %d} (%s %s)", t.table.Name, r.Handle, owner, p)
			if err := t.conn.DelRule(r); err != nil {
				return nil, err
			}
			deleted = append(deleted, p)
		}
	}
	if len(deleted) == 0 {
		return nil, nil
	}
	return deleted, t.flush()
}

// deleteTable removes the table and everything in it.
func (t *natTable) deleteTable() error {
	trace.Call("NFT_MSG_DELTABLE {family: ip, name: %q}", t.table.Name)
	t.conn.DelTable(t.table)
	if err := t.flush(); err != nil && !errors.Is(err, unix.ENOENT) {
		return err
	}
	return nil
}

// forwardDrops names the base chains, in any table, that drop forwarded IPv4
// packets by default, such as the FORWARD chain of a host running Docker,
// unless they accept the bridge's packets both ways (iifname and oifname).
func forwardDrops(bridge string) ([]string, error) {
	conn, err := nftables.New()
	if err != nil {
		return nil, err
	}
	chains, err := conn.ListChains()
	if err != nil {
		return nil, fmt.Errorf("nftables: list chains: %w", err)
	}
	var drops []string
	for _, c := range chains {
		fam := c.Table.Family
		if (fam != nftables.TableFamilyIPv4 && fam != nftables.TableFamilyINet) ||
			c.Hooknum == nil || *c.Hooknum != *nftables.ChainHookForward ||
			c.Policy == nil || *c.Policy != nftables.ChainPolicyDrop {
			continue
		}
		rules, err := conn.GetRules(c.Table, c)
		if err != nil {
			return nil, fmt.Errorf("nftables: list rules of chain %s: %w", c.Name, err)
		}
		in, out := false, false
		for _, r := range rules {
			in = in || acceptsLink(r, expr.MetaKeyIIFNAME, bridge)
			out = out || acceptsLink(r, expr.MetaKeyOIFNAME, bridge)
		}
		if !in || !out {
			drops = append(drops, fmt.Sprintf("%s %s %s", familyName(fam), c.Table.Name, c.Name))
		}
	}
	return drops, nil
}

// acceptsLink reports whether r is "iifname NAME accept" (or oifname, as key
// says), counter or not.
func acceptsLink(r *nftables.Rule, key expr.MetaKey, name string) bool {
	var meta, cmp, accept bool
	for _, e := range r.Exprs {
		switch e := e.(type) {
		case *expr.Meta:
			meta = !cmp && e.Key == key
		case *expr.Cmp:
			cmp = meta && e.Op == expr.CmpOpEq && strings.TrimRight(string(e.Data), "\x00") == name
		case *expr.Verdict:
			accept = cmp && e.Kind == expr.VerdictAccept
		case *expr.Counter:
		default:
			return false
		}
	}
	return accept
}

func familyName(f nftables.TableFamily) string {
	if f == nftables.TableFamilyINet {
		return "inet"
	}
	return "ip"
}
