package cgroup

import (
	"errors"
	"fmt"
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

// setDevicesV1 writes rules to the v1 devices cgroup d: first deny
// everything, then each rule in order, each to devices.allow or devices.deny.
// The kernel keeps a list of exceptions to the default: "a" in devices.deny
// empties it and makes the default deny.
func setDevicesV1(d dir, rules []DeviceRule) error {
	if err := d.write("devices.deny", "a"); err != nil {
		return err
	}
	for _, r := range rules {
		file := "devices.deny"
		if r.Allow {
			file = "devices.allow"
		}
		if err := d.write(file, r.String()); err != nil {
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
	if d, ok := cg.v2(); ok {
		return attachDeviceFilter(d.path, rules)
	}
	if d, ok := cg.find("devices"); ok {
		return setDevicesV1(d, rules)
	}
	return errors.New("restrict devices: no cgroup2 and no v1 devices controller here")
}
