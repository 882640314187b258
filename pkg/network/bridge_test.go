package network_test

import (
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/nftables"
	"github.com/stretchr/testify/require"
	"github.com/vishvananda/netlink"

	"tincan.dev/pkg/network"
	"tincan.dev/pkg/testenv"
)

// As root the tests run in the sandbox's own network namespace (pkg/testenv):
// it plays the host. Inside it they make more namespaces: containers, an
// "internet" with a server at 203.0.113.2, and a client at 198.51.100.2 that
// reaches published ports at the host's 198.51.100.1. No packet leaves them.
func TestMain(m *testing.M) { testenv.Main(m) }

const (
	wanHost = "203.0.113.1" // the host's address toward the internet namespace
	server  = "203.0.113.2" // the internet's server
	lanHost = "198.51.100.1"
	client  = "198.51.100.2"
)

// testBridge is a bridge with test names and its own allocator directory,
// and a check, when the test ends, that Cleanup leaves nothing behind.
func testBridge(t *testing.T) network.Bridge {
	t.Helper()
	testenv.NeedRoot(t)
	b := network.Bridge{Name: "tincan-test0", Table: "tincan-test", StateDir: t.TempDir()}
	t.Cleanup(func() {
		require.NoError(t, b.Cleanup())
		_, err := netlink.LinkByName(b.Name)
		require.Error(t, err, "the bridge is still there after Cleanup")
		require.Empty(t, testLinks(t), "links left after Cleanup")
		require.NotContains(t, tables(t), b.Table, "the nft table is still there after Cleanup")
		require.NoDirExists(t, b.IPAM().Dir)
	})
	return b
}

func container(t testing.TB) int { return testenv.Netns(t) }

func wire(t *testing.T, name, hostAddr, peerAddr string) int {
	return testenv.Wire(t, name, hostAddr, peerAddr)
}

func in(t testing.TB, pid int, f func()) { testenv.InNetns(t, pid, f) }

// serve listens on addr in pid's namespace and answers every TCP connection
// and UDP datagram with the address it came from: the server's own view.
// The socket, and with it the namespace, lives until the test ends or stop
// is called.
func serve(t testing.TB, pid int, proto, addr string) (stop func()) {
	t.Helper()
	in(t, pid, func() {
		if proto == "udp" {
			pc, err := net.ListenPacket("udp4", addr)
			require.NoError(t, err)
			stop = func() { pc.Close() }
			go func() {
				buf := make([]byte, 64)
				for {
					_, from, err := pc.ReadFrom(buf)
					if err != nil {
						return
					}
					pc.WriteTo([]byte(from.(*net.UDPAddr).IP.String()), from)
				}
			}()
			return
		}
		l, err := net.Listen("tcp4", addr)
		require.NoError(t, err)
		stop = func() { l.Close() }
		go func() {
			for {
				c, err := l.Accept()
				if err != nil {
					return
				}
				c.Write([]byte(c.RemoteAddr().(*net.TCPAddr).IP.String()))
				c.Close()
			}
		}()
	})
	t.Cleanup(stop)
	return stop
}

// ask connects from pid's namespace to addr and returns what the server
// says: the source address it saw. It tries again until a deadline.
func ask(t testing.TB, pid int, proto, addr string) string {
	t.Helper()
	var last error
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); {
		var c net.Conn
		in(t, pid, func() { c, last = net.DialTimeout(proto+"4", addr, time.Second) })
		if last != nil {
			time.Sleep(20 * time.Millisecond)
			continue
		}
		c.SetDeadline(time.Now().Add(500 * time.Millisecond))
		var b []byte
		var err error
		if proto == "udp" {
			c.Write([]byte("?"))
			b = make([]byte, 64)
			var n int
			n, err = c.Read(b)
			b = b[:n]
		} else {
			b, err = io.ReadAll(c)
		}
		c.Close()
		if len(b) > 0 {
			return string(b)
		}
		last = err
	}
	t.Fatalf("%s %s from the netns of pid %d: no answer: %v", proto, addr, pid, last)
	return ""
}

func attach(t *testing.T, b network.Bridge, id string, want net.IP) (*network.Attachment, int) {
	t.Helper()
	pid := container(t)
	a, err := b.Attach(id, pid, want)
	require.NoError(t, err)
	t.Cleanup(func() { a.Detach() })
	return a, pid
}

// stop kills the container pid and waits for the kernel to delete its veth
// with its network namespace.
func stop(t *testing.T, pid int, veth string) {
	t.Helper()
	require.NoError(t, syscall.Kill(pid, syscall.SIGKILL))
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if _, err := netlink.LinkByName(veth); err != nil {
			return
		}
	}
	t.Fatalf("%s is still there after its container was killed", veth)
}

func TestContainerToContainer(t *testing.T) {
	b := testBridge(t)
	a1, pid1 := attach(t, b, "test-c1", nil)
	a2, pid2 := attach(t, b, "test-c2", nil)
	require.NotEqual(t, a1.IP.String(), a2.IP.String())
	require.Equal(t, "10.77.0.1", a1.Gateway.String())
	serve(t, pid2, "tcp", ":80")
	require.Equal(t, a1.IP.IP.String(), ask(t, pid1, "tcp", a2.IP.IP.String()+":80"),
		"container 2 should see container 1's own address: they share the bridge, no NAT between them")
	// The kernel's view inside: eth0 with the address, a default route via the bridge.
	in(t, pid1, func() {
		eth0, err := netlink.LinkByName("eth0")
		require.NoError(t, err)
		addrs, err := netlink.AddrList(eth0, netlink.FAMILY_V4)
		require.NoError(t, err)
		require.Len(t, addrs, 1)
		require.Equal(t, a1.IP.String(), addrs[0].IPNet.String())
		routes, err := netlink.RouteList(eth0, netlink.FAMILY_V4)
		require.NoError(t, err)
		var gw string
		for _, r := range routes {
			if r.Dst == nil || r.Dst.String() == "0.0.0.0/0" {
				gw = r.Gw.String()
			}
		}
		require.Equal(t, "10.77.0.1", gw, "no default route through the bridge")
	})
	host, err := netlink.LinkByName(a1.HostVeth)
	require.NoError(t, err)
	br, err := netlink.LinkByName(b.Name)
	require.NoError(t, err)
	require.Equal(t, br.Attrs().Index, host.Attrs().MasterIndex, "%s is not plugged into %s", a1.HostVeth, b.Name)
}

func TestMasquerade(t *testing.T) {
	b := testBridge(t)
	internet := wire(t, "tincan-test-wan", wanHost, server)
	serve(t, internet, "tcp", server+":80")
	_, pid := attach(t, b, "test-out", nil)
	require.Equal(t, wanHost, ask(t, pid, "tcp", server+":80"),
		"the server should see the host's address: the container's is masqueraded on the way out")
}

func TestPublishTCP(t *testing.T) {
	b := testBridge(t)
	lan := wire(t, "tincan-test-lan", lanHost, client)
	a, pid := attach(t, b, "test-web", nil)
	p, err := network.ParsePort("8080:80")
	require.NoError(t, err)
	require.NoError(t, a.Publish([]network.Port{p}))
	serve(t, pid, "tcp", ":80")
	require.Equal(t, client, ask(t, lan, "tcp", lanHost+":8080"), "from outside: the server sees the client")
	require.Equal(t, "10.77.0.1", ask(t, 0, "tcp", "127.0.0.1:8080"), "from the host's 127.0.0.1")
	require.Equal(t, lanHost, ask(t, 0, "tcp", lanHost+":8080"), "from the host to its own address: the source is that address")
	_, other := attach(t, b, "test-hair", nil)
	require.Equal(t, "10.77.0.1", ask(t, other, "tcp", lanHost+":8080"), "hairpin: another container through the host's address")
	require.Equal(t, "10.77.0.1", ask(t, pid, "tcp", lanHost+":8080"), "hairpin: the container to its own published port")
}

func TestPublishUDP(t *testing.T) {
	b := testBridge(t)
	lan := wire(t, "tincan-test-lan", lanHost, client)
	a, pid := attach(t, b, "test-dns", nil)
	p, err := network.ParsePort("5353:53/udp")
	require.NoError(t, err)
	require.NoError(t, a.Publish([]network.Port{p}))
	serve(t, pid, "udp", ":53")
	require.Equal(t, client, ask(t, lan, "udp", lanHost+":5353"))
	require.Equal(t, "10.77.0.1", ask(t, 0, "udp", "127.0.0.1:5353"))
}

// A UDP client that keeps its socket keeps its conntrack entry, and with it
// the DNAT to the container it first reached: Detach must forget it, or the
// next container on that port never hears from the client.
func TestUDPClientFollowsPort(t *testing.T) {
	b := testBridge(t)
	lan := wire(t, "tincan-test-lan", lanHost, client)
	p, _ := network.ParsePort("5353:53/udp")
	var c net.Conn
	in(t, lan, func() {
		var err error
		c, err = net.Dial("udp4", lanHost+":5353")
		require.NoError(t, err)
	})
	defer c.Close()
	for _, id := range []string{"test-u1", "test-u2"} {
		pid := container(t)
		a, err := b.Attach(id, pid, nil)
		require.NoError(t, err)
		require.NoError(t, a.Publish([]network.Port{p}))
		serve(t, pid, "udp", a.IP.IP.String()+":53")
		require.Equal(t, client, askOn(t, c), "%s does not hear the client", id)
		require.NoError(t, a.Detach())
	}
}

// askOn sends datagrams on c until one is answered, or a deadline.
func askOn(t *testing.T, c net.Conn) string {
	t.Helper()
	buf := make([]byte, 64)
	for deadline := time.Now().Add(3 * time.Second); time.Now().Before(deadline); {
		c.SetDeadline(time.Now().Add(200 * time.Millisecond))
		c.Write([]byte("?"))
		if n, err := c.Read(buf); err == nil {
			return string(buf[:n])
		}
	}
	return ""
}

// A port published on one host address is reached there only.
func TestPublishOnHostIP(t *testing.T) {
	b := testBridge(t)
	lan := wire(t, "tincan-test-lan", lanHost, client)
	a, pid := attach(t, b, "test-lo", nil)
	p, err := network.ParsePort("127.0.0.1:8081:80")
	require.NoError(t, err)
	require.NoError(t, a.Publish([]network.Port{p}))
	serve(t, pid, "tcp", ":80")
	require.Equal(t, "10.77.0.1", ask(t, 0, "tcp", "127.0.0.1:8081"))
	var err2 error
	in(t, lan, func() { _, err2 = net.DialTimeout("tcp4", lanHost+":8081", time.Second) })
	require.Error(t, err2, "a port published on 127.0.0.1 is reachable from outside")
}

func TestSameIPRefused(t *testing.T) {
	b := testBridge(t)
	want := net.ParseIP("10.77.7.7")
	a, _ := attach(t, b, "test-ip1", want)
	require.Equal(t, "10.77.7.7/16", a.IP.String())
	_, err := b.Attach("test-ip2", container(t), want)
	require.EqualError(t, err, "address 10.77.7.7 is taken by container test-ip1: choose another --ip or none")
	_, err = netlink.LinkByName(network.HostVeth("test-ip2"))
	require.Error(t, err, "the refused container's veth was made")
}

func TestPortTakenRefused(t *testing.T) {
	b := testBridge(t)
	a1, _ := attach(t, b, "test-p1", nil)
	a2, _ := attach(t, b, "test-p2", nil)
	p, _ := network.ParsePort("8080:80")
	require.NoError(t, a1.Publish([]network.Port{p}))
	q, _ := network.ParsePort("127.0.0.1:8080:81")
	require.EqualError(t, a2.Publish([]network.Port{q}), "port 127.0.0.1:8080:81/tcp: host port 8080/tcp is published by container test-p1 already")
	u, _ := network.ParsePort("8080:80/udp")
	require.NoError(t, a2.Publish([]network.Port{u}), "udp 8080 is another port than tcp 8080")
}

// Detach leaves the table and the bridge for the next container, and nothing
// of the container: rules, address, veth.
func TestDetach(t *testing.T) {
	b := testBridge(t)
	a, _ := attach(t, b, "test-gone", nil)
	p, _ := network.ParsePort("8080:80")
	require.NoError(t, a.Publish([]network.Port{p}))
	require.Contains(t, nft(t, "list", "chain", "ip", b.Table, "ports"), `comment "test-gone 8080:80/tcp"`)
	held, err := b.IPAM().Allocated()
	require.NoError(t, err)
	require.Equal(t, map[string]string{a.IP.IP.String(): "test-gone"}, held)

	require.NoError(t, a.Detach())
	require.NotContains(t, nft(t, "list", "chain", "ip", b.Table, "ports"), "test-gone")
	held, err = b.IPAM().Allocated()
	require.NoError(t, err)
	require.Empty(t, held)
	_, err = netlink.LinkByName(a.HostVeth)
	require.Error(t, err, "the veth is still there")
	_, err = netlink.LinkByName(b.Name)
	require.NoError(t, err, "the bridge should stay for the next container")
	require.NoError(t, a.Detach(), "a second Detach")
}

// Release, after the container's end, frees its rules and address; the
// kernel deletes the veth with the network namespace.
func TestRelease(t *testing.T) {
	b := testBridge(t)
	a, pid := attach(t, b, "test-end", nil)
	p, _ := network.ParsePort("8080:80")
	require.NoError(t, a.Publish([]network.Port{p}))
	require.NoError(t, a.Release())
	require.NotContains(t, nft(t, "list", "chain", "ip", b.Table, "ports"), "test-end")
	held, err := b.IPAM().Allocated()
	require.NoError(t, err)
	require.Empty(t, held)
	_, err = netlink.LinkByName(a.HostVeth)
	require.NoError(t, err, "Release deleted the veth: that is the kernel's job, when the container ends")
	stop(t, pid, a.HostVeth)
}

// Sweep frees what a container killed with its can left.
func TestSweep(t *testing.T) {
	b := testBridge(t)
	a, _ := attach(t, b, "test-dead", nil)
	_, _ = attach(t, b, "test-live", nil)
	p, _ := network.ParsePort("8080:80")
	require.NoError(t, a.Publish([]network.Port{p}))
	require.NoError(t, b.Sweep(func(id string) bool { return id == "test-live" }))
	held, err := b.IPAM().Allocated()
	require.NoError(t, err)
	require.Equal(t, []string{"test-live"}, values(held))
	require.NotContains(t, nft(t, "list", "chain", "ip", b.Table, "ports"), "test-dead")
	_, err = netlink.LinkByName(a.HostVeth)
	require.Error(t, err, "the dead container's veth is still there")
}

// The rules, as nft lists them from the kernel, are the ones the trace prints.
func TestRulesAsNftListsThem(t *testing.T) {
	b := testBridge(t)
	a, _ := attach(t, b, "test-nft", nil)
	ports := []network.Port{{HostPort: 8080, Port: 80, Proto: "tcp"}, {HostIP: net.ParseIP("127.0.0.1").To4(), HostPort: 5353, Port: 53, Proto: "udp"}}
	require.NoError(t, a.Publish(ports))
	got := nft(t, "list", "table", "ip", b.Table)
	for _, r := range network.RuleTexts(b, a, ports) {
		require.Contains(t, got, "\t\t"+r+"\n")
	}
}

// A second Ensure, or many at once, adds nothing: the table is made in one
// transaction or not at all.
func TestEnsureConcurrent(t *testing.T) {
	b := testBridge(t)
	var wg sync.WaitGroup
	errs := make([]error, 8)
	for i := range errs {
		wg.Add(1)
		go func() { defer wg.Done(); errs[i] = b.Ensure() }()
	}
	wg.Wait()
	for _, err := range errs {
		require.NoError(t, err)
	}
	require.NoError(t, b.Ensure())
	require.Equal(t, 3, strings.Count(nft(t, "list", "chain", "ip", b.Table, "postrouting"), "masquerade"))
	// One port, up, keeps the bridge's carrier on while no container is plugged in.
	br, err := netlink.LinkByName(b.Name)
	require.NoError(t, err)
	links, err := network.Links()
	require.NoError(t, err)
	var ports []string
	for _, l := range links {
		if l.Attrs().MasterIndex == br.Attrs().Index && l.Attrs().OperState == netlink.OperUp {
			ports = append(ports, l.Attrs().Name)
		}
	}
	require.Equal(t, []string{"tincan-test0-up"}, ports)
	for _, f := range []string{"/proc/sys/net/ipv4/ip_forward", "/proc/sys/net/ipv4/conf/tincan-test0/route_localnet"} {
		v, err := os.ReadFile(f)
		require.NoError(t, err)
		require.Equal(t, "1\n", string(v), f)
	}
}

func TestTwentyAtOnce(t *testing.T) {
	b := testBridge(t)
	const n = 20
	pids := make([]int, n)
	for i := range pids {
		pids[i] = container(t)
	}
	atts := make([]*network.Attachment, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range atts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			atts[i], errs[i] = b.Attach(fmt.Sprintf("test-%02d", i), pids[i], nil)
		}()
	}
	wg.Wait()
	require.Len(t, containerPorts(t, b.Name), n)
	seen := map[string]bool{}
	for i, a := range atts {
		require.NoError(t, errs[i])
		require.False(t, seen[a.IP.String()], "address %s given twice", a.IP)
		seen[a.IP.String()] = true
	}
	stopServer := serve(t, pids[0], "tcp", ":80")
	for i, a := range atts[1:] {
		require.Equal(t, a.IP.IP.String(), ask(t, pids[i+1], "tcp", atts[0].IP.IP.String()+":80"))
	}
	for _, a := range atts {
		wg.Add(1)
		go func() { defer wg.Done(); require.NoError(t, a.Release()) }()
	}
	wg.Wait()
	stopServer() // a socket holds its network namespace
	for i, a := range atts {
		stop(t, pids[i], a.HostVeth)
	}
	held, err := b.IPAM().Allocated()
	require.NoError(t, err)
	require.Empty(t, held)
	require.Empty(t, containerPorts(t, b.Name))
}

// CheckForward finds a forward chain that drops, as Docker's does.
func TestCheckForward(t *testing.T) {
	b := testBridge(t)
	require.NoError(t, b.CheckForward())
	c, err := nftables.New()
	require.NoError(t, err)
	tbl := c.AddTable(&nftables.Table{Family: nftables.TableFamilyIPv4, Name: "tincan-test-filter"})
	drop := nftables.ChainPolicyDrop
	c.AddChain(&nftables.Chain{Name: "FORWARD", Table: tbl, Type: nftables.ChainTypeFilter,
		Hooknum: nftables.ChainHookForward, Priority: nftables.ChainPriorityFilter, Policy: &drop})
	require.NoError(t, c.Flush())
	t.Cleanup(func() { c.DelTable(tbl); c.Flush() })
	err = b.CheckForward()
	require.ErrorContains(t, err, "chain ip tincan-test-filter FORWARD drops forwarded packets")
	require.ErrorContains(t, err, `nft insert rule ip tincan-test-filter FORWARD iifname "tincan-test0" accept`)
	// Following the advice silences it.
	nft(t, "insert", "rule", "ip", "tincan-test-filter", "FORWARD", "iifname", "tincan-test0", "accept")
	require.Error(t, b.CheckForward(), "oifname is still dropped")
	nft(t, "insert", "rule", "ip", "tincan-test-filter", "FORWARD", "oifname", "tincan-test0", "counter", "accept")
	require.NoError(t, b.CheckForward())
}

// BenchmarkAttach times what --net bridge adds to a container's start (the
// issue's budget: 10 ms), BenchmarkRelease what it adds to its end, and
// BenchmarkDetach the same with the veth deleted by hand, the slow way. The
// allocator is on the sandbox's tmpfs /run, as /run/tincan is on a host.
func BenchmarkAttach(b *testing.B) { benchAttach(b, "attach") }

func BenchmarkRelease(b *testing.B) { benchAttach(b, "release") }

func BenchmarkDetach(b *testing.B) { benchAttach(b, "detach") }

func benchAttach(b *testing.B, timed string) {
	testenv.NeedRoot(b)
	br := network.Bridge{Name: "tincan-test0", Table: "tincan-test", StateDir: "/run/tincan-test-bench"}
	defer br.Cleanup()
	require.NoError(b, br.Ensure())
	b.ResetTimer()
	b.StopTimer()
	for i := 0; i < b.N; i++ {
		pid := container(b)
		if timed == "attach" {
			b.StartTimer()
		}
		a, err := br.Attach(fmt.Sprint("bench", i), pid, nil)
		b.StopTimer()
		require.NoError(b, err)
		if timed != "attach" {
			b.StartTimer()
		}
		if timed == "detach" {
			err = a.Detach()
		} else {
			err = a.Release()
		}
		b.StopTimer()
		require.NoError(b, err)
		syscall.Kill(pid, syscall.SIGKILL) // its veth goes with its netns
	}
}

func nft(t *testing.T, args ...string) string {
	t.Helper()
	if _, err := exec.LookPath("nft"); err != nil {
		t.Skip("nft(8) is not installed: apt-get install nftables")
	}
	out, err := exec.Command("nft", args...).CombinedOutput()
	require.NoError(t, err, "nft %s: %s", strings.Join(args, " "), out)
	return string(out)
}

func tables(t *testing.T) []string {
	c, err := nftables.New()
	require.NoError(t, err)
	ts, err := c.ListTables()
	require.NoError(t, err)
	var names []string
	for _, tb := range ts {
		names = append(names, tb.Name)
	}
	return names
}

// testLinks lists the links named tincan-* or tc-* (containers' veths)
// other than the test's wires.
// (Not from /sys/class/net: sysfs shows the network namespace of whoever
// mounted it, here the host's.)
func testLinks(t *testing.T) []string {
	links, err := network.Links()
	require.NoError(t, err)
	var names []string
	for _, l := range links {
		n := l.Attrs().Name
		if (strings.HasPrefix(n, "tincan-") || strings.HasPrefix(n, "tc-")) && n != "tincan-test-wan" && n != "tincan-test-lan" {
			names = append(names, n)
		}
	}
	return names
}

// containerPorts lists the links plugged into bridge but its carrier keeper.
func containerPorts(t *testing.T, bridge string) []string {
	br, err := netlink.LinkByName(bridge)
	require.NoError(t, err)
	links, err := network.Links()
	require.NoError(t, err)
	var names []string
	for _, l := range links {
		if l.Attrs().MasterIndex == br.Attrs().Index && l.Attrs().Name != bridge+"-up" {
			names = append(names, l.Attrs().Name)
		}
	}
	return names
}

func values(m map[string]string) []string {
	var v []string
	for _, x := range m {
		v = append(v, x)
	}
	return v
}

// CVE-2020-8558: route_localnet on the bridge must not open the host's
// 127.0.0.1 to containers. The container here sends a TCP SYN to 127.0.0.1
// through the gateway's MAC, as a container with CAP_NET_RAW can: the test
// makes its kernel do it, from inside the container's namespace, by removing
// 127.0.0.1 from lo there and routing 127.0.0.1 through the gateway instead
// (with route_localnet on its eth0, so it may). A listener
// on the host's 127.0.0.1 must not hear it, while a port published on
// 127.0.0.1 still works. Then the test removes the guard and tries again:
// the attack must reach the listener, or it proved nothing.
func TestLocalhostNotReachableFromContainer(t *testing.T) {
	b := testBridge(t)
	a, pid := attach(t, b, "test-8558", nil)
	p, _ := network.ParsePort("127.0.0.1:8081:80")
	require.NoError(t, a.Publish([]network.Port{p}))
	serve(t, pid, "tcp", ":80")
	require.Equal(t, a.Gateway.String(), ask(t, 0, "tcp", "127.0.0.1:8081"), "the port published on 127.0.0.1")
	serve(t, 0, "tcp", "127.0.0.1:7777") // the host's private service

	in(t, pid, func() {
		require.NoError(t, os.WriteFile("/proc/sys/net/ipv4/conf/eth0/route_localnet", []byte("1"), 0o644))
		// Without 127.0.0.1 on lo, the kernel here neither delivers
		// 127.0.0.0/8 locally (the address's local routes go with it) nor
		// takes the host's answers, from 127.0.0.1, for its own packets.
		lo, err := netlink.LinkByName("lo")
		require.NoError(t, err)
		require.NoError(t, netlink.AddrDel(lo, &netlink.Addr{IPNet: network.MustCIDR("127.0.0.1/8")}))
		eth0, err := netlink.LinkByName("eth0")
		require.NoError(t, err)
		require.NoError(t, netlink.RouteAdd(&netlink.Route{LinkIndex: eth0.Attrs().Index,
			Dst: network.MustCIDR("127.0.0.1/32"), Gw: a.Gateway}))
	})
	var err error
	in(t, pid, func() {
		var c net.Conn
		if c, err = net.DialTimeout("tcp4", "127.0.0.1:7777", 2*time.Second); err == nil {
			c.Close()
		}
	})
	require.Error(t, err, "the container reached the host's 127.0.0.1:7777")

	c, err := nftables.New()
	require.NoError(t, err)
	c.FlushChain(&nftables.Chain{Table: &nftables.Table{Family: nftables.TableFamilyIPv4, Name: b.Table}, Name: "input"})
	require.NoError(t, c.Flush())
	require.Equal(t, a.IP.IP.String(), ask(t, pid, "tcp", "127.0.0.1:7777"),
		"without the guard the attack should work: the test does not attack what it thinks")
}

// A table made by a can from before the guard gets it at the next start.
func TestEnsureAddsGuardToOldTable(t *testing.T) {
	b := testBridge(t)
	require.NoError(t, b.Ensure())
	c, err := nftables.New()
	require.NoError(t, err)
	input := &nftables.Chain{Table: &nftables.Table{Family: nftables.TableFamilyIPv4, Name: b.Table}, Name: "input"}
	c.FlushChain(input)
	c.DelChain(input)
	require.NoError(t, c.Flush())
	require.NoError(t, b.Ensure())
	rules, err := c.GetRules(input.Table, input)
	require.NoError(t, err)
	require.Len(t, rules, 2, "the guard's accept and drop")
	require.NoError(t, b.Ensure())
	rules, err = c.GetRules(input.Table, input)
	require.NoError(t, err)
	require.Len(t, rules, 2, "a second Ensure doubled the guard")
}

// Publishing a port a program of the host uses would steal its clients:
// refused, TCP and UDP, and nothing is published.
func TestPublishPortInUseRefused(t *testing.T) {
	b := testBridge(t)
	a, _ := attach(t, b, "test-busy", nil)
	serve(t, 0, "tcp", "127.0.0.1:8082")
	serve(t, 0, "udp", ":5354")
	for _, spec := range []string{"8082:80", "127.0.0.1:8082:80", "5354:53/udp", "127.0.0.1:5354:53/udp"} {
		p, _ := network.ParsePort(spec)
		err := a.Publish([]network.Port{p})
		require.ErrorContains(t, err, "address already in use", spec)
		require.Equal(t, 1, strings.Count(err.Error(), "\n")+1, "one line")
	}
	// One busy port of two: neither is published.
	ok, _ := network.ParsePort("8083:80")
	busy, _ := network.ParsePort("8082:80")
	require.Error(t, a.Publish([]network.Port{ok, busy}))
	require.Empty(t, portRules(t, b), "a refused port left a rule")
	l, err := net.Listen("tcp4", ":8083")
	require.NoError(t, err, "a refused publication still holds a port")
	l.Close()
}

// A published port stays the container's: a program of the host that starts
// later is told, SO_REUSEADDR or not, instead of never hearing a packet.
// After Release the port is the host's again.
func TestPublishHoldsPort(t *testing.T) {
	b := testBridge(t)
	a, _ := attach(t, b, "test-hold", nil)
	tcp, _ := network.ParsePort("8084:80")
	udp, _ := network.ParsePort("127.0.0.1:5355:53/udp")
	require.NoError(t, a.Publish([]network.Port{tcp, udp}))
	_, err := net.Listen("tcp4", "127.0.0.1:8084") // Go sets SO_REUSEADDR
	require.ErrorIs(t, err, syscall.EADDRINUSE)
	_, err = net.ListenPacket("udp4", ":5355")
	require.ErrorIs(t, err, syscall.EADDRINUSE)
	require.NoError(t, a.Release())
	l, err := net.Listen("tcp4", "127.0.0.1:8084")
	require.NoError(t, err, "Release kept the port")
	l.Close()
}

// -p HOSTIP:... with an address that is not the host's is refused.
func TestPublishForeignHostIPRefused(t *testing.T) {
	b := testBridge(t)
	a, _ := attach(t, b, "test-far", nil)
	p, _ := network.ParsePort("203.0.113.9:8085:80")
	const refused = "port 203.0.113.9:8085:80/tcp: 203.0.113.9 is not an address of this host: give one of them (ip -4 addr) or none"
	require.EqualError(t, a.Publish([]network.Port{p}), refused)
	// Where bind(2) takes any address (the sandbox's own sysctl), too.
	const nonlocal = "/proc/sys/net/ipv4/ip_nonlocal_bind"
	old, err := os.ReadFile(nonlocal)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(nonlocal, []byte("1"), 0o644))
	t.Cleanup(func() { os.WriteFile(nonlocal, old, 0o644) })
	require.EqualError(t, a.Publish([]network.Port{p}), refused)
	require.Empty(t, portRules(t, b))
}

// portRules lists the rules of b's ports chain.
func portRules(t *testing.T, b network.Bridge) []*nftables.Rule {
	c, err := nftables.New()
	require.NoError(t, err)
	tb := &nftables.Table{Family: nftables.TableFamilyIPv4, Name: b.Table}
	rules, err := c.GetRules(tb, &nftables.Chain{Table: tb, Name: "ports"})
	require.NoError(t, err)
	return rules
}

// Subnets that are not the containers' to take are refused before anything
// is made; these need no root.
func TestSubnetRefused(t *testing.T) {
	for subnet, says := range map[string]string{
		"127.0.0.0/16":   "subnet 127.0.0.0/16 overlaps 127.0.0.0/8, loopback addresses: choose a private subnet such as 10.77.0.0/16",
		"96.0.0.0/3":     "subnet 96.0.0.0/3: give an IPv4 subnet from /8 to /30 (a /31 or /32 leaves no address for a container), such as 10.77.0.0/16",
		"10.1.2.0/31":    "subnet 10.1.2.0/31: give an IPv4 subnet from /8 to /30 (a /31 or /32 leaves no address for a container), such as 10.77.0.0/16",
		"169.254.9.0/24": "subnet 169.254.9.0/24 overlaps 169.254.0.0/16, link-local addresses: choose a private subnet such as 10.77.0.0/16",
		"239.1.0.0/16":   "subnet 239.1.0.0/16 overlaps 224.0.0.0/3, multicast and reserved addresses: choose a private subnet such as 10.77.0.0/16",
		"0.1.0.0/16":     `subnet 0.1.0.0/16 overlaps 0.0.0.0/8, "this network" addresses: choose a private subnet such as 10.77.0.0/16`,
	} {
		_, n, err := net.ParseCIDR(subnet)
		require.NoError(t, err)
		b := network.Bridge{Name: "tincan-test0", Subnet: n, StateDir: t.TempDir()}
		_, err = b.Attach("test-sub", os.Getpid(), nil)
		require.EqualError(t, err, says)
	}
}

// A subnet that overlaps a route of the host would take its addresses: the
// bridge is not made.
func TestSubnetOverlappingRouteRefused(t *testing.T) {
	b := testBridge(t)
	wire(t, "tincan-test-lan", lanHost, client)
	_, b.Subnet, _ = net.ParseCIDR("198.51.100.128/25")
	_, err := b.Attach("test-sub", container(t), nil)
	require.EqualError(t, err, "subnet 198.51.100.128/25 overlaps the route 198.51.100.0/24 dev tincan-test-lan of this host: choose a subnet no route uses (ip route)")
	_, err = netlink.LinkByName(b.Name)
	require.Error(t, err, "the refused subnet's bridge was made")
}

// Without a subnet, a bridge takes the first pool no route overlaps, and
// keeps it while it exists, whatever routes come later.
func TestDefaultSubnetAvoidsRoutes(t *testing.T) {
	b := testBridge(t)
	wire(t, "tincan-test-lan", "10.77.3.1", "10.77.3.2") // 10.77.0.0/16 is taken
	a, _ := attach(t, b, "test-pool", nil)
	require.Equal(t, "10.78.0.0/16", a.Bridge.Subnet.String())
	require.NoError(t, network.Delete("tincan-test-lan"))
	again := network.Bridge{Name: b.Name, Table: b.Table, StateDir: b.StateDir}
	a2, _ := attach(t, again, "test-pool2", nil)
	require.Equal(t, "10.78.0.0/16", a2.Bridge.Subnet.String(), "the existing bridge's subnet is the answer")
}

// Host veth names hold whole IDs: two IDs that share a prefix (can's are 12
// hex digits) never share a veth, and every name fits IFNAMSIZ.
func TestHostVethNames(t *testing.T) {
	require.Equal(t, "tc-c0ffee123456", network.HostVeth("c0ffee123456"))
	require.NotEqual(t, network.HostVeth("c0ffee123456"), network.HostVeth("c0ffee12ffff"))
	long := strings.Repeat("ab", 32) // an OCI runtime's 64-digit ID
	require.NotEqual(t, network.HostVeth(long), network.HostVeth(long[:63]+"c"))
	for _, id := range []string{"c0ffee123456", long, "a/b", "x y", "", "é"} {
		name := network.HostVeth(id)
		require.LessOrEqual(t, len(name), 15, name)
		require.Regexp(t, `^tc-[a-zA-Z0-9_.-]+$`, name)
	}
}

// Cleanup deletes a veth only when it is its owner's: a link that has the
// dead container's name but another owner stays.
func TestSweepKeepsOthersVeth(t *testing.T) {
	b := testBridge(t)
	live, _ := attach(t, b, "test-live", nil)
	ip, err := b.IPAM().Allocate("test-dead", nil) // its can died before its veth was made
	require.NoError(t, err)
	require.NotNil(t, ip)
	other := network.Veth{Host: network.HostVeth("test-dead"), Alias: "test-other", Peer: "eth0", PeerPid: container(t)}
	require.NoError(t, other.Add())
	t.Cleanup(func() { network.Delete(other.Host) })
	require.NoError(t, b.Sweep(func(id string) bool { return id != "test-dead" }))
	_, err = netlink.LinkByName(other.Host)
	require.NoError(t, err, "Sweep deleted a veth test-dead does not own")
	_, err = netlink.LinkByName(live.HostVeth)
	require.NoError(t, err, "Sweep deleted a live container's veth")
	held, err := b.IPAM().Allocated()
	require.NoError(t, err)
	require.Equal(t, []string{"test-live"}, values(held))
}
