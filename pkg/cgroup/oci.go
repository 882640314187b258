package cgroup

import (
	"fmt"
	"maps"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// FromOCI reads an OCI config's linux.resources into Limits
// (https://github.com/opencontainers/runtime-spec/blob/main/config-linux.md#control-groups).
// A resource tincan does not set is refused, naming its field, when it is
// given a value other than zero or empty: a limit asked for is never
// silently dropped. -1, "unlimited" in OCI, is the same as unset where
// Limits has no such value. nil reads as no limit at all.
func FromOCI(r *specs.LinuxResources) (Limits, error) {
	var l Limits
	if r == nil {
		return l, nil
	}
	refuse := func(field string) (Limits, error) {
		return Limits{}, fmt.Errorf("linux.resources.%s is set, and tincan does not set it: remove it from config.json", field)
	}
	if m := r.Memory; m != nil {
		// kernel and kernelTCP are deprecated in the runtime spec (1.2):
		// Linux 6.1 removed kernel memory limits (memory.kmem.*), and runc
		// ignores both. Ignored here too; the caller may warn
		// (KernelMemoryIgnored), for engines still send them.
		if m.Swappiness != nil {
			if *m.Swappiness > 100 {
				return Limits{}, fmt.Errorf("linux.resources.memory.swappiness %d: give 0 to 100", *m.Swappiness)
			}
			sw := *m.Swappiness
			l.Swappiness = &sw
		}
		// useHierarchy: always on since Linux 5.x; checkBeforeUpdate: for
		// an update, which tincan does not do.
		l.Memory = positive(m.Limit)
		l.MemoryReservation = positive(m.Reservation)
		if m.Swap != nil {
			l.MemorySwap = max(*m.Swap, -1)
		}
		l.DisableOOMKiller = m.DisableOOMKiller != nil && *m.DisableOOMKiller
	}
	if c := r.CPU; c != nil {
		switch {
		case c.Burst != nil && *c.Burst != 0:
			return refuse("cpu.burst")
		case given(c.RealtimeRuntime):
			return refuse("cpu.realtimeRuntime")
		case c.RealtimePeriod != nil && *c.RealtimePeriod != 0:
			return refuse("cpu.realtimePeriod")
		case given(c.Idle):
			return refuse("cpu.idle")
		}
		if c.Shares != nil {
			l.CPUShares = *c.Shares
		}
		if c.Quota != nil {
			l.CPUQuota = *c.Quota
		}
		if c.Period != nil {
			l.CPUPeriod = *c.Period
		}
		l.CPUSetCPUs, l.CPUSetMems = c.Cpus, c.Mems
	}
	if r.Pids != nil && r.Pids.Limit > 0 { // 0 and -1: no limit
		l.Pids = r.Pids.Limit
	}
	if b := r.BlockIO; b != nil {
		switch {
		case b.LeafWeight != nil && *b.LeafWeight != 0:
			return refuse("blockIO.leafWeight")
		case len(b.WeightDevice) > 0:
			return refuse("blockIO.weightDevice")
		case len(b.ThrottleReadBpsDevice) > 0:
			return refuse("blockIO.throttleReadBpsDevice")
		case len(b.ThrottleWriteBpsDevice) > 0:
			return refuse("blockIO.throttleWriteBpsDevice")
		case len(b.ThrottleReadIOPSDevice) > 0:
			return refuse("blockIO.throttleReadIOPSDevice")
		case len(b.ThrottleWriteIOPSDevice) > 0:
			return refuse("blockIO.throttleWriteIOPSDevice")
		}
		if b.Weight != nil {
			l.BlkioWeight = *b.Weight
		}
	}
	switch {
	case len(r.HugepageLimits) > 0:
		return refuse("hugepageLimits")
	case r.Network != nil && (r.Network.ClassID != nil && *r.Network.ClassID != 0 || len(r.Network.Priorities) > 0):
		return refuse("network")
	case len(r.Rdma) > 0:
		return refuse("rdma")
	}
	if len(r.Unified) > 0 {
		l.Unified = maps.Clone(r.Unified)
	}
	if r.Devices != nil {
		l.Devices = []DeviceRule{}
	}
	for i, d := range r.Devices {
		rule := DeviceRule{Type: 'a', Major: Any, Minor: Any, Access: d.Access, Allow: d.Allow}
		switch d.Type {
		case "", "a":
		case "c", "u": // "u", unbuffered, is a character device too
			rule.Type = 'c'
		case "b":
			rule.Type = 'b'
		default:
			return Limits{}, fmt.Errorf("linux.resources.devices[%d]: type %q: must be a, b or c", i, d.Type)
		}
		if d.Major != nil {
			rule.Major = *d.Major
		}
		if d.Minor != nil {
			rule.Minor = *d.Minor
		}
		if rule.Access == "" {
			rule.Access = "rwm"
		}
		l.Devices = append(l.Devices, rule)
	}
	if err := l.Validate(); err != nil {
		return Limits{}, fmt.Errorf("linux.resources: %w", err)
	}
	return l, nil
}

// given reports whether an OCI number is given and not zero.
func given(n *int64) bool { return n != nil && *n != 0 }

// positive is an OCI number as a limit: nil, 0 and -1 (unlimited) are none.
func positive(n *int64) int64 {
	if n == nil || *n < 0 {
		return 0
	}
	return *n
}

// KernelMemoryIgnored reports whether r asks for the kernel memory limits
// that FromOCI ignores.
func KernelMemoryIgnored(r *specs.LinuxResources) bool {
	//lint:ignore SA1019 the deprecated field is read to say it is ignored
	return r != nil && r.Memory != nil && (given(r.Memory.Kernel) || given(r.Memory.KernelTCP))
}
