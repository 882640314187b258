package network

import (
	"net"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestParsePort(t *testing.T) {
	for in, want := range map[string]Port{
		"8080:80":               {HostPort: 8080, Port: 80, Proto: "tcp"},
		"5353:53/udp":           {HostPort: 5353, Port: 53, Proto: "udp"},
		"127.0.0.1:8080:80/tcp": {HostIP: net.IPv4(127, 0, 0, 1).To4(), HostPort: 8080, Port: 80, Proto: "tcp"},
		"65535:1":               {HostPort: 65535, Port: 1, Proto: "tcp"},
		"0.0.0.0:8080:80":       {HostPort: 8080, Port: 80, Proto: "tcp"},
	} {
		got, err := ParsePort(in)
		require.NoError(t, err, in)
		require.Equal(t, want, got, in)
		again, err := ParsePort(got.String())
		require.NoError(t, err)
		require.Equal(t, got, again, "String does not read back: %s", got)
	}
}

func TestParsePortRefuses(t *testing.T) {
	for in, msg := range map[string]string{
		"80":                `port "80": give [HOSTIP:]HOSTPORT:PORT[/tcp|/udp], such as 8080:80`,
		"8080:80/sctp":      `port "8080:80/sctp": protocol "sctp": give tcp or udp`,
		"0:80":              `port "0:80": host port: "0" is not a port number from 1 to 65535`,
		"8080:65536":        `port "8080:65536": container port: "65536" is not a port number from 1 to 65535`,
		"localhost:8080:80": `port "localhost:8080:80": "localhost" is not an IPv4 address`,
		"::1:8080:80":       `port "::1:8080:80": give [HOSTIP:]HOSTPORT:PORT[/tcp|/udp], such as 8080:80`,
	} {
		_, err := ParsePort(in)
		require.EqualError(t, err, msg, in)
	}
}

func TestPortOverlaps(t *testing.T) {
	all, _ := ParsePort("8080:80")
	lo, _ := ParsePort("127.0.0.1:8080:81")
	other, _ := ParsePort("10.0.0.1:8080:81")
	udp, _ := ParsePort("8080:80/udp")
	require.True(t, all.overlaps(lo), "every address includes 127.0.0.1")
	require.True(t, lo.overlaps(all))
	require.False(t, lo.overlaps(other))
	require.False(t, all.overlaps(udp))
}
