package network

import (
	"fmt"
	"net"
	"os"
	"testing"
	"time"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	"github.com/google/nftables/userdata"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// The privileged TestRulesAsNftListsThem checks the rules against nft's own
// listing; these check the bytes the kernel is given, without root.

func TestDNATRule(t *testing.T) {
	p, _ := ParsePort("127.0.0.1:8080:80/udp")
	r := dnatRule("c1", p, net.ParseIP("10.77.0.2"))
	require.Equal(t, "ports", r.chain)
	require.Equal(t, `ip daddr 127.0.0.1 udp dport 8080 dnat to 10.77.0.2:80 comment "c1 127.0.0.1:8080:80/udp"`, r.text)
	require.Equal(t, []expr.Any{
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: 16, Len: 4},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{127, 0, 0, 1}},
		&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{unix.IPPROTO_UDP}},
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseTransportHeader, Offset: 2, Len: 2},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{0x1f, 0x90}}, // 8080, network byte order
		&expr.Immediate{Register: 1, Data: []byte{10, 77, 0, 2}},
		&expr.Immediate{Register: 2, Data: []byte{0, 80}},
		&expr.NAT{Type: expr.NATTypeDestNAT, Family: unix.NFPROTO_IPV4, RegAddrMin: 1, RegProtoMin: 2},
	}, r.exprs)
}

func TestRuleOwnerReadsComment(t *testing.T) {
	p, _ := ParsePort("8080:80")
	r := dnatRule("c0ffee", p, net.ParseIP("10.77.0.2"))
	owner, got, ok := ruleOwner(&nftables.Rule{UserData: userdata.AppendString(nil, userdata.TypeComment, r.comment)})
	require.True(t, ok)
	require.Equal(t, "c0ffee", owner)
	require.Equal(t, p, got)
	_, _, ok = ruleOwner(&nftables.Rule{})
	require.False(t, ok, "a rule without a comment has no owner")
}

func TestNATRules(t *testing.T) {
	_, subnet, _ := net.ParseCIDR("10.77.0.0/16")
	var texts []string
	for _, r := range natRules("tincan0", subnet) {
		texts = append(texts, r.chain+": "+r.text)
	}
	require.Equal(t, []string{
		"prerouting: fib daddr type local jump ports",
		"output: fib daddr type local jump ports",
		`postrouting: ip saddr 10.77.0.0/16 oifname != "tincan0" masquerade`,
		`postrouting: ip saddr 10.77.0.0/16 oifname "tincan0" ct status dnat masquerade`,
		`postrouting: ip saddr 127.0.0.0/8 oifname "tincan0" masquerade`,
		`input: iifname "tincan0" ip daddr 127.0.0.0/8 ct status dnat accept`,
		`input: iifname "tincan0" ip daddr 127.0.0.0/8 drop`,
	}, texts)
	drop := natRules("tincan0", subnet)[6].exprs
	require.Equal(t, []expr.Any{
		&expr.Meta{Key: expr.MetaKeyIIFNAME, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte("tincan0\x00\x00\x00\x00\x00\x00\x00\x00\x00")},
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: 16, Len: 4},
		&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 4, Mask: []byte{255, 0, 0, 0}, Xor: []byte{0, 0, 0, 0}},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{127, 0, 0, 0}},
		&expr.Verdict{Kind: expr.VerdictDrop},
	}, drop)
	out := natRules("tincan0", subnet)[2].exprs
	require.Equal(t, []expr.Any{
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: 12, Len: 4},
		&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 4, Mask: []byte{255, 255, 0, 0}, Xor: []byte{0, 0, 0, 0}},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{10, 77, 0, 0}},
		&expr.Meta{Key: expr.MetaKeyOIFNAME, Register: 1},
		&expr.Cmp{Op: expr.CmpOpNeq, Register: 1, Data: []byte("tincan0\x00\x00\x00\x00\x00\x00\x00\x00\x00")},
		&expr.Masq{},
	}, out)
}

func TestAcceptsLink(t *testing.T) {
	rule := func(e ...[]expr.Any) *nftables.Rule { return &nftables.Rule{Exprs: join(e...)} }
	accept := []expr.Any{&expr.Verdict{Kind: expr.VerdictAccept}}
	// nft(8) compares the name and its NUL only, not IFNAMSIZ bytes.
	short := []expr.Any{&expr.Meta{Key: expr.MetaKeyIIFNAME, Register: 1}, &expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte("tincan0\x00")}}
	require.True(t, acceptsLink(rule(short, accept), expr.MetaKeyIIFNAME, "tincan0"))
	require.True(t, acceptsLink(rule(ifname(expr.MetaKeyIIFNAME, expr.CmpOpEq, "tincan0"), []expr.Any{&expr.Counter{}}, accept), expr.MetaKeyIIFNAME, "tincan0"))
	require.False(t, acceptsLink(rule(short, accept), expr.MetaKeyOIFNAME, "tincan0"), "iifname is not oifname")
	require.False(t, acceptsLink(rule(short, ifname(expr.MetaKeyOIFNAME, expr.CmpOpEq, "eth0"), accept), expr.MetaKeyIIFNAME, "tincan0"), "accepts only toward eth0")
	require.False(t, acceptsLink(rule(ifname(expr.MetaKeyIIFNAME, expr.CmpOpNeq, "tincan0"), accept), expr.MetaKeyIIFNAME, "tincan0"))
	require.False(t, acceptsLink(rule(short, []expr.Any{&expr.Verdict{Kind: expr.VerdictDrop}}), expr.MetaKeyIIFNAME, "tincan0"))
}

// A list of port rules taken while neighbours change the chain is whole. 300
// rules come in several parts, and a rule put first in the chain and deleted
// again, in a loop beside the list, moves every other rule between two parts.
// The control, google/nftables' list alone, shows the test can fail: it
// misses or repeats rules.
func TestRulesListedWhole(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: run go test -exec sudo") // testenv.NeedRoot, which imports this package
	}
	const n = 300
	tb, err := openTable("tincan-test-whole")
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, tb.deleteTable()) })
	require.NoError(t, tb.create(nil))
	for i := range n {
		tb.add(dnatRule(fmt.Sprintf("c%03d", i), Port{Proto: "tcp", HostPort: uint16(10000 + i), Port: 80}, net.IPv4(10, 99, 0, 2)))
		if i%50 == 49 { // google/nftables v0.2.0 hangs on a batch of 300 rules
			require.NoError(t, tb.flush())
		}
	}
	// each says whether the list holds every rule once.
	each := func(rules []*nftables.Rule) bool {
		seen := map[string]int{}
		for _, r := range rules {
			if owner, _, ok := ruleOwner(r); ok && owner != "churn" {
				seen[owner]++
			}
		}
		for i := range n {
			if seen[fmt.Sprintf("c%03d", i)] != 1 {
				return false
			}
		}
		return len(seen) == n
	}

	// A pause, as between a neighbour's start and its end: a list that
	// never meets one cannot be whole, and says so. Ten lists long, so
	// that the test means the same on a slow machine (the qemu lane).
	pause := 2 * time.Millisecond
	for range 3 {
		start := time.Now()
		_, err := tb.conn.GetRules(tb.table, tb.chains["ports"])
		require.NoError(t, err)
		pause = max(pause, 10*time.Since(start))
	}
	stop, churned := make(chan struct{}), make(chan error)
	go func() {
		churn, err := openTable(tb.table.Name)
		first := dnatRule("churn", Port{Proto: "udp", HostPort: 9, Port: 9}, net.IPv4(10, 99, 0, 3))
		for err == nil {
			select {
			case <-stop:
				churned <- nil
				return
			default:
			}
			churn.conn.InsertRule(&nftables.Rule{Table: churn.table, Chain: churn.chains["ports"], Exprs: first.exprs,
				UserData: userdata.AppendString(nil, userdata.TypeComment, first.comment)})
			if err = churn.flush(); err == nil {
				_, err = churn.deleteRules(func(owner string) bool { return owner == "churn" })
			}
			time.Sleep(pause)
		}
		churned <- err
	}()
	defer func() {
		close(stop)
		require.NoError(t, <-churned)
	}()

	mixed := 0
	for range 2000 {
		rules, err := tb.conn.GetRules(tb.table, tb.chains["ports"])
		require.NoError(t, err)
		if !each(rules) {
			mixed++
		}
		if mixed >= 3 {
			break
		}
	}
	require.NotZero(t, mixed, "control: 2000 lists, none mixed; the test cannot tell whole from mixed here")
	for range 200 {
		rules, err := tb.portRules()
		require.NoError(t, err)
		require.True(t, each(rules), "a list missed or repeated a rule")
	}
}
