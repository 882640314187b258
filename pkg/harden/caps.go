package harden

import (
	"fmt"
	"math/bits"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"tincan.dev/pkg/sysprog"
)

// Root's power is split into about 40 capabilities (capabilities(7)). A
// thread holds five sets of them:
//
//	bounding     the most it can ever have again: execve never gives more
//	permitted    what it may use
//	effective    what the kernel checks right now
//	inheritable  what may pass through execve to a program with matching file capabilities
//	ambient      what passes through execve to any program
//
// When root executes a program, the kernel gives it every capability still in
// the bounding set (capabilities(7), "Capabilities and execution of programs
// by root"). So the bounding set is what really limits root in a container,
// and dropping from it is the first step.
//
// The inheritable set stays empty: runc and Docker once filled it like the
// others, and a non-root user in the container could then execute a program
// with inheritable file capabilities and gain them (CVE-2022-24769). The
// ambient set needs no call of its own: a capability can only be ambient while
// it is both permitted and inheritable, so capset with an empty inheritable
// set clears it (capabilities(7), "Ambient capability set").

// capNames names each capability by its number, as <linux/capability.h>.
var capNames = [...]string{
	unix.CAP_CHOWN:              "CAP_CHOWN",
	unix.CAP_DAC_OVERRIDE:       "CAP_DAC_OVERRIDE",
	unix.CAP_DAC_READ_SEARCH:    "CAP_DAC_READ_SEARCH",
	unix.CAP_FOWNER:             "CAP_FOWNER",
	unix.CAP_FSETID:             "CAP_FSETID",
	unix.CAP_KILL:               "CAP_KILL",
	unix.CAP_SETGID:             "CAP_SETGID",
	unix.CAP_SETUID:             "CAP_SETUID",
	unix.CAP_SETPCAP:            "CAP_SETPCAP",
	unix.CAP_LINUX_IMMUTABLE:    "CAP_LINUX_IMMUTABLE",
	unix.CAP_NET_BIND_SERVICE:   "CAP_NET_BIND_SERVICE",
	unix.CAP_NET_BROADCAST:      "CAP_NET_BROADCAST",
	unix.CAP_NET_ADMIN:          "CAP_NET_ADMIN",
	unix.CAP_NET_RAW:            "CAP_NET_RAW",
	unix.CAP_IPC_LOCK:           "CAP_IPC_LOCK",
	unix.CAP_IPC_OWNER:          "CAP_IPC_OWNER",
	unix.CAP_SYS_MODULE:         "CAP_SYS_MODULE",
	unix.CAP_SYS_RAWIO:          "CAP_SYS_RAWIO",
	unix.CAP_SYS_CHROOT:         "CAP_SYS_CHROOT",
	unix.CAP_SYS_PTRACE:         "CAP_SYS_PTRACE",
	unix.CAP_SYS_PACCT:          "CAP_SYS_PACCT",
	unix.CAP_SYS_ADMIN:          "CAP_SYS_ADMIN",
	unix.CAP_SYS_BOOT:           "CAP_SYS_BOOT",
	unix.CAP_SYS_NICE:           "CAP_SYS_NICE",
	unix.CAP_SYS_RESOURCE:       "CAP_SYS_RESOURCE",
	unix.CAP_SYS_TIME:           "CAP_SYS_TIME",
	unix.CAP_SYS_TTY_CONFIG:     "CAP_SYS_TTY_CONFIG",
	unix.CAP_MKNOD:              "CAP_MKNOD",
	unix.CAP_LEASE:              "CAP_LEASE",
	unix.CAP_AUDIT_WRITE:        "CAP_AUDIT_WRITE",
	unix.CAP_AUDIT_CONTROL:      "CAP_AUDIT_CONTROL",
	unix.CAP_SETFCAP:            "CAP_SETFCAP",
	unix.CAP_MAC_OVERRIDE:       "CAP_MAC_OVERRIDE",
	unix.CAP_MAC_ADMIN:          "CAP_MAC_ADMIN",
	unix.CAP_SYSLOG:             "CAP_SYSLOG",
	unix.CAP_WAKE_ALARM:         "CAP_WAKE_ALARM",
	unix.CAP_BLOCK_SUSPEND:      "CAP_BLOCK_SUSPEND",
	unix.CAP_AUDIT_READ:         "CAP_AUDIT_READ",
	unix.CAP_PERFMON:            "CAP_PERFMON",
	unix.CAP_BPF:                "CAP_BPF",
	unix.CAP_CHECKPOINT_RESTORE: "CAP_CHECKPOINT_RESTORE",
}

// DefaultCaps returns the 14 capabilities Docker leaves a container (moby's
// oci/caps/defaults.go): enough to chown files, bind port 80, switch users
// and make device nodes, none to mount, load modules or change the clock.
// Their mask is 0x00000000a80425fb, as CapEff in /proc/self/status shows it.
func DefaultCaps() []string {
	return []string{
		"CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER",
		"CAP_MKNOD", "CAP_NET_RAW", "CAP_SETGID", "CAP_SETUID", "CAP_SETFCAP",
		"CAP_SETPCAP", "CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT", "CAP_KILL",
		"CAP_AUDIT_WRITE",
	}
}

// CapMask turns capability names into a bit mask, bit N for capability N.
// Names are matched without regard to case and the "CAP_" prefix; "ALL" sets
// every bit (Apply then keeps every capability the thread has).
func CapMask(names []string) (uint64, error) {
	var mask uint64
	for _, name := range names {
		n := strings.ToUpper(name)
		if n == "ALL" {
			mask = ^uint64(0)
			continue
		}
		if !strings.HasPrefix(n, "CAP_") {
			n = "CAP_" + n
		}
		bit := -1
		for i, c := range capNames {
			if c == n {
				bit = i
			}
		}
		if bit < 0 {
			return 0, fmt.Errorf("unknown capability %q: see capabilities(7) for the names (CAP_NET_ADMIN, ...)", name)
		}
		mask |= 1 << bit
	}
	return mask, nil
}

// CapNames lists every capability harden knows, by number, as the man page
// spells them: what an OCI runtime's features command reports.
func CapNames() []string { return append([]string(nil), capNames[:]...) }

// capName spells capability n as the man page does.
func capName(n int) string {
	if n < len(capNames) {
		return capNames[n]
	}
	return strconv.Itoa(n)
}

// keep is the mask of capabilities c keeps: "ALL" is every capability this
// thread has (the host may have cut its bounding set already), and one it
// does not have is an error, before anything is changed.
func (c Config) keep() (uint64, error) {
	names := c.Caps
	switch {
	case c.Privileged:
		names = []string{"ALL"}
	case names == nil:
		names = DefaultCaps()
	}
	keep, err := CapMask(names)
	if err != nil {
		return 0, err
	}
	_, data, err := Capget()
	if err != nil {
		return 0, err
	}
	have := uint64(data[1].Permitted)<<32 | uint64(data[0].Permitted)
	if keep == ^uint64(0) {
		return have, nil
	}
	if missing := keep &^ have; missing != 0 {
		n := bits.TrailingZeros64(missing)
		return 0, fmt.Errorf("cannot keep %s: this process does not have it (run as root, on a host that grants it)", capName(n))
	}
	return keep, nil
}

// lastCap is the highest capability this kernel knows, the number in
// /proc/sys/kernel/cap_last_cap. Asking prctl(PR_CAPBSET_READ), which fails
// with EINVAL past it (prctl(2)), costs one call instead of opening a file,
// and needs no /proc. A kernel newer than this program may know more
// capabilities than capNames: they must be dropped too.
func lastCap() int {
	known := func(n int) bool { return unix.Prctl(unix.PR_CAPBSET_READ, uintptr(n), 0, 0, 0) == nil }
	last := unix.CAP_LAST_CAP
	for known(last + 1) { // a newer kernel
		last++
	}
	for last > 0 && !known(last) { // an older one
		last--
	}
	return last
}

// dropBounding removes from the bounding set every capability not in keep,
// with prctl(PR_CAPBSET_DROP), which needs CAP_SETPCAP: so it comes first,
// before capset takes CAP_SETPCAP away.
func dropBounding(p *sysprog.Program, keep uint64, last int) {
	for n := 0; n <= last; n++ {
		if keep&(1<<n) == 0 {
			p.Add(fmt.Sprintf("prctl(PR_CAPBSET_DROP, %s)", capName(n)), "needs CAP_SETPCAP: run as root or in a user namespace",
				unix.SYS_PRCTL, unix.PR_CAPBSET_DROP, uintptr(n))
		}
	}
}

// Capget reads the calling thread's capability sets. Version 3 of the
// interface holds 64 bits in two 32-bit halves: data[0] for capabilities 0 to
// 31, data[1] for 32 to 63 (capget(2)). hdr (Pid 0: this thread) is ready for
// the capset(2) that writes them back changed.
func Capget() (hdr unix.CapUserHeader, data [2]unix.CapUserData, err error) {
	hdr.Version = unix.LINUX_CAPABILITY_VERSION_3
	if err := unix.Capget(&hdr, &data[0]); err != nil {
		return hdr, data, fmt.Errorf("capget: %w", err)
	}
	return hdr, data, nil
}

// capset sets the effective, permitted and inheritable sets. Version 3 of
// the interface holds 64 bits in two 32-bit halves: data[0] for capabilities
// 0 to 31, data[1] for 32 to 63 (capget(2)). Without Sets, inheritable is
// empty, and with it the ambient set: a capability can only be ambient while
// it is both permitted and inheritable.
func capset(p *sysprog.Program, m capMasks) {
	text := fmt.Sprintf("capset({_LINUX_CAPABILITY_VERSION_3, 0}, {effective=%#x, permitted=%#x, inheritable=%#x})",
		m.effective, m.permitted, m.inheritable)
	addCapset(p, text, "a thread can only keep capabilities it already has (run as root), effective and inheritable ones only if permitted or bounding", m.effective, m.permitted, m.inheritable)
}

// addCapset adds capset(2) of the three sets, 64 bits each, for this thread
// (the header's Pid 0).
func addCapset(p *sysprog.Program, text, hint string, effective, permitted, inheritable uint64) {
	hdr := &unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	data := &[2]unix.CapUserData{}
	for i := range data {
		data[i].Effective = uint32(effective >> (32 * i))
		data[i].Permitted = uint32(permitted >> (32 * i))
		data[i].Inheritable = uint32(inheritable >> (32 * i))
	}
	p.Add(text, hint, unix.SYS_CAPSET, sysprog.Ptr(p, hdr), sysprog.Ptr(p, data))
}

// RaiseEffective adds to p the capset(2) that makes the effective set the
// permitted one, as it is now (the header's Pid 0: the thread running p).
// After setuid(2) from root with PR_SET_KEEPCAPS the permitted set is kept
// and the effective set is empty: this brings it back.
func RaiseEffective(p *sysprog.Program) error {
	_, data, err := Capget()
	if err != nil {
		return err
	}
	raise(p, data)
	return nil
}

// raise adds the capset(2) that makes the effective set data's permitted one.
func raise(p *sysprog.Program, data [2]unix.CapUserData) {
	perm := uint64(data[1].Permitted)<<32 | uint64(data[0].Permitted)
	inh := uint64(data[1].Inheritable)<<32 | uint64(data[0].Inheritable)
	addCapset(p, "capset(effective = permitted)", "see capset(2)", perm, perm, inh)
}

// CapSets are the five sets a process is to be left with, by name
// ("CAP_NET_BIND_SERVICE"), as an OCI config.json's process.capabilities
// gives them. Unlike Caps, nothing is derived: the inheritable and ambient
// sets are what the lists say.
//
// After execve, a process whose uid is not 0 keeps only its ambient
// capabilities (permitted and effective become the ambient set, for a program
// without file capabilities: capabilities(7), "Transformation of capabilities
// during execve()"), and root gets its bounding set whatever the others say.
// So for a user that is not root, Ambient is what counts, and a capability
// can only be ambient while it is permitted and inheritable too.
type CapSets struct {
	Bounding, Effective, Permitted, Inheritable, Ambient []string
}

// capMasks are CapSets as bit masks, bit N for capability N.
type capMasks struct {
	bounding, effective, permitted, inheritable, ambient uint64
}

// masks reads s. A name that is no capability at all is an error; one this
// kernel is too old to know (above last, /proc/sys/kernel/cap_last_cap) is
// left out, with a warning, as runc does: a config written for newer
// kernels still runs.
func (s *CapSets) masks(last int, warn func(string)) (capMasks, error) {
	var m capMasks
	for _, set := range []struct {
		name  string
		names []string
		mask  *uint64
	}{
		{"bounding", s.Bounding, &m.bounding}, {"effective", s.Effective, &m.effective},
		{"permitted", s.Permitted, &m.permitted}, {"inheritable", s.Inheritable, &m.inheritable},
		{"ambient", s.Ambient, &m.ambient},
	} {
		mask, err := CapMask(set.names)
		if err != nil {
			return m, fmt.Errorf("capabilities.%s: %w", set.name, err)
		}
		if unknown := mask &^ (1<<(last+1) - 1); unknown != 0 && mask != ^uint64(0) {
			for n := last + 1; n < 64; n++ {
				if unknown&(1<<n) != 0 {
					warn(fmt.Sprintf("capabilities.%s: %s is unknown to this kernel (its last is %s, /proc/sys/kernel/cap_last_cap): left out", set.name, capName(n), capName(last)))
				}
			}
		}
		*set.mask = mask & (1<<(last+1) - 1)
	}
	return m, nil
}

// warn tells the user about a setting left out; it goes to the container's
// standard error, the only place a runtime's child can write to.
var warn = func(msg string) { fmt.Fprintln(os.Stderr, "warning:", msg) }

// raiseEffective makes the effective set the permitted set, when it is
// not already: the bounding set cannot be cut without CAP_SETPCAP in it.
func raiseEffective(p *sysprog.Program) error {
	_, data, err := Capget()
	if err != nil {
		return err
	}
	if data[0].Effective != data[0].Permitted || data[1].Effective != data[1].Permitted {
		raise(p, data)
	}
	return nil
}

// setAmbient empties the ambient set and raises the capabilities of amb in
// it, one prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE) each (prctl(2)). The
// kernel refuses to raise a capability that is not both permitted and
// inheritable: so this comes after capset. A kernel older than 4.3 has no
// ambient set: that is only an error when amb asks for one.
func setAmbient(p *sysprog.Program, amb uint64, last int) {
	clear := p.Add("prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL)", "ambient capabilities need Linux 4.3",
		unix.SYS_PRCTL, unix.PR_CAP_AMBIENT, unix.PR_CAP_AMBIENT_CLEAR_ALL)
	if amb == 0 {
		clear.Allow(unix.EINVAL)
	}
	for n := 0; n <= last; n++ {
		if amb&(1<<n) != 0 {
			p.Add(fmt.Sprintf("prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, %s)", capName(n)),
				"an ambient capability must be in the permitted and inheritable sets too: add it to both",
				unix.SYS_PRCTL, unix.PR_CAP_AMBIENT, unix.PR_CAP_AMBIENT_RAISE, uintptr(n))
		}
	}
}
