package network

import (
	"bufio"
	"bytes"
	"fmt"
	"net"
	"os"
	"strings"
)

// HostsFile is the /etc/hosts of a container named hostname at address ip
// (nil when it has no network but lo): the loopback names, then its own name.
func HostsFile(hostname string, ip net.IP) []byte {
	var b bytes.Buffer
	b.WriteString("127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n")
	if ip != nil {
		fmt.Fprintf(&b, "%s\t%s\n", ip, hostname)
	} else {
		fmt.Fprintf(&b, "127.0.1.1\t%s\n", hostname)
	}
	return b.Bytes()
}

// FallbackNameservers are the resolvers a container gets when the host's
// resolv.conf names none it can reach: Docker's choice, Google's public DNS.
var FallbackNameservers = []string{"8.8.8.8", "8.8.4.4"}

// ResolvConf is the /etc/resolv.conf of a container made from the host's
// (host). Nameservers on a loopback address, such as systemd-resolved's
// 127.0.0.53, are dropped: in the container's network namespace 127.0.0.53
// is the container's own lo, where nothing listens. When none remain,
// FallbackNameservers are used. search and options lines are kept.
func ResolvConf(host []byte) []byte {
	lines, servers := reachable(host)
	if servers == 0 {
		for _, s := range FallbackNameservers {
			lines = append(lines, "nameserver "+s)
		}
	}
	return []byte(strings.Join(lines, "\n") + "\n")
}

// reachable returns the lines of a resolv.conf without comments and loopback
// nameservers, and how many nameservers remain.
func reachable(conf []byte) (lines []string, servers int) {
	sc := bufio.NewScanner(bytes.NewReader(conf))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		f := strings.Fields(line)
		if len(f) == 0 || strings.HasPrefix(f[0], "#") || strings.HasPrefix(f[0], ";") {
			continue
		}
		if f[0] == "nameserver" {
			if len(f) != 2 || net.ParseIP(f[1]) == nil || net.ParseIP(f[1]).IsLoopback() {
				continue
			}
			servers++
		}
		lines = append(lines, line)
	}
	return lines, servers
}

// ContainerResolvConf is ResolvConf of the host's /etc/resolv.conf. On a
// host running systemd-resolved, where that file names only 127.0.0.53, the
// real upstream servers are in /run/systemd/resolve/resolv.conf: that is
// read instead.
func ContainerResolvConf() ([]byte, error) {
	host, err := os.ReadFile("/etc/resolv.conf")
	if err != nil && !os.IsNotExist(err) {
		return nil, err
	}
	if _, n := reachable(host); n == 0 {
		if upstream, err := os.ReadFile("/run/systemd/resolve/resolv.conf"); err == nil {
			host = upstream
		}
	}
	return ResolvConf(host), nil
}
