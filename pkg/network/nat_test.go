package network

import (
	"net"
	"testing"

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
