package main

import (
	"bufio"
	"fmt"
	"io"
	"net"
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

// The sandbox's network namespace (pkg/testenv) plays the host. The tests
// wire more namespaces to it: an "internet" with a server at 203.0.113.2, and
// a client at 198.51.100.2 for published ports. No packet leaves them.

// server runs can --net bridge with busybox httpd serving /etc on port 80,
// and waits until it answers from the host.
func server(t *testing.T, root string, args ...string) {
	t.Helper()
	argv := append(args, "--init", "--net", "bridge", "--chroot", root, "--", "httpd", "-f", "-p", "80", "-h", "/etc")
	cmd := exec.Command(canBin(), argv...)
	require.NoError(t, cmd.Start())
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		cmd.Wait()
	})
}

// httpGet fetches url from inside the network namespace of pid (0: ours),
// retrying until deadline: the server may still be starting.
func httpGet(t *testing.T, pid int, url string) string {
	t.Helper()
	var body string
	var err error
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		testenv.InNetns(t, pid, func() { body, err = get(url) })
		if err == nil {
			return body
		}
	}
	t.Fatalf("GET %s: %v", url, err)
	return ""
}

func get(url string) (string, error) {
	host := strings.TrimPrefix(url, "http://")
	host, path, _ := strings.Cut(host, "/")
	c, err := net.DialTimeout("tcp", host, time.Second)
	if err != nil {
		return "", err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(2 * time.Second))
	fmt.Fprintf(c, "GET /%s HTTP/1.0\r\n\r\n", path)
	b, err := io.ReadAll(c)
	if err != nil {
		return "", err
	}
	_, out, _ := strings.Cut(string(b), "\r\n\r\n")
	return out, nil
}

func cleanupAll(t *testing.T) {
	t.Cleanup(func() {
		r := testenv.Run(t, exec.Command(canBin(), "cleanup", "--all"))
		require.Equal(t, 0, r.Code, r.Stderr)
		_, err := netlink.LinkByName("tincan0")
		require.Error(t, err, "can cleanup --all left the bridge")
		out, _ := exec.Command("nft", "list", "tables").Output()
		require.NotContains(t, string(out), "tincan", "can cleanup --all left the nft table")
		require.NoDirExists(t, "/run/tincan", "can cleanup --all left state behind")
	})
}

// Two containers on the bridge reach each other by address.
func TestBridgeContainerToContainer(t *testing.T) {
	testenv.NeedRoot(t)
	cleanupAll(t)
	root := rootWithProbe(t)
	server(t, root, "--ip", "10.77.0.9", "--hostname", "web")
	httpGet(t, 0, "http://10.77.0.9:80/hosts") // up
	r := can(t, "--net", "bridge", "--chroot", root, "--", "wget", "-q", "-O", "-", "http://10.77.0.9/hosts")
	require.Equal(t, 0, r.Code, r.Stderr)
	require.Contains(t, r.Stdout, "10.77.0.9\tweb\n")
}

// A container reaches a server outside through MASQUERADE: the server sees
// the host's address, not the container's.
func TestBridgeMasquerade(t *testing.T) {
	testenv.NeedRoot(t)
	cleanupAll(t)
	inet := testenv.Wire(t, "tincan-test-wan", "203.0.113.1", "203.0.113.2")
	var ln net.Listener
	testenv.InNetns(t, inet, func() {
		var err error
		ln, err = net.Listen("tcp", "203.0.113.2:9000")
		require.NoError(t, err)
	})
	defer ln.Close()
	seen := make(chan string, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			seen <- err.Error()
			return
		}
		fmt.Fprintln(c, "hello from outside")
		seen <- c.RemoteAddr().(*net.TCPAddr).IP.String()
		c.Close()
	}()
	r := can(t, "--net", "bridge", "--chroot", rootWithProbe(t), "--", "nc", "203.0.113.2", "9000")
	require.Equal(t, 0, r.Code, r.Stderr)
	require.Equal(t, "hello from outside\n", r.Stdout)
	require.Equal(t, "203.0.113.1", <-seen, "the server did not see the host's address")
}

// A published port is reached from another host and from the host itself.
func TestBridgePublishedPort(t *testing.T) {
	testenv.NeedRoot(t)
	cleanupAll(t)
	client := testenv.Wire(t, "tincan-test-lan", "198.51.100.1", "198.51.100.2")
	server(t, rootWithProbe(t), "--ip", "10.77.0.10", "--hostname", "web", "-p", "8080:80")
	require.Contains(t, httpGet(t, client, "http://198.51.100.1:8080/hosts"), "10.77.0.10\tweb\n")
	require.Contains(t, httpGet(t, 0, "http://127.0.0.1:8080/hosts"), "10.77.0.10\tweb\n")
}

func TestBridgeSameIPRefused(t *testing.T) {
	testenv.NeedRoot(t)
	cleanupAll(t)
	root := rootWithProbe(t)
	server(t, root, "--ip", "10.77.0.11")
	httpGet(t, 0, "http://10.77.0.11:80/hosts")
	r := can(t, "--net", "bridge", "--ip", "10.77.0.11", "--chroot", root, "--", "true")
	require.Equal(t, 125, r.Code)
	require.Contains(t, r.Stderr, "10.77.0.11 is taken")
	require.Equal(t, 1, strings.Count(r.Stderr, "\n"), r.Stderr)
}

// Twenty cans at once get twenty addresses, all reachable; nothing is left.
func TestBridgeTwentyAtOnce(t *testing.T) {
	testenv.NeedRoot(t)
	cleanupAll(t)
	root := rootWithProbe(t)
	const n = 20
	type result struct {
		ip  string
		err error
	}
	results := make(chan result, n)
	var wg sync.WaitGroup
	release := make(chan struct{})
	var once sync.Once
	done := func() { once.Do(func() { close(release) }); wg.Wait() }
	// A failure below must not leave 19 containers running into the
	// cleanup and the tests after it: they are let go and reaped first.
	t.Cleanup(done)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cmd := exec.Command(canBin(), "--net", "bridge", "--chroot", root, "--", "sh", "-c",
				"ip -4 -o addr show dev eth0 | awk '{print $4}'; read x")
			stdin, _ := cmd.StdinPipe()
			stdout, _ := cmd.StdoutPipe()
			var stderr strings.Builder
			cmd.Stderr = &stderr
			if err := cmd.Start(); err != nil {
				results <- result{err: err}
				return
			}
			line, err := bufio.NewReader(stdout).ReadString('\n')
			if err != nil {
				err = fmt.Errorf("%v: %s", err, stderr.String())
			}
			results <- result{ip: strings.TrimSpace(line), err: err}
			<-release
			stdin.Close()
			cmd.Wait()
		}()
	}
	seen := map[string]bool{}
	for i := 0; i < n; i++ {
		r := <-results
		require.NoError(t, r.err)
		ip, _, err := net.ParseCIDR(r.ip)
		require.NoError(t, err, "%q", r.ip)
		require.False(t, seen[ip.String()], "%s given twice", ip)
		seen[ip.String()] = true
	}
	for ip := range seen { // all reachable from the host, through the bridge
		var err error
		for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
			if err = exec.Command("busybox", "ping", "-c1", "-W1", ip).Run(); err == nil {
				break
			}
		}
		require.NoError(t, err, "ping %s", ip)
	}
	done()
	requireNoVeths(t)
	held, _ := network.Bridge{}.IPAM().Allocated()
	require.Empty(t, held, "addresses still allocated")
	requireNoState(t)
}

// A host port a program of the host listens on is refused, as Docker does,
// and so is a -p HOSTIP that is not the host's. The refused container leaves
// nothing: no veth, rule, address, cgroup or state.
func TestBridgePublishRefused(t *testing.T) {
	testenv.NeedRoot(t)
	cleanupAll(t)
	root := rootWithProbe(t)
	ln, err := net.Listen("tcp4", "127.0.0.1:8086") // the host's own service
	require.NoError(t, err)
	defer ln.Close()
	for _, c := range []struct{ port, says string }{
		{"8086:80", "address already in use"},
		{"203.0.113.9:8087:80", "203.0.113.9 is not an address of this host"},
	} {
		r := can(t, "--net", "bridge", "--memory", "64m", "-p", c.port, "--chroot", root, "--", "true")
		require.Equal(t, 125, r.Code, r.Stderr)
		require.Contains(t, r.Stderr, c.says)
		require.Equal(t, 1, strings.Count(r.Stderr, "\n"), r.Stderr)
	}
	requireNoState(t)
	held, err := network.Bridge{}.IPAM().Allocated()
	require.NoError(t, err)
	require.Empty(t, held, "addresses still allocated")
	requireNoVeths(t)
	nt, err := nftables.New()
	require.NoError(t, err)
	tb := &nftables.Table{Family: nftables.TableFamilyIPv4, Name: "tincan"}
	rules, err := nt.GetRules(tb, &nftables.Chain{Table: tb, Name: "ports"})
	require.NoError(t, err)
	require.Empty(t, rules, "a refused port left its rule")
	// The service still has its clients.
	go func() {
		if c, err := ln.Accept(); err == nil {
			c.Write([]byte("host\n"))
			c.Close()
		}
	}()
	require.Equal(t, "host\n", httpGetRaw(t, "127.0.0.1:8086"))
}

// httpGetRaw reads what the server at addr says first.
func httpGetRaw(t *testing.T, addr string) string {
	t.Helper()
	c, err := net.DialTimeout("tcp4", addr, time.Second)
	require.NoError(t, err)
	defer c.Close()
	b, err := io.ReadAll(c)
	require.NoError(t, err)
	return string(b)
}

// requireNoVeths waits until no container's veth is left: the kernel deletes
// each with its container's network namespace, a little after can's end.
func requireNoVeths(t *testing.T) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		var left []string
		links, _ := network.Links()
		for _, l := range links {
			if l.Type() == "veth" && strings.HasPrefix(l.Attrs().Name, "tc-") {
				left = append(left, l.Attrs().Name)
			}
		}
		if len(left) == 0 {
			return
		}
		require.True(t, time.Now().Before(deadline), "containers' veths left: %v", left)
	}
}

// --subnet is refused, in one line and leaving nothing, when it would take
// addresses that are not the containers': a route of the host, loopback, or
// too few addresses. Without --subnet, can picks one no route uses.
func TestBridgeSubnetRefused(t *testing.T) {
	testenv.NeedRoot(t)
	cleanupAll(t)
	root := rootWithProbe(t)
	testenv.Wire(t, "tincan-test-lan", "10.77.0.1", "10.77.0.2") // a host route in the first pool
	for subnet, says := range map[string]string{
		"10.77.0.0/16": "subnet 10.77.0.0/16 overlaps the route 10.77.0.0/24 dev tincan-test-lan of this host",
		"127.0.0.0/16": "subnet 127.0.0.0/16 overlaps 127.0.0.0/8, loopback addresses",
		"10.9.9.0/31":  "a /31 or /32 leaves no address for a container",
	} {
		r := can(t, "--net", "bridge", "--subnet", subnet, "--chroot", root, "--", "true")
		require.Equal(t, 125, r.Code, r.Stderr)
		require.Contains(t, r.Stderr, says)
		require.Equal(t, 1, strings.Count(r.Stderr, "\n"), r.Stderr)
		_, err := netlink.LinkByName("tincan0")
		require.Error(t, err, "--subnet %s was refused, yet the bridge was made", subnet)
	}
	requireNoState(t)
	requireNoVeths(t)
	r := can(t, "--net", "bridge", "--chroot", root, "--", "ip", "-4", "-o", "addr", "show", "dev", "eth0")
	require.Equal(t, 0, r.Code, r.Stderr)
	require.Contains(t, r.Stdout, " 10.78.0.", "the default subnet should skip 10.77.0.0/16, which a route uses")
}

// CVE-2020-8558: a container with Docker's capabilities (CAP_NET_RAW among
// them) sends a TCP SYN to 127.0.0.1 in a frame for the gateway's MAC (the
// probe's syn: a packet socket, as an attacker would). route_localnet, on
// for the host's own 127.0.0.1 clients of published ports, would let the
// host answer from a service that listens on 127.0.0.1 only; the guard in
// table tincan must drop it, while the port published on 127.0.0.1 still
// works. Then the test removes the guard and sends the SYN again: it must
// get through, or the test attacked nothing.
func TestBridgeLocalhostGuard(t *testing.T) {
	testenv.NeedRoot(t)
	cleanupAll(t)
	root := rootWithProbe(t)
	ln, err := net.Listen("tcp4", "127.0.0.1:7777") // the host's private service
	require.NoError(t, err)
	defer ln.Close()
	server(t, root, "--ip", "10.77.0.12", "--hostname", "web", "-p", "127.0.0.1:8088:80")
	require.Contains(t, httpGet(t, 0, "http://127.0.0.1:8088/hosts"), "10.77.0.12\tweb\n")
	br, err := netlink.LinkByName("tincan0")
	require.NoError(t, err)
	mac := br.Attrs().HardwareAddr.String()
	attack := func() string {
		// The ping makes the host learn the container's MAC, from its ARP
		// request for the gateway, as any traffic of a container does: the
		// host's own ARP request, sent from 127.0.0.1, would go unanswered.
		r := can(t, "--net", "bridge", "--chroot", root, "--", "sh", "-c",
			"ping -c 1 -W 1 10.77.0.1 >/dev/null; exec /probe syn "+mac+" 127.0.0.1:7777")
		require.Equal(t, 0, r.Code, r.Stderr)
		return strings.TrimSpace(r.Stdout)
	}
	require.Equal(t, "none", attack(), "the container reached the host's 127.0.0.1:7777")

	nt, err := nftables.New()
	require.NoError(t, err)
	nt.FlushChain(&nftables.Chain{Table: &nftables.Table{Family: nftables.TableFamilyIPv4, Name: "tincan"}, Name: "input"})
	require.NoError(t, nt.Flush())
	require.Equal(t, "syn-ack", attack(), "without the guard the SYN should get through: the probe does not attack")
}
