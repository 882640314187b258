package network

import (
	"net"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestHostsFile(t *testing.T) {
	require.Equal(t, "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n10.77.0.2\tbox\n",
		string(HostsFile("box", net.ParseIP("10.77.0.2"))))
	require.Contains(t, string(HostsFile("box", nil)), "127.0.1.1\tbox\n")
}

func TestResolvConf(t *testing.T) {
	host := "# generated\nnameserver 127.0.0.53\nnameserver 203.0.113.53\nnameserver ::1\nsearch example.org\noptions edns0\n"
	require.Equal(t, "nameserver 203.0.113.53\nsearch example.org\noptions edns0\n", string(ResolvConf([]byte(host))))
}

func TestResolvConfFallback(t *testing.T) {
	host := "nameserver 127.0.0.53\noptions edns0 trust-ad\nsearch .\n"
	require.Equal(t, "options edns0 trust-ad\nsearch .\nnameserver 8.8.8.8\nnameserver 8.8.4.4\n", string(ResolvConf([]byte(host))))
	require.Equal(t, "nameserver 8.8.8.8\nnameserver 8.8.4.4\n", string(ResolvConf(nil)))
}
