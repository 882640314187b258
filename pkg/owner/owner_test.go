package owner

import (
	"net"
	"os"
	"strconv"
	"testing"

	"github.com/stretchr/testify/require"
)

// asUser makes UID return uid for the test, as a sudo from it would, when
// the test runs as root; a test run as a user is that user already.
func asUser(t *testing.T, uid string) {
	t.Setenv("SUDO_UID", uid)
}

func TestRootKeepsTheLessonsNames(t *testing.T) {
	asUser(t, "")
	if UID() != 0 {
		t.Skip("not root: the names are your uid's; TestNamesPerUser checks them")
	}
	_, base, _ := net.ParseCIDR("10.201.0.0/16")
	host, inner := Subnet30(base)
	require.Equal(t, "10.201.0.1/24", host.String())
	require.Equal(t, "10.201.0.2/24", inner.String())
	require.Equal(t, "tincan-veth0", Link("tincan-veth0", "tincan-v"))
	require.Equal(t, "", Prefix())
}

func TestNamesPerUser(t *testing.T) {
	_, base, _ := net.ParseCIDR("10.201.0.0/16")
	seen := map[string]uint32{}
	// A class: a hundred users from 1000 up, and the largest uid there is.
	uids := []string{"4294967294"}
	for uid := 1000; uid < 1100; uid++ {
		uids = append(uids, strconv.Itoa(uid))
	}
	for _, uid := range uids {
		asUser(t, uid)
		if UID() == 0 {
			continue
		}
		u := UID()
		host, inner := Subnet30(base)
		require.Equal(t, 30, ones(host))
		require.True(t, host.Contains(inner.IP) && base.Contains(host.IP), "%s %s", host, inner)
		require.False(t, host.IP.Equal(inner.IP))
		_, root, _ := net.ParseCIDR("10.201.0.0/24")
		require.False(t, root.Contains(host.IP), "uid %d shares root's /24", u)
		v := Link("tincan-veth0", "tincan-v")
		require.LessOrEqual(t, len(v), 15, v)
		require.NotEqual(t, "tincan-veth0", v)
		for _, name := range []string{host.String(), v, Prefix()} {
			other, dup := seen[name]
			require.False(t, dup && other != u, "uid %d and %d both get %s", u, other, name)
			seen[name] = u
		}
	}
	if os.Getuid() != 0 {
		return // SUDO_UID is root's to read
	}
	asUser(t, "1000")
	require.Equal(t, "tincan-v1000", Link("tincan-veth0", "tincan-v"))
	require.Equal(t, "1000-", Prefix())
	host, _ := Subnet30(base)
	require.Equal(t, "10.201.16.161/30", host.String())
}

func ones(n *net.IPNet) int { o, _ := n.Mask.Size(); return o }
