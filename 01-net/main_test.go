package main

import (
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/vishvananda/netlink"

	"tincan.dev/pkg/ns"
	"tincan.dev/pkg/testenv"
)

// Main runs these tests in a network namespace of their own (pkg/testenv):
// tincan-veth0 is made there, never on the host.
func TestMain(m *testing.M) { testenv.Main(m, ".") }

// The kernel's view: a network namespace of its own holding only lo, up.
func TestOnlyLoopback(t *testing.T) {
	testenv.NeedRoot(t)
	testenv.Verdict(t, "network namespace: only lo, and it is up",
		"the command has no network stack of its own with lo up: CLONE_NEWNET, then set lo up in the child (network_namespaces(7))")
	host, err := ns.Inode(0, "net")
	require.NoError(t, err)
	r := testenv.RunArgs(t, "01-net", "sh", "-c", "stat -L -c %i /proc/self/ns/net; ls /proc/self/net/dev_snmp6")
	testenv.CheckRan(t, r, 0)
	got := strings.Fields(r.Stdout)
	testenv.Check(t, got[0] != strconv.FormatUint(host, 10),
		"the command shares the host's network namespace: CLONE_NEWNET in Cloneflags (network_namespaces(7))")
	testenv.Check(t, strings.Join(got[1:], " ") == "lo", "links other than lo inside: %v", got[1:])
	// lo is up: a socket can use 127.0.0.1.
	r = testenv.RunArgs(t, "01-net", "busybox", "ping", "-c1", "-W1", "127.0.0.1")
	testenv.Check(t, r.Code == 0, "127.0.0.1 is unreachable inside: set lo up in the child (LinkSetUp, rtnetlink(7))")
}

// With --veth the command reaches the outer end, which is gone afterwards.
func TestVeth(t *testing.T) {
	testenv.NeedRoot(t)
	testenv.Verdict(t, "--veth: the command reaches the host's end; the pair is gone afterwards", "")
	r := testenv.RunArgs(t, "01-net", "--veth", "--", "busybox", "ping", "-c1", "-W2", "10.201.0.1")
	testenv.Check(t, r.Code == 0, "--veth: ping 10.201.0.1 from inside fails: make the pair with its peer born in the child's namespace, "+
		"give both ends their address and set them up (veth(4))\n%s", strings.TrimSpace(r.Stdout+r.Stderr))
	_, err := netlink.LinkByName("tincan-veth0")
	testenv.Check(t, err != nil, "tincan-veth0 is still there after the command ended: delete it when CMD ends")
}

// The veth exists, on our side, while the command runs, with its address.
func TestVethHostEnd(t *testing.T) {
	testenv.NeedRoot(t)
	testenv.Verdict(t, "--veth: tincan-veth0 has 10.201.0.1/24 on the host while the command runs",
		"--veth: tincan-veth0 is missing or wrong on the host while the command runs")
	cmd := testenv.Command("01-net", "--veth", "--", "sh", "-c", "echo ready; read line; exit 0")
	stdin, err := cmd.StdinPipe()
	require.NoError(t, err)
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	buf := make([]byte, 6)
	_, err = stdout.Read(buf)
	require.NoError(t, err)
	link, err := netlink.LinkByName("tincan-veth0")
	require.NoError(t, err)
	require.Equal(t, "veth", link.Type())
	addrs, err := netlink.AddrList(link, netlink.FAMILY_V4)
	require.NoError(t, err)
	require.Len(t, addrs, 1)
	require.Equal(t, "10.201.0.1/24", addrs[0].IPNet.String())
	stdin.Close()
	require.NoError(t, cmd.Wait())
	_, err = netlink.LinkByName("tincan-veth0")
	require.Error(t, err, "tincan-veth0 is still there after the command ended")
}

// A link that already exists is refused in one line (EEXIST from the
// kernel), and left alone.
func TestVethNameTaken(t *testing.T) {
	testenv.NeedRoot(t)
	testenv.Verdict(t, "--veth refuses a link name already taken, and leaves that link alone", "")
	dummy := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: "tincan-veth0"}, PeerName: "tincan-test-p"}
	require.NoError(t, netlink.LinkAdd(dummy))
	t.Cleanup(func() { netlink.LinkDel(dummy) })
	r := testenv.RunArgs(t, "01-net", "--veth", "--", "true")
	require.Equal(t, 125, r.Code)
	require.Regexp(t, "^01-net: [^\n]*\n$", r.Stderr, "want one line saying why")
	_, err := netlink.LinkByName("tincan-veth0")
	require.NoError(t, err, "01-net removed a link it did not make")
}

func TestRootless(t *testing.T) {
	testenv.Verdict(t, "works without root, in a user namespace", "fails without root, in a user namespace")
	cmd := testenv.Command("01-net", "cat", "/proc/self/net/dev_snmp6/lo")
	r := testenv.RunAsNobody(t, cmd)
	require.Equal(t, 0, r.Code, r.Stderr)
}

// The transcripts run after the kernel-view tests: with make check's
// -failfast, a missing call is named by those, not by a transcript's diff.
func TestTranscripts(t *testing.T) {
	testenv.NeedRoot(t)
	testenv.Transcripts(t, "01-net")
}

func TestREADMEShowsTranscripts(t *testing.T) {
	testenv.DocumentedTranscripts(t, "README.md")
}
