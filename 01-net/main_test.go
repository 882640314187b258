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

func TestTranscripts(t *testing.T) {
	testenv.NeedRoot(t)
	testenv.Transcripts(t, "01-net")
}

func TestREADMEShowsTranscripts(t *testing.T) {
	testenv.DocumentedTranscripts(t, "README.md")
}

// The kernel's view: a network namespace of its own holding only lo, up.
func TestOnlyLoopback(t *testing.T) {
	testenv.NeedRoot(t)
	host, err := ns.Inode(0, "net")
	require.NoError(t, err)
	r := testenv.RunArgs(t, "01-net", "sh", "-c", "stat -L -c %i /proc/self/ns/net; ls /proc/self/net/dev_snmp6")
	require.Equal(t, 0, r.Code, r.Stderr)
	got := strings.Fields(r.Stdout)
	require.NotEqual(t, strconv.FormatUint(host, 10), got[0], "the command shares our network namespace")
	require.Equal(t, []string{"lo"}, got[1:], "links other than lo inside")
	// lo is up: a socket can use 127.0.0.1.
	r = testenv.RunArgs(t, "01-net", "busybox", "ping", "-c1", "-W1", "127.0.0.1")
	require.Equal(t, 0, r.Code, "127.0.0.1 unreachable inside: is lo up?\n%s%s", r.Stdout, r.Stderr)
}

// With --veth the command reaches the outer end, which is gone afterwards.
func TestVeth(t *testing.T) {
	testenv.NeedRoot(t)
	r := testenv.RunArgs(t, "01-net", "--veth", "--", "busybox", "ping", "-c1", "-W2", "10.201.0.1")
	require.Equal(t, 0, r.Code, "ping 10.201.0.1 from inside failed:\n%s%s", r.Stdout, r.Stderr)
	_, err := netlink.LinkByName("tincan-veth0")
	require.Error(t, err, "tincan-veth0 is still there after the command ended")
}

// The veth exists, on our side, while the command runs, with its address.
func TestVethHostEnd(t *testing.T) {
	testenv.NeedRoot(t)
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
	cmd := testenv.Command("01-net", "cat", "/proc/self/net/dev_snmp6/lo")
	r := testenv.RunAsNobody(t, cmd)
	require.Equal(t, 0, r.Code, r.Stderr)
}
