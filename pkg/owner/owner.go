// Package owner names what one user makes on a machine that a whole class
// shares, so that two students never see or break each other's work.
//
// Network links, subnets and cgroups are machine-wide names: a second
// student's "01-net --veth" would meet the first one's tincan-veth0, and a
// "can cleanup" would sweep the other's cgroups. So every such name carries
// the uid of the user it is made for. Root keeps the plain names of the
// lessons' transcripts (tincan-veth0, tincan/<id>); a student who runs a
// lesson through sudo is still that student: sudo(8) says who in SUDO_UID.
//
//	              root             uid 1000 (or sudo from it)
//	01-net veth   tincan-veth0     tincan-v1000
//	its subnet    10.201.0.0/24    a /30 of 10.201.0.0/16 (10.201.16.160/30 for 1000)
//	can cgroups   tincan/<id>      tincan/1000-<id>
//	can's bridge  tincan0          tincan1000, nft table tincan-1000
//	can's state   /run/tincan      /run/tincan/1000 (sudo), or the user's own
package owner

import (
	"fmt"
	"net"
	"os"
	"strconv"
)

// UID is the user the names are for: the real uid, or, for root started by
// sudo, the uid sudo names in SUDO_UID. 0 means root's own names.
func UID() uint32 {
	if uid := os.Getuid(); uid != 0 {
		return uint32(uid)
	}
	if s := os.Getenv("SUDO_UID"); s != "" {
		if uid, err := strconv.ParseUint(s, 10, 32); err == nil {
			return uint32(uid)
		}
	}
	return 0
}

// Prefix is what the owner's cgroup IDs start with: "" for root, "1000-"
// for uid 1000, so that tincan/1000-<id> says whose a cgroup is.
func Prefix() string {
	if uid := UID(); uid != 0 {
		return fmt.Sprintf("%d-", uid)
	}
	return ""
}

// Link returns the name of a link for the owner: root for root, else short
// followed by the uid ("tincan-v" gives "tincan-v1000"), at most 15 bytes
// (IFNAMSIZ, 16, less its NUL; the hexadecimal uid, after a shortened short,
// when the decimal one does not fit).
func Link(root, short string) string {
	uid := UID()
	if uid == 0 {
		return root
	}
	name := short + strconv.FormatUint(uint64(uid), 10)
	if len(name) > 15 {
		// A uid of more digits than fit: its hexadecimal form, after as
		// much of short as leaves room.
		hex := strconv.FormatUint(uint64(uid), 16)
		name = short[:min(len(short), 15-len(hex))] + hex
	}
	return name
}

// Subnet30 returns the owner's /30 in the /16 base (the host end's address
// first, then the inner end's), or root's /24 at the start of base. A /30
// holds exactly the two ends of a cable; the /16 holds 16384, the first 64
// of which are root's /24: uids that differ by a multiple of 16320 share one.
func Subnet30(base *net.IPNet) (host, inner *net.IPNet) {
	ip := base.IP.To4()
	uid := UID()
	off, ones := uint32(0), 24
	if uid != 0 {
		off, ones = (64+uid%(16384-64))*4, 30
	}
	at := func(n uint32) *net.IPNet {
		v := uint32(ip[0])<<24 | uint32(ip[1])<<16 | uint32(ip[2])<<8 | uint32(ip[3])
		v += off + n
		return &net.IPNet{IP: net.IPv4(byte(v>>24), byte(v>>16), byte(v>>8), byte(v)).To4(), Mask: net.CIDRMask(ones, 32)}
	}
	return at(1), at(2)
}
