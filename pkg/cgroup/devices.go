package cgroup

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// A process with CAP_MKNOD can make a node for any device number, and a node
// is only a name: opening it reaches the driver, whatever directory it is in.
// So root in a container could mknod /x b 8 0 and read the host's disk, or open
// /dev/kvm or write to /dev/kmsg. Dropping CAP_MKNOD is not enough either (an
// image may ship such a node). The kernel's answer is the device cgroup: an
// allowlist it checks on every open(2) and mknod(2) of a device node by a
// process in the cgroup, whatever mount the node is on.
//
//	v1: the devices controller; "a" written to devices.deny, then one line per
//	    allowed device written to devices.allow
//	    (https://docs.kernel.org/admin-guide/cgroup-v1/devices.html)
//	v2: no controller: an eBPF program of type BPF_PROG_TYPE_CGROUP_DEVICE,
//	    attached to the cgroup's directory, answers each access (devices_bpf.go)
//
// Access checked at open: a file descriptor opened before the process joined
// (can's stdin, say) keeps working.

// DeviceRule allows or denies one kind of access to one device, or to a range
// of them, as a line of v1's devices.allow ("c 1:3 rwm") or an OCI config's
// linux.resources.devices entry does.
type DeviceRule struct {
	Type   rune   // 'c' character, 'b' block, 'a' all devices
	Major  int64  // -1: any
	Minor  int64  // -1: any
	Access string // some of "rwm": read, write, mknod
	Allow  bool
}

// Any is the wildcard major or minor number, "*" in a rule.
const Any = -1

// DefaultDevices is what a container may use, as runc and Docker allow it:
// making any node (so an image that ships nodes unpacks, and mknod for a
// named pipe or socket is unaffected anyway), but opening only the nodes
// every container gets in its /dev (pkg/mount.Devices), the terminal devices,
// and its own pseudo-terminals. Later rules win over earlier ones; anything no
// rule matches is denied.
var DefaultDevices = []DeviceRule{
	{'c', Any, Any, "m", true},
	{'b', Any, Any, "m", true},
	{'c', 1, 3, "rwm", true},     // /dev/null
	{'c', 1, 5, "rwm", true},     // /dev/zero
	{'c', 1, 7, "rwm", true},     // /dev/full
	{'c', 1, 8, "rwm", true},     // /dev/random
	{'c', 1, 9, "rwm", true},     // /dev/urandom
	{'c', 5, 0, "rwm", true},     // /dev/tty
	{'c', 5, 1, "rwm", true},     // /dev/console
	{'c', 5, 2, "rwm", true},     // /dev/ptmx
	{'c', 136, Any, "rwm", true}, // /dev/pts/*
}

// String is the rule as v1's devices.allow and devices.deny read it:
// "type major:minor access".
func (r DeviceRule) String() string {
	if r.Type == 'a' {
		return "a"
	}
	num := func(n int64) string {
		if n == Any {
			return "*"
		}
		return strconv.FormatInt(n, 10)
	}
	return fmt.Sprintf("%c %s:%s %s", r.Type, num(r.Major), num(r.Minor), r.Access)
}

func (r DeviceRule) validate() error {
	switch {
	case r.Type != 'a' && r.Type != 'c' && r.Type != 'b':
		return fmt.Errorf("device rule %q: type must be a, c or b", r)
	case r.Major < Any || r.Minor < Any || r.Major > 1<<31 || r.Minor > 1<<31:
		return fmt.Errorf("device rule %q: major and minor must be numbers or *", r)
	case r.Access == "" || strings.Trim(r.Access, "rwm") != "":
		return fmt.Errorf("device rule %q: access must be some of rwm", r)
	}
	return nil
}

// policy is what a list of rules comes to, as the v1 controller keeps it:
// a default answer, and exceptions to it. Rules are applied in order, as
// writes to v1's files are, starting from "deny everything":
//
//   - a rule of type 'a' sets the default and clears the exceptions;
//   - a rule against the default adds an exception (or more access to one
//     for the same type, major and minor);
//   - a rule that agrees with the default takes access away from the
//     exception for exactly its type, major and minor, if there is one.
//
// So a later rule wins over an earlier one, and both hierarchies, and this
// package's tests, see one list. The trap is the last case: "c *:* rwm"
// allowed, then "c 1:3 w" denied, does not deny /dev/null's writes on v1:
// the kernel keeps no exception to an exception, and silently ignores it.
// Such a rule is refused, as runc's emulation of the v1 controller refuses
// it, rather than left to mean something else on each version.
type policy struct {
	allow      bool         // the default answer
	exceptions []DeviceRule // each with Allow = !allow
}

// normalize applies rules in order and returns the policy they leave.
func normalize(rules []DeviceRule) (policy, error) {
	var p policy
	for _, r := range rules {
		if r.Type == 'a' {
			p = policy{allow: r.Allow}
			continue
		}
		bits := accessBits(r.Access)
		i := p.find(r.Type, r.Major, r.Minor)
		if r.Allow != p.allow {
			if i < 0 {
				p.exceptions = append(p.exceptions, DeviceRule{r.Type, r.Major, r.Minor, "", r.Allow})
				i = len(p.exceptions) - 1
			}
			p.exceptions[i].Access = accessString(accessBits(p.exceptions[i].Access) | bits)
			continue
		}
		for _, w := range [][2]int64{{Any, r.Minor}, {r.Major, Any}, {Any, Any}} {
			j := p.find(r.Type, w[0], w[1])
			if j >= 0 && j != i && accessBits(p.exceptions[j].Access)&bits != 0 {
				return p, fmt.Errorf("device rule %q (%s) punches a hole in the earlier %q: the v1 devices controller would ignore it; list the devices one by one instead", r, verb(r.Allow), p.exceptions[j])
			}
		}
		if i >= 0 {
			left := accessBits(p.exceptions[i].Access) &^ bits
			if left == 0 {
				p.exceptions = slices.Delete(p.exceptions, i, i+1)
			} else {
				p.exceptions[i].Access = accessString(left)
			}
		}
	}
	return p, nil
}

// find returns the index of the exception for exactly typ, major and
// minor, or -1.
func (p policy) find(typ rune, major, minor int64) int {
	return slices.IndexFunc(p.exceptions, func(e DeviceRule) bool {
		return e.Type == typ && e.Major == major && e.Minor == minor
	})
}

func verb(allow bool) string {
	if allow {
		return "allow"
	}
	return "deny"
}

// accessString spells access bits in the order the kernel does: "rwm".
func accessString(bits int32) string {
	var s string
	for _, c := range "rwm" {
		if bits&accessBits(string(c)) != 0 {
			s += string(c)
		}
	}
	return s
}

// setDevicesV1 writes a policy to the v1 devices cgroup d: first "a", which
// empties the exceptions and sets the default, then each exception, one
// line per write (the kernel takes one rule per write).
func setDevicesV1(d dir, p policy) error {
	def, ex := "devices.deny", "devices.allow"
	if p.allow {
		def, ex = ex, def
	}
	if err := d.write(def, "a"); err != nil {
		return err
	}
	for _, r := range p.exceptions {
		if err := d.write(ex, r.String()); err != nil {
			return err
		}
	}
	return nil
}

// setDevices applies the rules to the cgroup: on cgroup2 by the BPF program
// (the kernel runs it for a process in this cgroup2 directory whatever v1
// hierarchies are mounted too, so on a hybrid machine it is enough), on a
// machine without cgroup2 by the v1 devices controller.
func (cg *Cgroup) setDevices(rules []DeviceRule) error {
	p, err := normalize(rules)
	if err != nil {
		return err
	}
	if d, ok := cg.v2(); ok {
		return attachDeviceFilter(d.path, p)
	}
	if d, ok := cg.find("devices"); ok {
		return setDevicesV1(d, p)
	}
	return errors.New("restrict devices: no cgroup2 and no v1 devices controller here")
}
