package cgroup

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// newAt makes a cgroup at /tincan-test-…/abc, a cgroupsPath two levels deep
// that NewAt must make whole, and checks in Cleanup that both levels are
// gone from every hierarchy.
func newAt(t *testing.T, l *Layout, limits Limits) *Cgroup {
	t.Helper()
	cg, err := l.NewAt("/"+testID()+"/abc", "abc", limits)
	require.NoError(t, err)
	paths := cg.Paths()
	t.Cleanup(func() {
		require.NoError(t, cg.Destroy())
		for _, p := range paths {
			require.NoDirExists(t, p)
			require.NoDirExists(t, filepath.Dir(p))
		}
	})
	return cg
}

// A process joined to a cgroup at a cgroupsPath is there in every
// hierarchy; OpenAt finds the cgroup; Destroy (in Cleanup) removes the leaf
// and the parent NewAt made.
func TestNewAtPath(t *testing.T) {
	l := realLayout(t, "memory", "pids")
	cg := newAt(t, l, Limits{Pids: 8, Memory: 64 << 20})
	require.True(t, strings.HasPrefix(cg.Path, "/tincan-test-") && strings.HasSuffix(cg.Path, "/abc"), cg.Path)
	for _, d := range cg.dirs {
		require.Equal(t, filepath.Join(d.root, cg.Path), d.path)
		require.Contains(t, cg.Made, filepath.Dir(d.path), "NewAt made the parent in %s", d.root)
	}
	cmd := startIn(t, cg, "exec sleep 100")
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", cmd.Process.Pid))
	require.NoError(t, err)
	for _, d := range cg.dirs {
		line := "0::" + cg.Path + "\n" // cgroup2's line; a v1 line names its controllers
		if !d.v2 {
			line = ":" + strings.Join(d.controllers, ",") + ":" + cg.Path + "\n"
		}
		if d.v2 || slices.Contains(d.controllers, "memory") || slices.Contains(d.controllers, "pids") {
			require.Contains(t, string(b), line)
		}
	}
	opened, err := l.OpenAt(cg.Path)
	require.NoError(t, err)
	require.Equal(t, cg.Paths(), opened.Paths())
	pids, err := opened.Procs()
	require.NoError(t, err)
	require.Equal(t, []int{cmd.Process.Pid}, pids)
}

// Each new limit is written where the kernel reads it: read back from the
// kernel's own files (which it may spell differently: the weight of BFQ is
// "default 500").
func TestNewLimitsV1(t *testing.T) {
	l := realLayout(t, "memory", "cpu")
	cg := newAt(t, l, Limits{Memory: 64 << 20, MemorySwap: 96 << 20, MemoryReservation: 32 << 20, DisableOOMKiller: true,
		CPUShares: 512, CPUQuota: 30000, CPUPeriod: 60000, CPUs: 1})
	m, _ := cg.find("memory")
	c, _ := cg.find("cpu")
	if m.v2 {
		require.Equal(t, "67108864\n", readFile(t, filepath.Join(m.path, "memory.max")))
		require.Equal(t, "33554432\n", readFile(t, filepath.Join(m.path, "memory.low")))
		if m.has("memory.swap.max") {
			require.Equal(t, "33554432\n", readFile(t, filepath.Join(m.path, "memory.swap.max")))
		}
	} else {
		require.Equal(t, "67108864\n", readFile(t, filepath.Join(m.path, "memory.limit_in_bytes")))
		require.Equal(t, "33554432\n", readFile(t, filepath.Join(m.path, "memory.soft_limit_in_bytes")))
		require.Contains(t, readFile(t, filepath.Join(m.path, "memory.oom_control")), "oom_kill_disable 1\n")
		if m.has("memory.memsw.limit_in_bytes") {
			require.Equal(t, "100663296\n", readFile(t, filepath.Join(m.path, "memory.memsw.limit_in_bytes")))
		}
	}
	if c.v2 {
		require.Equal(t, "30000 60000\n", readFile(t, filepath.Join(c.path, "cpu.max")))
		require.Equal(t, "20\n", readFile(t, filepath.Join(c.path, "cpu.weight")))
	} else {
		require.Equal(t, "60000\n", readFile(t, filepath.Join(c.path, "cpu.cfs_period_us")))
		require.Equal(t, "30000\n", readFile(t, filepath.Join(c.path, "cpu.cfs_quota_us")))
		require.Equal(t, "512\n", readFile(t, filepath.Join(c.path, "cpu.shares")))
	}
	startIn(t, cg, "exec sleep 100") // the limits take a process
}

// The classic v1 trap: a new cpuset cgroup has no CPUs and no memory nodes,
// and a process cannot join it (ENOSPC) until both are set, in it and in
// each directory above it. NewAt copies them down the new parent, then
// writes the leaf's own.
func TestCpuset(t *testing.T) {
	l := realLayout(t, "cpuset")
	cg := newAt(t, l, Limits{CPUSetCPUs: "0", CPUSetMems: "0"})
	d, ok := cg.find("cpuset")
	require.True(t, ok)
	require.Equal(t, "0\n", readFile(t, filepath.Join(d.path, "cpuset.cpus")))
	require.Equal(t, "0\n", readFile(t, filepath.Join(d.path, "cpuset.mems")))
	if !d.v2 {
		parent := filepath.Dir(d.path)
		require.Equal(t, readFile(t, filepath.Join(d.root, "cpuset.cpus")), readFile(t, filepath.Join(parent, "cpuset.cpus")))
		require.Equal(t, readFile(t, filepath.Join(d.root, "cpuset.mems")), readFile(t, filepath.Join(parent, "cpuset.mems")))
	}
	cmd := startIn(t, cg, "exec sleep 100")
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", cmd.Process.Pid))
	require.NoError(t, err)
	require.Contains(t, string(b), "Cpus_allowed_list:\t0\n")
}

// The block I/O weight goes to the scheduler's file: BFQ's here.
func TestBlkioWeight(t *testing.T) {
	l := realLayout(t, "blkio")
	if l.V1["blkio"] == "" {
		t.Skip("blkio is not a v1 controller here: io.weight is checked on the fake tree")
	}
	probe := filepath.Join(l.V1["blkio"], "blkio.bfq.io_serviced")
	if _, err := os.Stat(probe); err != nil {
		t.Skip("no BFQ I/O scheduler here, so no weight file (modprobe bfq)")
	}
	cg := newAt(t, l, Limits{BlkioWeight: 500})
	d, _ := cg.find("blkio")
	name := "blkio.weight"
	if !d.has(name) {
		name = "blkio.bfq.weight"
	}
	require.Contains(t, readFile(t, filepath.Join(d.path, name)), "500\n")
}

// A deny rule after an allow takes access away on v1 too: /dev/null
// readable, not writable, as TestDeviceFilterV2Deny checks for the BPF
// program.
func TestDevicesV1Deny(t *testing.T) {
	l := realLayout(t, "devices", "freezer")
	rules := append(DefaultDevices[:len(DefaultDevices):len(DefaultDevices)], DeviceRule{'c', 1, 3, "w", false})
	cg := newCgroup(t, &Layout{V1: l.V1}, Limits{Devices: rules})
	d, _ := cg.find("devices")
	require.Contains(t, readFile(t, filepath.Join(d.path, "devices.list")), "c 1:3 rm\n")
	out := runIn(t, cg, "cat /dev/null && echo read ok; (echo x >/dev/null) 2>&1; exit 0")
	require.Regexp(t, "^read ok\n.*/dev/null: Operation not permitted\n$", out)
}

// procState is the state letter of /proc/pid/stat and the kernel function
// the process sleeps in (/proc/pid/wchan).
func procState(t *testing.T, pid int) (string, string) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	require.NoError(t, err)
	_, after, _ := strings.Cut(string(b), ") ")
	w, err := os.ReadFile(fmt.Sprintf("/proc/%d/wchan", pid))
	require.NoError(t, err)
	return after[:1], string(w)
}

// Freeze stops a real sleep, as the kernel says of it: a v1 frozen task
// sleeps in __refrigerator (state D since Linux 6.1), a cgroup2 frozen one
// in the signal code (get_signal's freezer trap); Thaw lets it go. Both
// freezers are tried where both exist: a cgroup with a v1 freezer
// directory uses it, a devices-only one on a hybrid machine the unified
// tree's cgroup.freeze.
func TestFreezeThaw(t *testing.T) {
	l := realLayout(t)
	layouts := map[string]*Layout{}
	if l.V1["freezer"] != "" {
		layouts["v1 freezer"] = &Layout{V1: l.V1}
	}
	if l.Unified != "" {
		layouts["cgroup.freeze"] = &Layout{Unified: l.Unified}
	}
	for name, l := range layouts {
		t.Run(name, func(t *testing.T) {
			cg := newCgroup(t, l, Limits{})
			fz, err := cg.freezer()
			require.NoError(t, err)
			if fz.v2 && !fz.has("cgroup.freeze") {
				t.Skip("cgroup.freeze needs Linux 5.2")
			}
			cmd := startIn(t, cg, "exec sleep 100")
			pid := cmd.Process.Pid
			waitProcs(t, cg, 1)
			pids, err := cg.Procs()
			require.NoError(t, err)
			require.Equal(t, []int{pid}, pids)

			require.NoError(t, cg.Freeze())
			frozen, err := cg.State()
			require.NoError(t, err)
			require.True(t, frozen)
			state, wchan := procState(t, pid)
			if fz.v2 {
				require.Contains(t, []string{"get_signal", "do_freezer_trap"}, wchan)
			} else {
				require.Equal(t, "__refrigerator", wchan)
				require.Equal(t, "D", state)
			}

			require.NoError(t, cg.Thaw())
			frozen, err = cg.State()
			require.NoError(t, err)
			require.False(t, frozen)
			_, wchan = procState(t, pid)
			require.NotContains(t, []string{"get_signal", "do_freezer_trap", "__refrigerator"}, wchan)

			// A frozen cgroup is destroyed too: its processes die once thawed.
			require.NoError(t, cg.Freeze())
			require.NoError(t, cg.Destroy())
			require.Equal(t, "signal: killed", fmt.Sprint(cmd.Wait()))
		})
	}
}
