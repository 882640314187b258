package cgroup

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

var units = []struct {
	name  string
	shift uint
}{{"T", 40}, {"G", 30}, {"M", 20}, {"K", 10}}

// ParseSize reads a memory size the way docker run --memory does: plain bytes
// ("1048576"), or a whole number with K, M, G or T, optionally followed by B or
// iB, in any case ("512K", "8M", "8MiB", "1g"). Every unit is a power of 1024:
// the kernel counts memory in pages, and nobody means 8,000,000 by "8M".
func ParseSize(s string) (int64, error) {
	num, shift := cutUnit(strings.ToUpper(strings.TrimSpace(s)))
	n, err := strconv.ParseUint(num, 10, 63)
	if err != nil || n > math.MaxInt64>>shift {
		return 0, fmt.Errorf("invalid size %q: use bytes or a whole number with K, M, G or T (powers of 1024), such as 512K, 8M, 8MiB or 1g", s)
	}
	return int64(n) << shift, nil
}

// cutUnit splits "8MIB" into "8" and 20, the power of two of one MiB.
func cutUnit(s string) (string, uint) {
	for _, u := range units {
		for _, suffix := range []string{u.name + "IB", u.name + "B", u.name} {
			if num, ok := strings.CutSuffix(s, suffix); ok {
				return num, u.shift
			}
		}
	}
	num, _ := strings.CutSuffix(s, "B")
	return num, 0
}

// FormatSize spells n bytes in the largest unit that divides it: "8 MiB",
// "512 KiB", "1000 bytes".
func FormatSize(n int64) string {
	for _, u := range units {
		if n != 0 && n%(1<<u.shift) == 0 {
			return fmt.Sprintf("%d %siB", n>>u.shift, u.name)
		}
	}
	return fmt.Sprintf("%d bytes", n)
}

// FormatBytes spells n bytes for people, rounded: "7.9 MiB", "812 KiB".
func FormatBytes(n int64) string {
	for _, u := range units {
		if n >= 1<<u.shift {
			v := float64(n) / float64(int64(1)<<u.shift)
			if v < 10 {
				return fmt.Sprintf("%.1f %siB", v, u.name)
			}
			return fmt.Sprintf("%.0f %siB", v, u.name)
		}
	}
	return fmt.Sprintf("%d bytes", n)
}

// ParseCPUs reads a CPU limit in CPUs, as docker run --cpus does: "0.5" is
// half of one CPU's time, "2" two CPUs' worth, spread over any of them.
func ParseCPUs(s string) (float64, error) {
	c, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
	if err != nil || math.IsNaN(c) || math.IsInf(c, 0) {
		return 0, fmt.Errorf("invalid CPU count %q: use a number such as 0.5 or 2", s)
	}
	return c, nil
}

// MinMemory is the smallest memory limit ParseLimits takes: Docker's (it says
// "Minimum memory limit allowed is 6MB"). The kernel takes any limit, even
// one byte, but then CMD is killed by the OOM killer before its first line
// runs: what it must load, and the runtime's child that becomes it, are
// charged to the cgroup. Refusing says why; the OOM kill would not.
const MinMemory = 6 << 20

// ParseLimits reads the --memory, --cpus and --pids flags that 08-cgroup and
// can share ("" for a flag not given). A limit asked for is never dropped: a
// value that cannot be set, or could never work, is refused in one line naming
// the flag, the value and the range.
func ParseLimits(memory, cpus, pids string) (Limits, error) {
	var l Limits
	var err error
	if memory != "" {
		if l.Memory, err = ParseSize(memory); err != nil {
			return l, fmt.Errorf("--memory: %w", err)
		}
		if l.Memory < MinMemory {
			return l, fmt.Errorf("--memory %s: the minimum memory limit allowed is %s, as in Docker: less and CMD is OOM-killed before it starts", memory, FormatSize(MinMemory))
		}
	}
	if cpus != "" {
		if l.CPUs, err = ParseCPUs(cpus); err != nil {
			return l, fmt.Errorf("--cpus: %w", err)
		}
		// Docker's range (cpuRange); 0, no limit to Validate, is refused
		// here: a flag given asks for a limit.
		if why := cpuRange(l.CPUs); why != "" {
			return l, fmt.Errorf("--cpus %s: %s", cpus, why)
		}
	}
	if pids != "" {
		if l.Pids, err = strconv.ParseInt(pids, 10, 64); err != nil || l.Pids <= 0 {
			return l, fmt.Errorf("--pids %q: give a whole number of processes from 1 up", pids)
		}
	}
	return l, l.Validate()
}
