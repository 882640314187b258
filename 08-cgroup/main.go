// Command 08-cgroup runs a command with limits on what it may use (memory, CPU
// time, number of processes) that the kernel enforces through a control group
// (cgroups(7)), in new PID and mount namespaces as 05-pid does.
//
//	sudo 08-cgroup --memory 8M --cpus 0.5 --pids 16 --stats sh
package main

import (
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"math"
	"math/rand"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"tincan.dev/pkg/cgroup"
	"tincan.dev/pkg/reexec"
	"tincan.dev/pkg/step"
	"tincan.dev/pkg/trace"
)

var (
	memory = flag.String("memory", "", "memory limit, swap included: bytes, or with K, M, G (512K, 8M, 1g)")
	cpus   = flag.String("cpus", "", "CPU limit, in CPUs: 0.5 is half of one CPU's time")
	pids   = flag.String("pids", "", "most processes (and threads) alive at once")
	stats  = flag.Bool("stats", false, "when CMD ends, print the CPU time and peak memory it used")
)

func main() {
	step.Main("08-cgroup", "[--memory SIZE] [--cpus N] [--pids N] [--stats] [--] [CMD [ARG...]]", parent, child)
}

// parent runs on the host: it makes the cgroup, puts the child in it while
// the child waits, and reports what CMD used.
func parent(cmd *reexec.Cmd) (code int, err error) {
	limits, err := cgroup.ParseLimits(*memory, *cpus, *pids)
	if err != nil {
		return 0, err
	}
	id := fmt.Sprintf("08-cgroup-%08x", rand.Uint32())
	// Whatever happens, kill what is left inside and remove the cgroup.
	defer func() { err = errors.Join(err, destroy(id)) }()
	dirs, err := makeCgroup(id, limits)
	if err != nil {
		return 0, err
	}
	pidsMax, err := setLimits(dirs, limits)
	if err != nil {
		return 0, err
	}
	cmd.SysProcAttr.Cloneflags = unix.CLONE_NEWPID | unix.CLONE_NEWNS
	if pidsMax != nil {
		defer pidsMax.Close()
		cmd.ExtraFiles = []*os.File{pidsMax} // the child's fd 5
	}
	if err := cmd.Start(); err != nil {
		return 0, err
	}
	// exercise: the child waits on its sync pipe: put it in the cgroup now, before CMD exists, by writing its PID (cmd.Pid) into cgroup.procs in each of the cgroup's directories (trace.WriteFile; on failure cmd.Abort), see "Creating cgroups and moving processes" in cgroups(7)
	// Writing a PID into cgroup.procs moves that process into the
	// cgroup, and what it forks from then on is born there. The child
	// waits on its sync pipe: it joins before CMD exists, so CMD and
	// everything it forks are inside from their first instruction.
	for _, dir := range unique(dirs) {
		if err := trace.WriteFile(filepath.Join(dir, "cgroup.procs"), strconv.Itoa(cmd.Pid)); err != nil {
			cmd.Abort()
			return 0, err
		}
	}
	// end exercise
	start := time.Now()
	code, err = cmd.ContinueAndWait()
	if err != nil {
		return 0, err
	}
	cg, err := cgroup.Open(id)
	if err != nil {
		return 0, err
	}
	st, err := cg.Result()
	if err != nil {
		return 0, err
	}
	report(code, st, time.Since(start), limits)
	return code, nil
}

// controllers are the ones this step uses: memory, cpu and pids for the
// limits, and cpuacct, which counts the CPU time --stats reports on cgroup
// v1 (v2 counts it in every cgroup).
var controllers = []string{"memory", "cpu", "cpuacct", "pids"}

// makeCgroup makes the cgroup id and returns the directory that holds each
// controller's files. A cgroup is a directory: mkdir(2) in a cgroup
// filesystem makes one, and the kernel fills it with the files of that
// hierarchy's controllers (cgroups(7)). cgroup v2 is one tree, so one
// directory; v1 has a tree per controller (or pair, as cpu,cpuacct), so one
// directory in each. A machine may have both ("hybrid"); pkg/cgroup's Detect
// finds where each is mounted.
func makeCgroup(id string, limits cgroup.Limits) (map[string]string, error) {
	layout, err := cgroup.Detect()
	if err != nil {
		return nil, err
	}
	if os.Geteuid() != 0 {
		// Without root, only in a cgroup v2 subtree that root delegated
		// to us (systemd's Delegate=yes) by chown(2): Delegated finds
		// ours, or says in one line what is missing. Its Unified is our
		// delegated cgroup, and holds our tincan/ (pkg/cgroup/delegate.go).
		if layout, err = layout.Delegated(limits); err != nil {
			return nil, err
		}
	}
	dirs := map[string]string{}
	if layout.Unified != "" {
		// The v2 tree holds controllers only where the v1 trees do not
		// (cgroup.controllers lists them). With none, as on a hybrid
		// machine, it still tracks the processes, and gives cgroup.kill.
		b, err := os.ReadFile(filepath.Join(layout.Unified, "cgroup.controllers"))
		if err != nil {
			return nil, err
		}
		var here []string
		for _, c := range strings.Fields(string(b)) {
			if slices.Contains(controllers, c) {
				here = append(here, c)
			}
		}
		dir, err := mkdirIn(layout.Unified, id, here)
		if err != nil {
			return nil, err
		}
		dirs[""] = dir // the v2 directory, whatever it controls
		for _, c := range here {
			dirs[c] = dir
		}
	}
	for _, c := range controllers {
		if mnt := layout.V1[c]; mnt != "" && dirs[c] == "" {
			dir, err := mkdirIn(mnt, id, nil)
			if err != nil {
				return nil, err
			}
			dirs[c] = dir
		}
	}
	return dirs, nil
}

// mkdirIn makes the cgroup tree/tincan/id, and tree/tincan if it is
// missing: in its own directory at the top, never under our own cgroup,
// which a service manager may own (without root, tree is the cgroup
// delegated to us, and our processes have left it). On v2 the files of a controller appear in
// a cgroup only when its parent enables the controller in
// cgroup.subtree_control, and only a cgroup with no process may do so (the
// root excepted): tincan/ holds none. Another program's cleanup may remove
// tincan/, empty, between our two mkdirs: then we start again.
func mkdirIn(tree, id string, enable []string) (string, error) {
	parent := filepath.Join(tree, "tincan")
	dir := filepath.Join(parent, id)
	var err error
	for try := 1; try <= 3; try++ {
		err = trace.Mkdir(parent, 0o755)
		if errors.Is(err, fs.ErrExist) {
			err = nil
		}
		for _, d := range []string{tree, parent} {
			if err == nil && len(enable) > 0 {
				err = trace.WriteFile(filepath.Join(d, "cgroup.subtree_control"), "+"+strings.Join(enable, " +"))
			}
		}
		if err == nil {
			// exercise: make the cgroup: a mkdir(2) of dir (trace.Mkdir, mode 0o755) in the cgroup filesystem, into err; the kernel fills the new directory with the controllers' files, see "Creating cgroups and moving processes" in cgroups(7)
			err = trace.Mkdir(dir, 0o755)
			// end exercise
		}
		if !errors.Is(err, fs.ErrNotExist) && !errors.Is(err, unix.ENODEV) {
			break
		}
	}
	if errors.Is(err, fs.ErrPermission) {
		return "", fmt.Errorf("%w: making a cgroup, and so setting limits, needs root", err)
	}
	return dir, err
}

// setLimits writes the limits into the cgroup's files; v1 and v2 name them
// differently. A new cgroup has no limit ("max"). It returns pids.max, open,
// for the child to write the pids limit in: see child.
func setLimits(dirs map[string]string, l cgroup.Limits) (*os.File, error) {
	type limit struct {
		controller, file, value string
		optional                bool // only some kernels have the file
	}
	var writes []limit
	v2 := dirs["memory"] == dirs[""]
	if l.Memory > 0 {
		bytes := strconv.FormatInt(l.Memory, 10)
		if v2 {
			// Without swap.max 0, a cgroup at memory.max swaps instead of
			// being killed, and runs on, slowly, far past its limit.
			writes = append(writes, limit{"memory", "memory.max", bytes, false}, limit{"memory", "memory.swap.max", "0", true})
		} else {
			// memsw is memory plus swap. The kernel refuses it below
			// limit_in_bytes, so that goes first; it exists only with swap
			// accounting on.
			writes = append(writes, limit{"memory", "memory.limit_in_bytes", bytes, false},
				limit{"memory", "memory.memsw.limit_in_bytes", bytes, true})
		}
	}
	if l.CPUs > 0 {
		// A quota of CPU time in every period: --cpus 0.5 is 50ms of every 100ms.
		period := cgroup.Period.Microseconds()
		quota := int64(math.Round(l.CPUs * float64(period)))
		if dirs["cpu"] == dirs[""] {
			writes = append(writes, limit{"cpu", "cpu.max", fmt.Sprintf("%d %d", quota, period), false})
		} else {
			writes = append(writes, limit{"cpu", "cpu.cfs_period_us", strconv.FormatInt(period, 10), false},
				limit{"cpu", "cpu.cfs_quota_us", strconv.FormatInt(quota, 10), false})
		}
	}
	if l.Pids > 0 {
		writes = append(writes, limit{controller: "pids"}) // written by the child
	}
	for _, w := range writes {
		dir := dirs[w.controller]
		if dir == "" {
			return nil, fmt.Errorf("a %s limit was asked for, but this machine has no %[1]s controller (see make doctor)", w.controller)
		}
		path := filepath.Join(dir, w.file)
		if _, err := os.Stat(path); w.optional && err != nil || w.file == "" {
			continue
		}
		// exercise: set the limit: write w.value into its file, path (trace.WriteFile), as echo 67108864 > memory.max would; the file names are in cgroups(7) and the kernel's Documentation/admin-guide/cgroup-v2.rst (memory.max, cpu.max) or cgroup-v1/ (memory.limit_in_bytes, cpu.cfs_quota_us)
		if err := trace.WriteFile(path, w.value); err != nil {
			return nil, err
		}
		// end exercise
	}
	if l.Pids == 0 {
		return nil, nil
	}
	// pids.max counts threads as well as processes, and our child is a Go
	// program running several until it execs CMD: under --pids 2 its
	// runtime could not start them. So the child writes the limit itself,
	// right before execve, into this file we open for it: it may not be
	// allowed to open it, in a user namespace.
	return os.OpenFile(filepath.Join(dirs["pids"], "pids.max"), os.O_WRONLY|unix.O_CLOEXEC, 0)
}

// unique lists the cgroup's directories, each once.
func unique(dirs map[string]string) []string {
	var list []string
	for _, dir := range dirs {
		if !slices.Contains(list, dir) {
			list = append(list, dir)
		}
	}
	slices.Sort(list)
	return list
}

// destroy kills what is left in the cgroup and removes it, with pkg/cgroup,
// which finds it by its id: rmdir(2) takes only an empty cgroup.
func destroy(id string) error {
	cg, err := cgroup.Open(id)
	if errors.Is(err, fs.ErrNotExist) {
		// Never made; but makeCgroup may have made tincan/ for it before it
		// failed: rmdir(2) takes it only if it is empty, none other's.
		if layout, err := cgroup.Detect(); err == nil && os.Geteuid() == 0 {
			unix.Rmdir(filepath.Join(layout.Unified, "tincan"))
			for _, tree := range layout.V1 {
				unix.Rmdir(filepath.Join(tree, "tincan"))
			}
		}
		return nil
	}
	if err != nil {
		return err
	}
	return cg.Destroy()
}

// report says in words what the kernel did: an exit status of 137 alone does
// not tell an OOM kill from a kill -9.
func report(code int, st cgroup.Stats, wall time.Duration, l cgroup.Limits) {
	if st.OOMKilled {
		what := "killed by the OOM killer"
		if code != 128+int(unix.SIGKILL) {
			what = "the OOM killer killed a process inside"
		}
		fmt.Fprintf(os.Stderr, "08-cgroup: %s: memory limit %s reached\n", what, cgroup.FormatSize(l.Memory))
	}
	if st.PidsRefused > 0 {
		fmt.Fprintf(os.Stderr, "08-cgroup: pids limit %d reached: the kernel refused to fork\n", l.Pids)
	}
	if *stats {
		share := float64(st.CPUTime) / float64(wall) * 100
		fmt.Fprintf(os.Stderr, "08-cgroup: CPU time %.2fs in %.2fs (%.0f%% of one CPU), throttled %d times; memory peak %s\n",
			st.CPUTime.Seconds(), wall.Seconds(), share, st.Throttled, cgroup.FormatBytes(st.MemoryPeak))
	}
}

// child runs inside the new namespaces, already in the cgroup, then becomes CMD.
func child(args []string) error {
	// A /proc of the new PID namespace, as in 05-pid.
	if err := trace.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
		return err
	}
	if err := trace.Mount("proc", "/proc", "proc", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, ""); err != nil {
		return err
	}
	// The pids limit, last: the parent handed us pids.max as fd 5.
	if limits, _ := cgroup.ParseLimits("", "", *pids); limits.Pids > 0 {
		if err := trace.Write(os.NewFile(5, "the cgroup's pids.max"), strconv.FormatInt(limits.Pids, 10)); err != nil {
			return err
		}
	}
	return reexec.Exec(args)
}
