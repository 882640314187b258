package main

import (
	"encoding/binary"
	"fmt"
	"net"
	"os"
	"strconv"
	"time"

	"golang.org/x/sys/unix"
)

// syn sends one TCP SYN to dst (IP:PORT) out of eth0, in a frame addressed to
// the link address mac, through a packet socket (packet(7): CAP_NET_RAW,
// which Docker's 14 capabilities hold). The frame skips this namespace's
// IP stack, so it goes where it is told, even to 127.0.0.1 by way of the
// gateway's MAC: what CVE-2020-8558 did. It prints how the far end
// answered: syn-ack (a socket listens there), rst (the port is closed), or
// none within a second.
func syn(mac, dst string) error {
	hw, err := net.ParseMAC(mac)
	if err != nil {
		return err
	}
	host, p, err := net.SplitHostPort(dst)
	if err != nil {
		return err
	}
	dip := net.ParseIP(host).To4()
	port, err := strconv.ParseUint(p, 10, 16)
	if dip == nil || err != nil {
		return fmt.Errorf("%q: give IPv4:PORT", dst)
	}
	eth0, err := net.InterfaceByName("eth0")
	if err != nil {
		return err
	}
	var sip net.IP
	addrs, _ := eth0.Addrs()
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok && n.IP.To4() != nil {
			sip = n.IP.To4()
		}
	}
	if sip == nil {
		return fmt.Errorf("eth0 has no IPv4 address")
	}
	// SOCK_DGRAM: the kernel writes the Ethernet header from the address
	// given to sendto, and strips it from what recvfrom returns.
	proto := int(htons(unix.ETH_P_IP))
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, proto)
	if err != nil {
		return fmt.Errorf("socket(AF_PACKET): %w", err)
	}
	defer unix.Close(fd)
	if err := unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: uint16(proto), Ifindex: eth0.Index}); err != nil {
		return fmt.Errorf("bind to eth0: %w", err)
	}
	sport := uint16(40000 + os.Getpid()%20000)
	to := &unix.SockaddrLinklayer{Protocol: uint16(proto), Ifindex: eth0.Index, Halen: 6}
	copy(to.Addr[:], hw)
	if err := unix.Sendto(fd, synPacket(sip, dip, sport, uint16(port)), 0, to); err != nil {
		return fmt.Errorf("sendto: %w", err)
	}
	tv := unix.NsecToTimeval(int64(100 * time.Millisecond))
	unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv)
	buf := make([]byte, 1500)
	// Read what came, then look at the clock: a probe that was not
	// scheduled for a second still finds the answer waiting.
	for deadline := time.Now().Add(time.Second); ; {
		if answer := readAnswer(fd, buf, dip, uint16(port), sport); answer != "" {
			fmt.Println(answer)
			return nil
		}
		if time.Now().After(deadline) {
			break
		}
	}
	fmt.Println("none")
	return nil
}

// readAnswer reads one packet, or waits 100 ms for one, and names the TCP
// flags of an answer from dip:port to sport; "" for anything else.
func readAnswer(fd int, buf []byte, dip net.IP, port, sport uint16) string {
	n, _, err := unix.Recvfrom(fd, buf, 0)
	if err != nil || n < 40 {
		return ""
	}
	ip := buf[:n]
	ihl := int(ip[0]&0xf) * 4
	if ip[9] != unix.IPPROTO_TCP || !net.IP(ip[12:16]).Equal(dip) || n < ihl+20 {
		return ""
	}
	tcp := ip[ihl:]
	if binary.BigEndian.Uint16(tcp[0:]) != port || binary.BigEndian.Uint16(tcp[2:]) != sport {
		return ""
	}
	switch flags := tcp[13]; {
	case flags&0x12 == 0x12: // SYN and ACK
		return "syn-ack"
	case flags&0x04 != 0: // RST
		return "rst"
	default:
		return fmt.Sprintf("flags %#x", flags)
	}
}

// synPacket builds an IPv4 header and a TCP header with SYN set (RFC 791,
// RFC 9293), checksums included.
func synPacket(src, dst net.IP, sport, dport uint16) []byte {
	b := make([]byte, 40)
	b[0] = 0x45                           // version 4, 5 words of header
	binary.BigEndian.PutUint16(b[2:], 40) // total length
	b[8] = 64                             // TTL
	b[9] = unix.IPPROTO_TCP               // protocol
	copy(b[12:16], src)                   // source
	copy(b[16:20], dst)                   // destination
	binary.BigEndian.PutUint16(b[10:], csum(b[:20]))
	t := b[20:]
	binary.BigEndian.PutUint16(t[0:], sport)
	binary.BigEndian.PutUint16(t[2:], dport)
	binary.BigEndian.PutUint32(t[4:], 1)      // sequence number
	t[12] = 5 << 4                            // 5 words of header
	t[13] = 0x02                              // SYN
	binary.BigEndian.PutUint16(t[14:], 65535) // window
	// The TCP checksum covers a pseudo header: addresses, protocol, length.
	pseudo := append(append(append([]byte{}, src...), dst...), 0, unix.IPPROTO_TCP, 0, 20)
	binary.BigEndian.PutUint16(t[16:], csum(append(pseudo, t...)))
	return b
}

// csum is the Internet checksum (RFC 1071) of b, of even length.
func csum(b []byte) uint16 {
	var s uint32
	for i := 0; i < len(b); i += 2 {
		s += uint32(binary.BigEndian.Uint16(b[i:]))
	}
	for s > 0xffff {
		s = s>>16 + s&0xffff
	}
	return ^uint16(s)
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }
