package network

import (
	"fmt"
	"net"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
)

func testIPAM(t *testing.T, cidr string) IPAM {
	_, n, err := net.ParseCIDR(cidr)
	require.NoError(t, err)
	return IPAM{Dir: t.TempDir() + "/ipam", Subnet: n}
}

func TestAllocateRoundRobin(t *testing.T) {
	p := testIPAM(t, "10.9.0.0/29") // hosts .2 to .6
	var got []string
	for i := 0; i < 5; i++ {
		ip, err := p.Allocate(fmt.Sprint("c", i), nil)
		require.NoError(t, err)
		got = append(got, ip.String())
	}
	require.Equal(t, []string{"10.9.0.2", "10.9.0.3", "10.9.0.4", "10.9.0.5", "10.9.0.6"}, got)
	_, err := p.Allocate("c5", nil)
	require.ErrorContains(t, err, "no free address left in 10.9.0.0/29")
	require.NoError(t, p.Release(net.ParseIP("10.9.0.3"), "c1"))
	require.NoError(t, p.Release(net.ParseIP("10.9.0.4"), "not-the-owner"))
	ip, err := p.Allocate("c6", nil)
	require.NoError(t, err)
	require.Equal(t, "10.9.0.3", ip.String())
	held, err := p.Allocated()
	require.NoError(t, err)
	require.Equal(t, "c2", held["10.9.0.4"], "a release by another owner freed the address")
}

func TestAllocateAfterLast(t *testing.T) {
	p := testIPAM(t, "10.9.0.0/24")
	a, _ := p.Allocate("a", nil)
	require.NoError(t, p.Release(a, "a"))
	b, err := p.Allocate("b", nil)
	require.NoError(t, err)
	require.Equal(t, "10.9.0.3", b.String(), "a freed address is not handed out again at once")
}

func TestAllocateWanted(t *testing.T) {
	p := testIPAM(t, "10.9.0.0/24")
	ip, err := p.Allocate("a", net.ParseIP("10.9.0.77"))
	require.NoError(t, err)
	require.Equal(t, net.IP{10, 9, 0, 77}, ip)
	_, err = p.Allocate("b", net.ParseIP("10.9.0.77"))
	require.EqualError(t, err, "address 10.9.0.77 is taken by container a: choose another --ip or none")
	for want, msg := range map[string]string{
		"10.9.1.1":   "address 10.9.1.1 is not in the subnet 10.9.0.0/24",
		"10.9.0.0":   "address 10.9.0.0 is the network or broadcast address of 10.9.0.0/24",
		"10.9.0.255": "address 10.9.0.255 is the network or broadcast address of 10.9.0.0/24",
		"10.9.0.1":   "address 10.9.0.1 is the gateway, on the bridge",
	} {
		_, err := p.Allocate("c", net.ParseIP(want))
		require.EqualError(t, err, msg)
	}
}

func TestAllocateConcurrent(t *testing.T) {
	p := testIPAM(t, "10.9.0.0/24")
	const n = 50
	ips := make([]string, n)
	var wg sync.WaitGroup
	for i := range ips {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ip, err := p.Allocate(fmt.Sprint("c", i), nil)
			require.NoError(t, err)
			ips[i] = ip.String()
		}()
	}
	wg.Wait()
	seen := map[string]bool{}
	for _, ip := range ips {
		require.False(t, seen[ip], "%s handed out twice", ip)
		seen[ip] = true
	}
}

func TestIPAMSweep(t *testing.T) {
	p := testIPAM(t, "10.9.0.0/24")
	p.Allocate("dead", nil)
	live, _ := p.Allocate("live", nil)
	freed, err := p.Sweep(func(id string) bool { return id == "live" })
	require.NoError(t, err)
	require.Equal(t, []net.IP{net.ParseIP("10.9.0.2")}, freed)
	held, err := p.Allocated()
	require.NoError(t, err)
	require.Equal(t, map[string]string{live.String(): "live"}, held)
}
