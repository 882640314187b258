// Package cgroup limits what a container may use (memory, CPU time, number of
// processes, devices) and tells afterwards what it used.
//
// A control group is a directory. mkdir(2) in a cgroup filesystem makes one;
// writing a PID to its cgroup.procs file moves that process, and every child
// it forks from then on, into it; writing to its other files sets limits the
// kernel enforces from then on; rmdir(2) removes it once it is empty
// (cgroups(7): https://man7.org/linux/man-pages/man7/cgroups.7.html).
//
// There are two versions, and a machine may run both at once (see Layout). The
// same limits, file by file:
//
//	                   v1: a hierarchy per controller          v2: one tree
//	memory limit       memory.limit_in_bytes                   memory.max
//	... swap included  memory.memsw.limit_in_bytes             memory.swap.max = 0
//	CPU limit          cpu.cfs_quota_us / cpu.cfs_period_us    cpu.max "quota period"
//	processes          pids.max                                pids.max
//	device allowlist   devices.deny "a", then devices.allow    a BPF program attached to the directory
//	OOM kills          memory.oom_control: oom_kill            memory.events: oom_kill
//	peak memory        memory.max_usage_in_bytes               memory.peak
//	CPU time           cpuacct.usage (ns)                      cpu.stat: usage_usec
//	kill them all      freezer.state FROZEN, kill, THAWED      cgroup.kill
//	controllers on     (always)                                cgroup.subtree_control of each ancestor
//
// Each cgroup is made at <hierarchy>/tincan/<id>, never under the caller's own
// cgroup (which a service manager may own), so that
// find /sys/fs/cgroup -name '*tincan*' lists every one left behind.
//
// Writes are traced as write(path, value): the path stands for the file
// descriptor open(2) returned for it.
package cgroup

import (
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"tincan.dev/pkg/trace"
)

// Limits is what a cgroup may use. A zero field sets no limit.
type Limits struct {
	Memory int64   // bytes of memory, swap included
	CPUs   float64 // CPUs' worth of time: 0.5 is half of one CPU
	Pids   int64   // processes (and threads) alive at once
	// Devices, when not nil, are the only device nodes the cgroup's
	// processes may open or make (devices.go); nil restricts none.
	Devices []DeviceRule `json:",omitempty"`
}

// Resources reports whether a memory, CPU or pids limit is set: those need
// the v1 controllers' hierarchies; devices alone need one directory.
func (l Limits) Resources() bool { return l.Memory > 0 || l.CPUs > 0 || l.Pids > 0 }

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
	}
	for _, r := range l.Devices {
		if err := r.validate(); err != nil {
			return err
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

// Stats is what a cgroup's processes used, read after they have exited.
type Stats struct {
	OOMKilled   bool          // the OOM killer killed a process here
	MemoryPeak  int64         // most bytes in use at once (0 if the kernel does not say)
	CPUTime     time.Duration // CPU time used, user and system, by all processes
	Throttled   int64         // periods in which the CPU quota ran out
	PidsRefused int64         // forks refused because of pids.max
}

// Cgroup is one control group: one directory in each hierarchy it needs.
type Cgroup struct {
	ID     string
	Limits Limits
	dirs   []dir
	born   bool // CloneInto placed the process in the v2 directory
}

// dir is the cgroup's directory in one hierarchy.
type dir struct {
	path        string
	v2          bool
	controllers []string // the controllers used in this hierarchy
}

// Paths lists the cgroup's directories, one per hierarchy.
func (cg *Cgroup) Paths() []string {
	var p []string
	for _, d := range cg.dirs {
		p = append(p, d.path)
	}
	return p
}

// New makes cgroup id on this machine's hierarchies with limits set.
func New(id string, limits Limits) (*Cgroup, error) {
	l, err := Detect()
	if err != nil {
		return nil, err
	}
	return l.New(id, limits)
}

// New makes cgroup id in the hierarchies of l, with limits set. Call Destroy
// when done, whether or not a process ever joined it.
func (l *Layout) New(id string, limits Limits) (*Cgroup, error) {
	if err := checkID(id); err != nil {
		return nil, err
	}
	if err := limits.Validate(); err != nil {
		return nil, err
	}
	dirs, err := l.plan(id, limits, false)
	if err != nil {
		return nil, err
	}
	cg := &Cgroup{ID: id, Limits: limits}
	for _, d := range dirs {
		if err = create(d); err != nil {
			break
		}
		cg.dirs = append(cg.dirs, d)
	}
	if err == nil {
		err = cg.setLimits()
	}
	if err == nil && limits.Devices != nil {
		err = cg.setDevices(limits.Devices)
	}
	if err != nil {
		cg.Destroy()
		return nil, err
	}
	return cg, nil
}

// Open finds cgroup id, made earlier by New in this or another process
// (say, by a runtime that died), so that Result, Kill and Destroy work on it.
// Its Limits read as zero: they are in the kernel's files, not remembered.
func Open(id string) (*Cgroup, error) {
	l, err := Detect()
	if err != nil {
		return nil, err
	}
	return l.Open(id)
}

// Open finds cgroup id in the hierarchies of l.
func (l *Layout) Open(id string) (*Cgroup, error) {
	if err := checkID(id); err != nil {
		return nil, err
	}
	dirs, err := l.plan(id, Limits{}, true)
	if err != nil {
		return nil, err
	}
	cg := &Cgroup{ID: id, dirs: existing(dirs)}
	if len(cg.dirs) == 0 {
		return nil, fmt.Errorf("cgroup %s: %w in any hierarchy", id, fs.ErrNotExist)
	}
	return cg, nil
}

// checkID refuses an id that is not one directory name.
func checkID(id string) error {
	if id == "" || id == "." || id == ".." || strings.Contains(id, "/") {
		return fmt.Errorf("cgroup id %q: must be a plain directory name", id)
	}
	return nil
}

// plan chooses a directory in each hierarchy the limits need; all of them
// (every hierarchy New may have used) when opening one made earlier.
//
// On cgroup2 that is one directory, which New always makes: it holds the
// device filter and cgroup.kill, and a process is cloned straight into it
// (CloneInto). v1 needs a directory per hierarchy, and a process joins each
// with its own write, which costs time. So a cgroup made for its device
// allowlist alone (a container with no limit) uses no v1 hierarchy where
// there is cgroup2, and only the freezer (to kill, see Kill) and devices
// where there is not; any other cgroup uses memory, cpu, cpuacct, pids and
// the freezer, to report what CMD used.
// On v1, cpuset is left out on purpose: a new v1 cpuset cgroup starts with no
// CPUs and no memory nodes, and no process can join it until both are set.
func (l *Layout) plan(id string, limits Limits, all bool) ([]dir, error) {
	var dirs []dir
	served := map[string]bool{}
	if l.Unified != "" {
		avail, err := os.ReadFile(filepath.Join(l.Unified, "cgroup.controllers"))
		if err != nil {
			return nil, err
		}
		d := dir{path: filepath.Join(l.Unified, "tincan", id), v2: true}
		for _, c := range strings.Fields(string(avail)) {
			if c == "memory" || c == "cpu" || c == "pids" {
				d.controllers = append(d.controllers, c)
				served[c] = true
			}
		}
		dirs = append(dirs, d)
	}
	var v1 []string
	switch onlyDevices := limits.Devices != nil && !limits.Resources(); {
	case all || !onlyDevices:
		v1 = append(v1, "memory", "cpu", "cpuacct", "pids", "freezer")
	case l.Unified == "":
		v1 = append(v1, "freezer")
	}
	if all || l.Unified == "" && limits.Devices != nil {
		v1 = append(v1, "devices")
	}
	inDir := map[string]int{} // v1 mount point -> index in dirs
	for _, c := range v1 {
		mnt := l.V1[c]
		if served[c] || mnt == "" {
			continue
		}
		served[c] = true
		if i, ok := inDir[mnt]; ok { // co-mounted, as in "cpu,cpuacct"
			dirs[i].controllers = append(dirs[i].controllers, c)
			continue
		}
		inDir[mnt] = len(dirs)
		dirs = append(dirs, dir{path: filepath.Join(mnt, "tincan", id), controllers: []string{c}})
	}
	for _, need := range []struct {
		controller string
		asked      bool
	}{{"memory", limits.Memory > 0}, {"cpu", limits.CPUs > 0}, {"pids", limits.Pids > 0},
		{"devices", limits.Devices != nil && l.Unified == ""}} {
		if need.asked && !served[need.controller] {
			where := "not mounted as cgroup v1"
			if l.Unified != "" {
				where = "not in " + filepath.Join(l.Unified, "cgroup.controllers") + ", " + where
			}
			return nil, fmt.Errorf("a %s limit was asked for, but this machine has no %[1]s controller (%s)", need.controller, where)
		}
	}
	if len(dirs) == 0 {
		return nil, fmt.Errorf("no cgroup hierarchy with a controller tincan uses is mounted under %s", Root)
	}
	return dirs, nil
}

// create makes d.path and, if needed, the tincan directory above it. On v2 a
// controller's files appear in a cgroup only when its parent lists the
// controller in cgroup.subtree_control, so each ancestor enables them on the
// way down. Another program's Destroy may remove the empty tincan directory
// between our two mkdirs: then we start again. (mkdir says ENOENT then; a
// write to the removed directory's cgroup.subtree_control, ENODEV.)
func create(d dir) error {
	parent := filepath.Dir(d.path)
	var err error
	for try := 1; ; try++ {
		err = mkdir(parent)
		if errors.Is(err, fs.ErrExist) {
			err = nil
		}
		if err == nil && d.v2 && len(d.controllers) > 0 {
			enable := "+" + strings.Join(d.controllers, " +")
			err = write(filepath.Join(filepath.Dir(parent), "cgroup.subtree_control"), enable)
			if err == nil {
				err = write(filepath.Join(parent, "cgroup.subtree_control"), enable)
			}
		}
		if err == nil {
			err = mkdir(d.path)
		}
		if !errors.Is(err, fs.ErrNotExist) && !errors.Is(err, unix.ENODEV) || try == 5 {
			break
		}
	}
	if err != nil {
		removeParent(d.path)
	}
	return err
}

func (cg *Cgroup) setLimits() error {
	l := cg.Limits
	if l.Memory > 0 {
		d, _ := cg.find("memory")
		bytes := strconv.FormatInt(l.Memory, 10)
		if d.v2 {
			// Without swap.max 0, a cgroup at memory.max swaps instead of
			// being killed, and runs on, slowly, far past its limit.
			if err := d.write("memory.max", bytes); err != nil {
				return err
			}
			if err := d.writeIfExists("memory.swap.max", "0"); err != nil {
				return err
			}
		} else {
			// memsw is memory plus swap; the kernel refuses it below
			// limit_in_bytes, so that one goes first. It exists only with
			// swap accounting on (CONFIG_MEMCG_SWAP, swapaccount=1).
			if err := d.write("memory.limit_in_bytes", bytes); err != nil {
				return err
			}
			if err := d.writeIfExists("memory.memsw.limit_in_bytes", bytes); err != nil {
				return err
			}
		}
	}
	if l.CPUs > 0 {
		d, _ := cg.find("cpu")
		q, period := strconv.FormatInt(quota(l.CPUs), 10), strconv.FormatInt(Period.Microseconds(), 10)
		if d.v2 {
			if err := d.write("cpu.max", q+" "+period); err != nil {
				return err
			}
		} else {
			if err := d.write("cpu.cfs_period_us", period); err != nil {
				return err
			}
			if err := d.write("cpu.cfs_quota_us", q); err != nil {
				return err
			}
		}
	}
	if l.Pids > 0 {
		d, _ := cg.find("pids")
		if err := d.write("pids.max", strconv.FormatInt(l.Pids, 10)); err != nil {
			return err
		}
	}
	return nil
}

// Join moves process pid into the cgroup, in every hierarchy; the children it
// forks are born inside. Do it while the process waits, before CMD runs a
// single instruction: memory it allocated before joining stays charged to
// its old cgroup, and a fork bomb could fork before it is caught.
func (cg *Cgroup) Join(pid int) error {
	for _, d := range cg.dirs {
		if d.v2 && cg.born {
			continue
		}
		if err := d.write("cgroup.procs", strconv.Itoa(pid)); err != nil {
			return err
		}
	}
	return nil
}

// PidsLater lifts the pids limit New wrote, and returns the cgroup's pids.max
// open for writing (nil when no pids limit is set), for the process about to
// become CMD to write the limit with SetPids right before execve(2).
//
// Why: pids.max counts threads as well as processes. A runtime written in Go
// starts CMD by re-executing itself (pkg/reexec), and that child runs several
// threads of the Go runtime until execve ends them all. Under a limit of 1 to
// 5 the runtime cannot start the threads it needs, and dies. Written by the
// child at the last moment, the limit holds from CMD's first instruction: no
// fork of CMD escapes it, and the child's own threads, briefly above it, are
// gone a moment later. Opened here, by the parent: the child may not see the
// cgroup filesystem after pivot_root, nor have the right to open it from a
// user namespace, but it can write to a file it was handed.
func (cg *Cgroup) PidsLater() (*os.File, error) {
	d, ok := cg.find("pids")
	if !ok || cg.Limits.Pids == 0 {
		return nil, nil
	}
	f, err := os.OpenFile(filepath.Join(d.path, "pids.max"), os.O_WRONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	if err := SetPids(f, 0); err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

// SetPids writes limit n (0: none, "max") to f, a pids.max PidsLater opened.
func SetPids(f *os.File, n int64) error {
	value := "max"
	if n > 0 {
		value = strconv.FormatInt(n, 10)
	}
	trace.Call("write(%d, %q), fd %[1]d being %[3]s", f.Fd(), value, f.Name())
	if _, err := f.WriteString(value); err != nil {
		return fmt.Errorf("write %q to %s: %w", value, f.Name(), unwrapPath(err))
	}
	return nil
}

// CloneInto makes the process that attr starts be born in the cgroup's v2
// directory: Go then clones it with clone3(2) and CLONE_INTO_CGROUP (Linux
// 5.7), and Join leaves the v2 directory alone. Moving a process later, by a
// write to cgroup.procs, takes a lock whose first writer waits for an RCU
// grace period: several milliseconds. v1 hierarchies still need Join. Close
// the returned file once the process has started.
func (cg *Cgroup) CloneInto(attr *syscall.SysProcAttr) (*os.File, error) {
	d, ok := cg.v2()
	if !ok {
		return nil, errors.New("clone into a cgroup: needs a cgroup v2 hierarchy")
	}
	f, err := os.OpenFile(d.path, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	trace.Call("open(%q, O_PATH|O_DIRECTORY|O_CLOEXEC) = %d, for clone3(CLONE_INTO_CGROUP)", d.path, f.Fd())
	attr.UseCgroupFD, attr.CgroupFD = true, int(f.Fd())
	cg.born = true
	return f, nil
}

// Result reads what the cgroup's processes used. Call it after they have
// exited, before Destroy.
func (cg *Cgroup) Result() (Stats, error) {
	var s Stats
	if d, ok := cg.find("memory"); ok {
		events, peak := "memory.oom_control", "memory.max_usage_in_bytes"
		if d.v2 {
			events, peak = "memory.events", "memory.peak" // memory.peak: Linux 5.19
		}
		kills, err := readKey(filepath.Join(d.path, events), "oom_kill")
		if err != nil {
			return s, err
		}
		s.OOMKilled = kills > 0
		s.MemoryPeak, _ = readInt(filepath.Join(d.path, peak))
	}
	// v2 counts CPU time in every cgroup, controller or not; v1 only in cpuacct.
	if d, ok := cg.find("cpuacct"); ok {
		ns, err := readInt(filepath.Join(d.path, "cpuacct.usage"))
		if err != nil {
			return s, err
		}
		s.CPUTime = time.Duration(ns)
	} else if d, ok := cg.v2(); ok {
		us, err := readKey(filepath.Join(d.path, "cpu.stat"), "usage_usec")
		if err != nil {
			return s, err
		}
		s.CPUTime = time.Duration(us) * time.Microsecond
	}
	if d, ok := cg.find("cpu"); ok {
		s.Throttled, _ = readKey(filepath.Join(d.path, "cpu.stat"), "nr_throttled")
	}
	if d, ok := cg.find("pids"); ok {
		s.PidsRefused, _ = readKey(filepath.Join(d.path, "pids.events"), "max")
	}
	return s, nil
}

// Destroy kills what is left in the cgroup, removes its directories and then
// each tincan directory above them that is left empty. It is safe to call
// twice, or on a cgroup another process has removed.
func (cg *Cgroup) Destroy() error {
	cg.dirs = existing(cg.dirs) // someone else may have been first
	if len(cg.dirs) == 0 {
		return nil
	}
	err := cg.Kill()
	for _, d := range cg.dirs {
		err = errors.Join(err, removeLeaf(d.path))
	}
	for _, d := range cg.dirs {
		removeParent(d.path)
	}
	cg.dirs = nil
	return err
}

// Kill sends SIGKILL to every process in the cgroup. Killing PIDs one by one
// from cgroup.procs races with fork: a child born after the list was read
// lives on. v2's cgroup.kill (Linux 5.14) kills them all inside the kernel; on
// v1 the freezer stops them all first, so none can fork while we kill.
func (cg *Cgroup) Kill() error {
	if d, ok := cg.v2(); ok && d.has("cgroup.kill") {
		return d.write("cgroup.kill", "1")
	}
	if d, ok := cg.find("freezer"); ok {
		err := freeze(d)
		_, kerr := killProcs(d.path) // frozen, they cannot fork; they die when thawed
		return errors.Join(err, kerr, d.write("freezer.state", "THAWED"))
	}
	// Nothing stops forks here: kill until none is left.
	for deadline := time.Now().Add(2 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		if n, err := killProcs(cg.dirs[0].path); n == 0 || err != nil {
			return err
		}
	}
	return fmt.Errorf("kill the processes of %s: some still run after 2s", cg.dirs[0].path)
}

// freeze stops every process of d (a v1 freezer cgroup) and waits until the
// kernel says all are stopped: freezer.state reads FREEZING until then.
func freeze(d dir) error {
	if err := d.write("freezer.state", "FROZEN"); err != nil {
		return err
	}
	for deadline := time.Now().Add(2 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		if b, err := os.ReadFile(filepath.Join(d.path, "freezer.state")); err != nil || strings.TrimSpace(string(b)) == "FROZEN" {
			return err
		}
	}
	return fmt.Errorf("freeze %s: still FREEZING after 2s", d.path)
}

// killProcs sends SIGKILL to each process listed in path/cgroup.procs, and
// says how many there were.
func killProcs(path string) (int, error) {
	b, err := os.ReadFile(filepath.Join(path, "cgroup.procs"))
	if err != nil {
		return 0, err
	}
	pids := strings.Fields(string(b))
	for _, p := range pids {
		if pid, err := strconv.Atoi(p); err == nil && pid > 0 {
			trace.Call("kill(%d, SIGKILL)", pid)
			unix.Kill(pid, unix.SIGKILL)
		}
	}
	return len(pids), nil
}

// existing keeps the dirs that are there.
func existing(dirs []dir) []dir {
	var out []dir
	for _, d := range dirs {
		if fi, err := os.Stat(d.path); err == nil && fi.IsDir() {
			out = append(out, d)
		}
	}
	return out
}

// find returns the directory where controller c is used.
func (cg *Cgroup) find(c string) (dir, bool) {
	for _, d := range cg.dirs {
		for _, have := range d.controllers {
			if have == c {
				return d, true
			}
		}
	}
	return dir{}, false
}

// v2 returns the directory in the unified hierarchy, if there is one.
func (cg *Cgroup) v2() (dir, bool) {
	for _, d := range cg.dirs {
		if d.v2 {
			return d, true
		}
	}
	return dir{}, false
}
