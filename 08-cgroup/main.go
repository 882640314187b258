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
	"math/rand"
	"os"
	"strconv"
	"time"

	"golang.org/x/sys/unix"

	"tincan.dev/pkg/cgroup"
	"tincan.dev/pkg/mount"
	"tincan.dev/pkg/reexec"
	"tincan.dev/pkg/step"
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
	limits, err := parseLimits()
	if err != nil {
		return 0, err
	}
	cg, err := cgroup.New(fmt.Sprintf("08-cgroup-%08x", rand.Uint32()), limits)
	if err != nil {
		return 0, err
	}
	// Whatever happens, kill what is left inside and remove the cgroup.
	defer func() { err = errors.Join(err, cg.Destroy()) }()

	cmd.SysProcAttr.Cloneflags = unix.CLONE_NEWPID | unix.CLONE_NEWNS
	if err := cmd.Start(); err != nil {
		return 0, err
	}
	// exercise: the child waits on its sync pipe: put it in the cgroup now, before CMD exists (cg.Join with its PID; on failure cmd.Abort), see cgroups(7)
	// The child is blocked on its sync pipe: it joins before CMD exists, so
	// CMD and everything it forks are born inside the cgroup.
	if err := cg.Join(cmd.Pid); err != nil {
		cmd.Abort()
		return 0, err
	}
	// end exercise
	start := time.Now()
	code, err = cmd.ContinueAndWait()
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

// parseLimits reads the limit flags. A limit asked for is never dropped: a
// value that cannot be set is refused, naming it.
func parseLimits() (cgroup.Limits, error) {
	var l cgroup.Limits
	var err error
	if *memory != "" {
		if l.Memory, err = cgroup.ParseSize(*memory); err != nil {
			return l, fmt.Errorf("--memory: %w", err)
		}
		if l.Memory == 0 {
			return l, errors.New("--memory 0: give a size of at least one page, such as 4K")
		}
	}
	if *cpus != "" {
		if l.CPUs, err = cgroup.ParseCPUs(*cpus); err != nil {
			return l, fmt.Errorf("--cpus: %w", err)
		}
		if l.CPUs <= 0 {
			return l, fmt.Errorf("--cpus %s: give a number of CPUs from 0.01 up", *cpus)
		}
	}
	if *pids != "" {
		if l.Pids, err = strconv.ParseInt(*pids, 10, 64); err != nil || l.Pids <= 0 {
			return l, fmt.Errorf("--pids %q: give a whole number of processes from 1 up", *pids)
		}
	}
	return l, l.Validate()
}

// child runs inside the new namespaces, already in the cgroup, then becomes CMD.
func child(args []string) error {
	if err := mount.MakePrivate("/"); err != nil {
		return err
	}
	if err := mount.Proc("/proc"); err != nil {
		return err
	}
	return reexec.Exec(args)
}
