package network

import (
	"fmt"
	"net"
	"strconv"
	"strings"
)

// Port is a published port: connections to HostPort on the host reach Port
// in the container.
type Port struct {
	HostIP   net.IP // one of the host's addresses, or nil for all of them
	HostPort uint16
	Port     uint16 // in the container
	Proto    string // "tcp" or "udp"
}

// ParsePort reads a port in the -p syntax of docker run:
// [HOSTIP:]HOSTPORT:PORT[/tcp|/udp], tcp when no protocol is given.
//
//	8080:80  127.0.0.1:8080:80  5353:53/udp
func ParsePort(s string) (Port, error) {
	p := Port{Proto: "tcp"}
	spec, proto, found := strings.Cut(s, "/")
	if found {
		if proto != "tcp" && proto != "udp" {
			return Port{}, fmt.Errorf("port %q: protocol %q: give tcp or udp", s, proto)
		}
		p.Proto = proto
	}
	parts := strings.Split(spec, ":")
	switch len(parts) {
	case 2:
	case 3:
		p.HostIP = net.ParseIP(parts[0]).To4()
		if p.HostIP == nil {
			return Port{}, fmt.Errorf("port %q: %q is not an IPv4 address", s, parts[0])
		}
		if p.HostIP.IsUnspecified() {
			p.HostIP = nil // 0.0.0.0 means every address, as for bind(2)
		}
		parts = parts[1:]
	default:
		return Port{}, fmt.Errorf("port %q: give [HOSTIP:]HOSTPORT:PORT[/tcp|/udp], such as 8080:80", s)
	}
	var err error
	if p.HostPort, err = portNumber(parts[0]); err != nil {
		return Port{}, fmt.Errorf("port %q: host port: %w", s, err)
	}
	if p.Port, err = portNumber(parts[1]); err != nil {
		return Port{}, fmt.Errorf("port %q: container port: %w", s, err)
	}
	return p, nil
}

func portNumber(s string) (uint16, error) {
	n, err := strconv.ParseUint(s, 10, 16)
	if err != nil || n == 0 {
		return 0, fmt.Errorf("%q is not a port number from 1 to 65535", s)
	}
	return uint16(n), nil
}

// String spells p as ParsePort reads it, always with its protocol.
func (p Port) String() string {
	s := fmt.Sprintf("%d:%d/%s", p.HostPort, p.Port, p.Proto)
	if p.HostIP != nil {
		s = p.HostIP.String() + ":" + s
	}
	return s
}

// overlaps reports whether p and q claim the same packets on the host.
func (p Port) overlaps(q Port) bool {
	return p.Proto == q.Proto && p.HostPort == q.HostPort &&
		(p.HostIP == nil || q.HostIP == nil || p.HostIP.Equal(q.HostIP))
}
