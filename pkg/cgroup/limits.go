package cgroup

import (
	"errors"
	"fmt"
	"math"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Limits is what a cgroup may use. A zero field sets no limit. can's own
// flags set Memory, CPUs, Pids and Devices; the others come from an OCI
// config's linux.resources (FromOCI), each written as runc writes it:
//
//	                    v1                                   v2
//	MemoryReservation   memory.soft_limit_in_bytes           memory.low
//	MemorySwap          memory.memsw.limit_in_bytes          memory.swap.max (minus Memory)
//	DisableOOMKiller    memory.oom_control 1                 (none: ignored, as runc does)
//	Swappiness          memory.swappiness                    (none: ignored, as runc does)
//	CPUShares           cpu.shares                           cpu.weight, converted
//	CPUQuota, CPUPeriod cpu.cfs_quota_us, cpu.cfs_period_us  cpu.max "quota period"
//	CPUSetCPUs, ...Mems cpuset.cpus, cpuset.mems             cpuset.cpus, cpuset.mems
//	BlkioWeight         blkio.weight (or blkio.bfq.weight)   io.bfq.weight (or io.weight, converted)
//	Unified             (refused)                            each key a file, its value written
type Limits struct {
	Memory int64   // bytes of memory, swap included (unless MemorySwap says otherwise)
	CPUs   float64 // CPUs' worth of time: 0.5 is half of one CPU
	Pids   int64   // processes (and threads) alive at once
	// Devices, when not nil, are the only device nodes the cgroup's
	// processes may open or make (devices.go); nil restricts none.
	Devices []DeviceRule `json:",omitempty"`

	// MemoryReservation is memory the kernel reclaims from this cgroup
	// last, when the machine runs short (a soft limit: never a kill).
	MemoryReservation int64 `json:",omitempty"`
	// MemorySwap is memory and swap together, as in OCI and docker
	// --memory-swap: -1 swap without limit; 0 (unset) no swap at all when
	// Memory is set, so that a cgroup at its limit is killed rather than
	// swapping on, slowly, far past it.
	MemorySwap int64 `json:",omitempty"`
	// DisableOOMKiller makes a v1 cgroup at its memory limit wait for
	// memory instead of having a process killed. v2 has no such switch:
	// ignored there, as runc does.
	DisableOOMKiller bool `json:",omitempty"`
	// Account puts the cgroup in every controller's hierarchy, limits or
	// not, so that what its processes use is counted there: an OCI
	// runtime's containers are (runc's), and engines read it (docker stats).
	Account bool `json:",omitempty"`
	// Swappiness, 0 to 100, is how readily a v1 cgroup's memory is swapped
	// out rather than its page cache dropped; nil leaves the kernel's.
	Swappiness *uint64 `json:",omitempty"`
	// CPUShares is the cgroup's weight against its siblings when the CPUs
	// are busy (1024 is the default, 2 to 262144); it limits nothing on an
	// idle machine.
	CPUShares uint64 `json:",omitempty"`
	// CPUQuota microseconds of CPU time in every CPUPeriod microseconds
	// (-1: no quota); when either is set, CPUs is not used.
	CPUQuota  int64  `json:",omitempty"`
	CPUPeriod uint64 `json:",omitempty"`
	// CPUSetCPUs and CPUSetMems pin the cgroup to CPUs and memory nodes:
	// lists such as "0-1,3".
	CPUSetCPUs string `json:",omitempty"`
	CPUSetMems string `json:",omitempty"`
	// BlkioWeight is the cgroup's share of disk time against its siblings,
	// 10 to 1000 (it needs the BFQ I/O scheduler, or CFQ on old kernels).
	BlkioWeight uint16 `json:",omitempty"`
	// Unified, on cgroup2 only, are files of the cgroup to write as they
	// are ("memory.high": "50M"): OCI's escape hatch for what has no field.
	Unified map[string]string `json:",omitempty"`
}

// Resources reports whether a limit other than devices is set: those need
// the v1 controllers' hierarchies; devices alone need one directory.
func (l Limits) Resources() bool {
	return slices.ContainsFunc(l.controllers(), func(c string) bool { return c != "devices" }) || len(l.Unified) > 0
}

// controllers lists the controllers the limits need, by their v1 names.
func (l Limits) controllers() []string {
	var c []string
	for _, need := range []struct {
		name  string
		asked bool
	}{
		{"memory", l.Memory > 0 || l.MemoryReservation > 0 || l.MemorySwap != 0 || l.DisableOOMKiller || l.Swappiness != nil},
		{"cpu", l.CPUs > 0 || l.CPUShares > 0 || l.CPUQuota != 0 || l.CPUPeriod > 0},
		{"pids", l.Pids > 0},
		{"cpuset", l.cpuset()},
		{"blkio", l.BlkioWeight > 0},
		{"devices", l.Devices != nil},
	} {
		if need.asked {
			c = append(c, need.name)
		}
	}
	return c
}

func (l Limits) cpuset() bool { return l.CPUSetCPUs != "" || l.CPUSetMems != "" }

// Period is the CFS period a CPU limit is a share of: in every 100ms, a cgroup
// with CPUs 0.2 may run for 20ms, then waits for the next period
// (https://docs.kernel.org/scheduler/sched-bwc.html).
const Period = 100 * time.Millisecond

// Validate refuses limits the kernel would refuse, naming the value.
func (l Limits) Validate() error {
	switch {
	case l.Memory < 0:
		return fmt.Errorf("memory limit %d: must be positive", l.Memory)
	case l.CPUs != 0 && cpuRange(l.CPUs) != "":
		return fmt.Errorf("CPU limit %g: %s", l.CPUs, cpuRange(l.CPUs))
	case l.Pids < 0:
		return fmt.Errorf("pids limit %d: must be positive", l.Pids)
	case l.MemoryReservation < 0:
		return fmt.Errorf("memory reservation %d: must be positive", l.MemoryReservation)
	case l.MemorySwap < -1:
		return fmt.Errorf("memory+swap limit %d: must be positive, or -1 for no limit", l.MemorySwap)
	case l.MemorySwap > 0 && l.Memory == 0:
		return fmt.Errorf("memory+swap limit %d: set a memory limit too (it counts memory and swap together)", l.MemorySwap)
	case l.MemorySwap > 0 && l.MemorySwap < l.Memory:
		return fmt.Errorf("memory+swap limit %d: must be at least the memory limit, %d (it counts memory and swap together)", l.MemorySwap, l.Memory)
	case l.CPUShares != 0 && (l.CPUShares < 2 || l.CPUShares > 262144):
		return fmt.Errorf("CPU shares %d: the kernel takes 2 to 262144 (1024 is the default)", l.CPUShares)
	case l.CPUQuota != 0 && l.CPUQuota != -1 && l.CPUQuota < 1000:
		return fmt.Errorf("CPU quota %dµs: the minimum is 1000 (1ms), or -1 for none", l.CPUQuota)
	case l.CPUPeriod != 0 && (l.CPUPeriod < 1000 || l.CPUPeriod > 1000000):
		return fmt.Errorf("CPU period %dµs: the kernel takes 1000 (1ms) to 1000000 (1s)", l.CPUPeriod)
	case l.BlkioWeight != 0 && (l.BlkioWeight < 10 || l.BlkioWeight > 1000):
		return fmt.Errorf("block I/O weight %d: must be 10 to 1000", l.BlkioWeight)
	}
	for _, r := range l.Devices {
		if err := r.validate(); err != nil {
			return err
		}
	}
	if _, err := normalize(l.Devices); err != nil {
		return err
	}
	for key := range l.Unified {
		switch key {
		case "cgroup.procs", "cgroup.threads", "cgroup.subtree_control", "cgroup.kill", "cgroup.freeze", "cgroup.type":
			return fmt.Errorf("unified %q: that file moves, kills or freezes processes, it sets no limit", key)
		}
		if strings.Contains(key, "/") || !strings.Contains(key, ".") {
			return fmt.Errorf("unified %q: must be the name of a file of the cgroup, such as memory.high", key)
		}
	}
	return nil
}

// cpuRange says why cpus cannot be a CPU limit, or "" when it can: Docker's
// range, from 1ms of every 100ms period (the kernel takes quotas from
// cpu.cfs_quota_us = 1000) to all the CPUs here (a bigger quota could never
// be used up: it would limit nothing). Validate and ParseLimits both ask it.
func cpuRange(cpus float64) string {
	switch n := runtime.NumCPU(); {
	case cpus > float64(n):
		// Checked first: the quota of a huge count overflows an int64.
		return fmt.Sprintf("the maximum is %d, the CPUs this machine has (a bigger quota limits nothing)", n)
	case !(cpus > 0) || quota(cpus) < 1000: // NaN is not > 0
		return "the minimum is 0.01 (a quota of 1ms per 100ms period)"
	}
	return ""
}

// quota is the CPU time, in microseconds, that cpus may use in one Period.
func quota(cpus float64) int64 { return int64(math.Round(cpus * float64(Period.Microseconds()))) }

// CPUWeight is cgroup2's cpu.weight (1 to 10000, 100 the default) for v1's
// cpu.shares (2 to 262144, 1024 the default): the two ranges mapped onto
// each other by a straight line, as runc and crun long did and the OCI
// cgroup v2 conversion note says. (The defaults do not meet: 1024 shares
// is weight 39.)
func CPUWeight(shares uint64) uint64 {
	if shares < 2 {
		return 0
	}
	return 1 + (min(shares, 262144)-2)*9999/262142
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// setLimits writes every limit set to its file, in the hierarchy of its
// controller (plan made sure there is one).
func (cg *Cgroup) setLimits() error {
	w := &writes{}
	set := w.set
	l := cg.Limits
	if d, ok := cg.find("memory"); ok {
		if d.v2 {
			cg.memoryV2(d, set)
		} else {
			cg.memoryV1(d, set)
		}
	}
	if d, ok := cg.find("cpu"); ok {
		cg.cpu(d, set)
	}
	if d, ok := cg.find("pids"); ok && l.Pids > 0 {
		set(d, "pids.max", itoa(l.Pids))
	}
	if d, ok := cg.find("cpuset"); ok {
		// mems first: on v1 a cgroup's tasks need both, and the kernel
		// checks cpus against the parent's (see copyCpuset).
		if l.CPUSetMems != "" {
			set(d, "cpuset.mems", l.CPUSetMems)
		}
		if l.CPUSetCPUs != "" {
			set(d, "cpuset.cpus", l.CPUSetCPUs)
		}
	}
	if l.BlkioWeight > 0 {
		cg.blkio(set)
	}
	if len(l.Unified) > 0 {
		d, ok := cg.v2()
		if !ok {
			return errors.New("linux.resources.unified: needs a cgroup v2 hierarchy, and this machine has none")
		}
		keys := make([]string, 0, len(l.Unified))
		for key := range l.Unified {
			keys = append(keys, key)
		}
		slices.Sort(keys)
		for _, key := range keys {
			if !d.has(key) {
				return fmt.Errorf("unified %q: %s has no such file (is its controller in cgroup.controllers?)", key, d.path)
			}
			set(d, key, l.Unified[key])
		}
	}
	return w.err
}

// writes keeps the first error of a series of writes, and makes none after
// it, so that each limit reads as one line.
type writes struct{ err error }

func (w *writes) set(d dir, name, value string) {
	if w.err == nil {
		w.err = d.write(name, value)
	}
}

// memoryV1 writes the memory limits to a v1 memory cgroup. memsw is memory
// plus swap; the kernel refuses it below limit_in_bytes, so that one goes
// first. It exists only with swap accounting on (CONFIG_MEMCG_SWAP,
// swapaccount=1): without it, swap is not limited at all.
func (cg *Cgroup) memoryV1(d dir, set func(dir, string, string)) {
	l := cg.Limits
	if l.Memory > 0 {
		set(d, "memory.limit_in_bytes", itoa(l.Memory))
	}
	switch {
	case l.MemorySwap > 0:
		set(d, "memory.memsw.limit_in_bytes", itoa(l.MemorySwap)) // an error if absent: asked for
	case l.MemorySwap == -1 && d.has("memory.memsw.limit_in_bytes"):
		set(d, "memory.memsw.limit_in_bytes", "-1")
	case l.Memory > 0 && d.has("memory.memsw.limit_in_bytes"):
		set(d, "memory.memsw.limit_in_bytes", itoa(l.Memory))
	}
	if l.MemoryReservation > 0 {
		set(d, "memory.soft_limit_in_bytes", itoa(l.MemoryReservation))
	}
	if l.DisableOOMKiller {
		set(d, "memory.oom_control", "1")
	}
	if l.Swappiness != nil {
		set(d, "memory.swappiness", strconv.FormatUint(*l.Swappiness, 10))
	}
}

// memoryV2 writes the memory limits to a cgroup2 directory, where swap is
// counted apart from memory. Without swap.max 0, a cgroup at memory.max
// swaps instead of being killed, and runs on, slowly, far past its limit.
func (cg *Cgroup) memoryV2(d dir, set func(dir, string, string)) {
	l := cg.Limits
	if l.Memory > 0 {
		set(d, "memory.max", itoa(l.Memory))
	}
	switch {
	case l.MemorySwap > 0:
		set(d, "memory.swap.max", itoa(l.MemorySwap-l.Memory)) // an error if absent: asked for
	case l.MemorySwap == -1 && d.has("memory.swap.max"):
		set(d, "memory.swap.max", "max")
	case l.Memory > 0 && d.has("memory.swap.max"):
		set(d, "memory.swap.max", "0")
	}
	if l.MemoryReservation > 0 {
		set(d, "memory.low", itoa(l.MemoryReservation))
	}
}

// cpu writes the CPU limits. A raw quota or period wins over CPUs; the
// period goes first on v1, as the kernel checks the quota against it.
func (cg *Cgroup) cpu(d dir, set func(dir, string, string)) {
	l := cg.Limits
	q, period := int64(0), uint64(Period.Microseconds())
	switch {
	case l.CPUQuota != 0 || l.CPUPeriod != 0:
		q = l.CPUQuota
		if l.CPUPeriod != 0 {
			period = l.CPUPeriod
		}
	case l.CPUs > 0:
		q = quota(l.CPUs)
	}
	switch {
	case q == 0 && l.CPUPeriod == 0: // no quota asked for
	case d.v2:
		quota := "max"
		if q > 0 {
			quota = itoa(q)
		}
		set(d, "cpu.max", quota+" "+strconv.FormatUint(period, 10))
	default:
		// A new v1 cgroup starts with the kernel's period, 100 ms, not
		// its parent's (init_cfs_bandwidth in kernel/sched/fair.c): a
		// write of that is a system call for nothing, on every start.
		if period != uint64(Period.Microseconds()) {
			set(d, "cpu.cfs_period_us", strconv.FormatUint(period, 10))
		}
		if q != 0 {
			set(d, "cpu.cfs_quota_us", itoa(q))
		}
	}
	if l.CPUShares > 0 {
		if d.v2 {
			set(d, "cpu.weight", strconv.FormatUint(CPUWeight(l.CPUShares), 10))
		} else {
			set(d, "cpu.shares", strconv.FormatUint(l.CPUShares, 10))
		}
	}
}

// blkio writes the block I/O weight. The weight is the I/O scheduler's, and
// each scheduler has its own file: blkio.weight was CFQ's (gone since Linux
// 5.0); BFQ's is blkio.bfq.weight, or io.bfq.weight on v2, which takes
// the v1 range as it is. Without BFQ, v2's io.weight (1 to 10000) is the
// io.cost controller's, and takes the weight converted.
func (cg *Cgroup) blkio(set func(dir, string, string)) {
	w := uint64(cg.Limits.BlkioWeight)
	if d, ok := cg.find("blkio"); ok {
		name := "blkio.weight"
		if !d.has(name) && d.has("blkio.bfq.weight") {
			name = "blkio.bfq.weight"
		}
		set(d, name, strconv.FormatUint(w, 10))
	} else if d, ok := cg.find("io"); ok {
		if d.has("io.bfq.weight") {
			set(d, "io.bfq.weight", strconv.FormatUint(w, 10))
		} else {
			set(d, "io.weight", strconv.FormatUint(1+(w-10)*9999/990, 10))
		}
	}
}
