package doctor

import (
	"encoding/binary"
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// From linux/netfilter/nfnetlink.h and nf_tables.h.
const (
	nfnlSubsysNftables = 10
	nftMsgNewGen       = 15
	nftMsgGetGen       = 16
)

// ProbeNftables asks the kernel for nf_tables' ruleset generation, the way
// nft(8) starts every command: a netlink message to NETLINK_NETFILTER, which
// changes nothing and sends no packet. It fails with EPERM without
// CAP_NET_ADMIN, and with EOPNOTSUPP or EPROTONOSUPPORT when the kernel has
// no nf_tables.
func ProbeNftables() error {
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.NETLINK_NETFILTER)
	if err != nil {
		return fmt.Errorf("socket(AF_NETLINK, NETLINK_NETFILTER): %w", err)
	}
	defer unix.Close(fd)
	// A kernel that never answers must not hang the doctor.
	tv := unix.Timeval{Sec: 2}
	if err := unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
		return err
	}
	msg := make([]byte, unix.NLMSG_HDRLEN+4)
	binary.NativeEndian.PutUint32(msg[0:], uint32(len(msg)))                   // nlmsg_len
	binary.NativeEndian.PutUint16(msg[4:], nfnlSubsysNftables<<8|nftMsgGetGen) // nlmsg_type
	binary.NativeEndian.PutUint16(msg[6:], unix.NLM_F_REQUEST|unix.NLM_F_ACK)  // nlmsg_flags
	binary.NativeEndian.PutUint32(msg[8:], 1)                                  // nlmsg_seq
	// struct nfgenmsg: family AF_UNSPEC, version NFNETLINK_V0, res_id 0.
	if err := unix.Sendto(fd, msg, 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return fmt.Errorf("netlink NFT_MSG_GETGEN: %w", err)
	}
	buf := make([]byte, os.Getpagesize())
	for {
		n, _, err := unix.Recvfrom(fd, buf, 0)
		if err != nil {
			return fmt.Errorf("netlink NFT_MSG_GETGEN: %w", err)
		}
		// Each message: struct nlmsghdr (len, type, flags, seq, pid), payload.
		for b := buf[:n]; len(b) >= unix.NLMSG_HDRLEN; {
			size := int(binary.NativeEndian.Uint32(b[0:]))
			typ := binary.NativeEndian.Uint16(b[4:])
			if size < unix.NLMSG_HDRLEN || size > len(b) {
				return fmt.Errorf("netlink NFT_MSG_GETGEN: a malformed answer")
			}
			switch {
			case typ == nfnlSubsysNftables<<8|nftMsgNewGen:
				return nil
			case typ == unix.NLMSG_ERROR && size >= unix.NLMSG_HDRLEN+4:
				// struct nlmsgerr: a negative errno, or 0 for the ACK.
				if errno := -int32(binary.NativeEndian.Uint32(b[unix.NLMSG_HDRLEN:])); errno != 0 {
					return fmt.Errorf("netlink NFT_MSG_GETGEN: %w", unix.Errno(errno))
				}
				return nil
			}
			b = b[(size+unix.NLMSG_ALIGNTO-1)&^(unix.NLMSG_ALIGNTO-1):]
		}
	}
}
