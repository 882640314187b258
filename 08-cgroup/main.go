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
	limits, err := cgroup.ParseLimits(*memory, *cpus, *pids)
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
	// pids.max counts threads, and our child is a Go program running several
	// until it execs CMD: under --pids 2 its runtime could not start them. So
	// the limit is lifted until then, and the child writes it back, through
	// this file, right before execve (see cgroup.PidsLater).
	pidsMax, err := cg.PidsLater()
	if err != nil {
		return 0, err
	}
	if pidsMax != nil {
		defer pidsMax.Close()
		cmd.ExtraFiles = []*os.File{pidsMax} // the child's fd 5
	}
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

// child runs inside the new namespaces, already in the cgroup, then becomes CMD.
func child(args []string) error {
	if err := mount.MakePrivate("/"); err != nil {
		return err
	}
	if err := mount.Proc("/proc"); err != nil {
		return err
	}
	if limits, _ := cgroup.ParseLimits("", "", *pids); limits.Pids > 0 {
		if err := cgroup.SetPids(os.NewFile(5, "the cgroup's pids.max"), limits.Pids); err != nil {
			return err
		}
	}
	return reexec.Exec(args)
}
