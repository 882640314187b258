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
//	pause (Freeze)     freezer.state FROZEN                    cgroup.freeze 1, then cgroup.events "frozen 1"
//	controllers on     (always)                                cgroup.subtree_control of each ancestor
//
// The limits an OCI config adds (shares, cpuset, swap, ...) are in limits.go.
//
// Each cgroup is made at <hierarchy>/tincan/<id>, or at the absolute
// cgroupsPath of an OCI config (NewAt, place.go), never under the caller's
// own cgroup (which a service manager may own), so that
// find /sys/fs/cgroup -name '*tincan*' lists every one can left behind.
// Without root, a user's cgroups go to the one place they may write: the
// cgroup v2 subtree delegated to them (delegate.go).
//
// Writes are traced as write(path, value): the path stands for the file
// descriptor open(2) returned for it.
package cgroup

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"tincan.dev/pkg/trace"
)

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
	ID string
	// Path is the cgroup's directory from the root of each hierarchy:
	// "/tincan/<id>", the cgroupsPath NewAt was given, or, without root,
	// "<the user's delegated cgroup>/tincan/<id>".
	Path   string
	Limits Limits
	// Made lists the directories above the cgroup's own that NewAt made, in
	// every hierarchy, the deepest first: Destroy removes each that is left
	// empty, and no other. OpenAt cannot know them; a caller that kept them
	// (can's state file) sets them back before Destroy.
	Made []string `json:",omitempty"`
	dirs []dir
	born bool // CloneInto placed the process in the v2 directory
	// delegated: made in a user's delegated subtree (Delegated), where
	// its tincan directory is removed when empty, as at the root.
	delegated bool
}

// dir is the cgroup's directory in one hierarchy.
type dir struct {
	path        string
	root        string // the hierarchy's mount point
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

// ProcsFiles opens cgroup.procs in every hierarchy, for a process that is
// not there yet to join by itself: writing "0" moves the writer
// (cgroups(7), "Creating cgroups and moving processes"). The container's
// PID 1, cloned from a thread of can, does that first of all (pkg/sysprog).
func (cg *Cgroup) ProcsFiles() ([]*os.File, error) {
	var files []*os.File
	for _, d := range cg.dirs {
		f, err := os.OpenFile(filepath.Join(d.path, "cgroup.procs"), os.O_WRONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			for _, f := range files {
				f.Close()
			}
			return nil, err
		}
		files = append(files, f)
	}
	return files, nil
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
// each directory above them that New made (tincan, or Made) and is left empty. It is safe to call
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
	if cg.Path == "/tincan/"+cg.ID || cg.delegated {
		for _, d := range cg.dirs {
			removeParent(d.path)
		}
	}
	removeMade(cg.Made)
	cg.dirs, cg.Made = nil, nil
	return err
}

// Kill sends SIGKILL to every process in the cgroup. Killing PIDs one by one
// from cgroup.procs races with fork: a child born after the list was read
// lives on. v2's cgroup.kill (Linux 5.14) kills them all inside the kernel; on
// v1 the freezer stops them all first, so none can fork while we kill.
func (cg *Cgroup) Kill() error {
	if d, ok := cg.v2(); ok && d.has("cgroup.kill") {
		err := d.write("cgroup.kill", "1")
		if f, ok := cg.find("freezer"); ok && err == nil {
			// A process frozen by the v1 freezer (Freeze, on a hybrid
			// machine) dies only once thawed.
			err = f.write("freezer.state", "THAWED")
		}
		return err
	}
	if d, ok := cg.find("freezer"); ok {
		// Nobody left means nobody to fork: an OCI delete after CMD ended
		// spares the freeze and thaw (a millisecond or two).
		if !busy(d.path) {
			return nil
		}
		err := freezeV1(d)
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
