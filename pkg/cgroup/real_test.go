package cgroup

import (
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"tincan.dev/pkg/testenv"
)

// The privileged tests run in testenv's sandbox, which fails the run if a
// cgroup named tincan is left on the host.
func TestMain(m *testing.M) { testenv.Main(m) }

// realLayout is this machine's layout, for a test that needs the controllers
// named in need, v1 or v2 (skipped, with the reason, where one is missing:
// make vmtest runs them on a v2 host).
func realLayout(t *testing.T, need ...string) *Layout {
	t.Helper()
	testenv.NeedRoot(t)
	l, err := Detect()
	require.NoError(t, err)
	var v2 []string
	if l.Unified != "" {
		b, err := os.ReadFile(filepath.Join(l.Unified, "cgroup.controllers"))
		require.NoError(t, err)
		v2 = strings.Fields(string(b))
	}
	for _, c := range need {
		if l.V1[c] == "" && !slices.Contains(v2, c) {
			t.Skipf("no %s controller here, v1 or v2 (layout %s): the files are tested on a fake tree, and on v2 by make vmtest", c, l.Version())
		}
	}
	return l
}

// procPrefix starts d's line in /proc/PID/cgroup: "0::" on v2, the
// controller's name on v1 ("4:memory:/tincan/ID").
func procPrefix(d dir, controller string) string {
	if d.v2 {
		return "0::"
	}
	return controller
}

func testID() string { return fmt.Sprintf("tincan-test-%08x", rand.Uint32()) }

// newCgroup makes a cgroup that t.Cleanup destroys, and checks it is gone.
func newCgroup(t *testing.T, l *Layout, limits Limits) *Cgroup {
	t.Helper()
	cg, err := l.New(testID(), limits)
	require.NoError(t, err)
	paths := cg.Paths()
	t.Cleanup(func() {
		require.NoError(t, cg.Destroy())
		for _, p := range paths {
			require.NoDirExists(t, p)
		}
	})
	return cg
}

// startIn starts sh -c script with the process already in cg when script
// runs: sh first waits for a line on stdin, the way a container's child
// waits for "go" on its sync pipe.
func startIn(t *testing.T, cg *Cgroup, script string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command("sh", "-c", "read go; "+script)
	stdin, err := cmd.StdinPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	require.NoError(t, cg.Join(cmd.Process.Pid))
	_, err = io.WriteString(stdin, "go\n")
	require.NoError(t, err)
	return cmd
}

// inCgroup reports whether /proc/pid/cgroup puts pid in cg on hierarchy line
// prefix ("4:memory:" on v1, "0::" on v2).
func inCgroup(t *testing.T, pid int, prefix, id string) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", pid))
	require.NoError(t, err)
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, prefix) || strings.Contains(line, ":"+prefix+":") {
			return strings.HasSuffix(line, "/tincan/"+id)
		}
	}
	return false
}

// The demo of the "Linux Containers" guide (docs/ARCHITECTURE.md, Sources): a shell that keeps growing a variable is killed by the
// OOM killer at the limit, and the kernel counts it in oom_kill. (The v1
// memory.failcnt counts every time the limit was hit, reclaim or not: it is
// no evidence of a kill.)
func TestMemoryLimitOOMKill(t *testing.T) {
	l := realLayout(t, "memory")
	cg := newCgroup(t, l, Limits{Memory: 8 << 20})
	d, _ := cg.find("memory")
	if d.v2 {
		require.Equal(t, "8388608\n", readFile(t, filepath.Join(d.path, "memory.max")))
		if d.has("memory.swap.max") {
			require.Equal(t, "0\n", readFile(t, filepath.Join(d.path, "memory.swap.max")))
		}
	} else {
		require.Equal(t, "8388608\n", readFile(t, filepath.Join(d.path, "memory.limit_in_bytes")))
		if d.has("memory.memsw.limit_in_bytes") {
			require.Equal(t, "8388608\n", readFile(t, filepath.Join(d.path, "memory.memsw.limit_in_bytes")))
		}
	}
	cmd := startIn(t, cg, `x=$(head -c 67108864 /dev/zero | tr '\0' x); echo survived`)
	require.True(t, inCgroup(t, cmd.Process.Pid, procPrefix(d, "memory"), cg.ID))
	err := cmd.Wait()
	require.Error(t, err)
	ws := cmd.ProcessState.Sys().(syscall.WaitStatus)
	require.True(t, ws.Signaled() && ws.Signal() == syscall.SIGKILL, "sh was not killed: %v", err)
	st, err := cg.Result()
	require.NoError(t, err)
	require.True(t, st.OOMKilled, "oom_kill is 0 in memory.oom_control")
	require.Greater(t, st.MemoryPeak, int64(1<<20))
	require.LessOrEqual(t, st.MemoryPeak, int64(8<<20))
}

// A loop that starts processes hits pids.max, the kernel counts the refused
// forks, and Destroy (in Cleanup) kills the processes that did start: until
// it has, rmdir fails with EBUSY.
func TestPidsLimit(t *testing.T) {
	l := realLayout(t, "pids")
	cg := newCgroup(t, l, Limits{Pids: 4})
	d, _ := cg.find("pids")
	require.Equal(t, "4\n", readFile(t, filepath.Join(d.path, "pids.max")))
	startIn(t, cg, `for i in 1 2 3 4 5 6 7 8; do sleep 100 & done; wait`)
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(time.Millisecond) {
		st, err := cg.Result()
		require.NoError(t, err)
		if st.PidsRefused > 0 {
			break
		}
		require.True(t, time.Now().Before(deadline), "pids.events counted no refused fork")
	}
	n, err := readInt(filepath.Join(d.path, "pids.current"))
	require.NoError(t, err)
	require.LessOrEqual(t, n, int64(4))
	require.Greater(t, n, int64(1), "no sleep started at all")
}

// The quota is written as the kernel wants it, and the kernel applies it: a
// busy loop gets throttled. (How much CPU it gets is measured in
// BenchmarkCPUQuota and shown by 08-cgroup --stats; a test does not time.)
func TestCPUQuota(t *testing.T) {
	l := realLayout(t, "cpu")
	// Account: on v1 the CPU time is counted in cpuacct, which a cgroup
	// gets only with Account or when it shares cpu's hierarchy.
	cg := newCgroup(t, l, Limits{CPUs: 0.2, Account: true})
	d, _ := cg.find("cpu")
	if d.v2 {
		require.Equal(t, "20000 100000\n", readFile(t, filepath.Join(d.path, "cpu.max")))
	} else {
		require.Equal(t, "100000\n", readFile(t, filepath.Join(d.path, "cpu.cfs_period_us")))
		require.Equal(t, "20000\n", readFile(t, filepath.Join(d.path, "cpu.cfs_quota_us")))
	}
	startIn(t, cg, `while :; do :; done`)
	var st Stats
	for deadline := time.Now().Add(10 * time.Second); st.Throttled < 2; time.Sleep(10 * time.Millisecond) {
		require.True(t, time.Now().Before(deadline), "a busy loop under a 20%% quota was never throttled")
		var err error
		st, err = cg.Result()
		require.NoError(t, err)
	}
	require.Greater(t, st.CPUTime, time.Duration(0))
}

// Pure v1 (no unified hierarchy to offer cgroup.kill): Destroy freezes the
// cgroup, kills every process, thaws it, and removes it from every hierarchy.
func TestV1DestroyKillsWithFreezer(t *testing.T) {
	l := realLayout(t, "freezer", "memory", "pids")
	l = &Layout{V1: l.V1}
	cg := newCgroup(t, l, Limits{Memory: 1 << 30, Pids: 1000})
	cmd := startIn(t, cg, `sleep 100 & sleep 100 & wait`)
	waitProcs(t, cg, 3)
	for _, c := range []string{"memory", "pids", "freezer"} {
		require.True(t, inCgroup(t, cmd.Process.Pid, c, cg.ID), "not in the %s cgroup", c)
	}
	require.NoError(t, cg.Destroy())
	err := cmd.Wait()
	require.Equal(t, "signal: killed", fmt.Sprint(err))
}

// The unified hierarchy's core files work here even without controllers:
// cgroup.procs to join, cgroup.kill to end everything at once.
func TestUnifiedJoinAndKill(t *testing.T) {
	testenv.NeedRoot(t)
	l, err := Detect()
	require.NoError(t, err)
	if l.Unified == "" {
		t.Skip("no cgroup2 hierarchy mounted here")
	}
	l = &Layout{Unified: l.Unified}
	cg := newCgroup(t, l, Limits{})
	d, _ := cg.v2()
	if !d.has("cgroup.kill") {
		t.Skip("cgroup.kill needs Linux 5.14")
	}
	cmd := startIn(t, cg, `sleep 100 & sleep 100 & wait`)
	waitProcs(t, cg, 3)
	require.True(t, inCgroup(t, cmd.Process.Pid, "0::", cg.ID))
	require.NoError(t, cg.Destroy())
	require.Equal(t, "signal: killed", fmt.Sprint(cmd.Wait()))
}

// A runtime that died leaves its cgroup with processes in it: Open finds it
// by id, in every hierarchy, and Destroy cleans it up.
func TestOpenAndDestroyLeftovers(t *testing.T) {
	l := realLayout(t, "memory")
	made := newCgroup(t, l, Limits{Memory: 64 << 20})
	cmd := startIn(t, made, `sleep 100`)
	cg, err := l.Open(made.ID)
	require.NoError(t, err)
	require.Equal(t, made.Paths(), cg.Paths())
	require.NoError(t, cg.Destroy())
	require.Equal(t, "signal: killed", fmt.Sprint(cmd.Wait()))
	for _, p := range made.Paths() {
		require.NoDirExists(t, p)
	}
}

// unifiedOnly is this machine's cgroup2 hierarchy alone (skips without one).
func unifiedOnly(t testing.TB) *Layout {
	t.Helper()
	testenv.NeedRoot(t)
	l, err := Detect()
	require.NoError(t, err)
	if l.Unified == "" {
		t.Skip("no cgroup2 hierarchy mounted here")
	}
	return &Layout{Unified: l.Unified}
}

// With CloneInto the child is born in the v2 cgroup: its very first look at
// /proc/self/cgroup, with no Join at all, shows it there.
func TestCloneInto(t *testing.T) {
	cg := newCgroup(t, unifiedOnly(t), Limits{})
	cmd := exec.Command("cat", "/proc/self/cgroup")
	cmd.SysProcAttr = &syscall.SysProcAttr{}
	f, err := cg.CloneInto(cmd.SysProcAttr)
	require.NoError(t, err)
	out, err := cmd.Output()
	f.Close()
	require.NoError(t, err)
	require.Contains(t, string(out), "0::/tincan/"+cg.ID+"\n")
	_, err = (&Cgroup{}).CloneInto(&syscall.SysProcAttr{})
	require.EqualError(t, err, "clone into a cgroup: needs a cgroup v2 hierarchy")
}

// Joining by a write to cgroup.procs against being born in the cgroup, for a
// process that reads EOF and exits: the difference is the move's cost. Each
// start follows a pause, as a container's start does: back-to-back moves are
// cheap, because the lock stays in its slow mode for a grace period after a
// move.
func BenchmarkJoin(b *testing.B) {
	l := unifiedOnly(b)
	cg, err := l.New(testID(), Limits{})
	require.NoError(b, err)
	defer cg.Destroy()
	b.Run("cgroup.procs", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			pause(b)
			cmd := exec.Command("sh", "-c", "read go")
			stdin, _ := cmd.StdinPipe()
			require.NoError(b, cmd.Start())
			require.NoError(b, cg.Join(cmd.Process.Pid))
			stdin.Close()
			cmd.Wait()
		}
	})
	b.Run("CLONE_INTO_CGROUP", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			pause(b)
			cmd := exec.Command("sh", "-c", "read go")
			cmd.SysProcAttr = &syscall.SysProcAttr{}
			f, err := cg.CloneInto(cmd.SysProcAttr)
			require.NoError(b, err)
			stdin, _ := cmd.StdinPipe()
			require.NoError(b, cmd.Start())
			f.Close()
			stdin.Close()
			cmd.Wait()
		}
	})
}

func pause(b *testing.B) {
	b.StopTimer()
	time.Sleep(100 * time.Millisecond)
	b.StartTimer()
}

// Containers start and stop at the same time: one's Destroy removes the
// empty tincan directory while another's New is about to use it.
func TestConcurrentNewAndDestroy(t *testing.T) {
	l := realLayout(t, "pids")
	var wg sync.WaitGroup
	errs := make(chan error, 4*20)
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 20; i++ {
				cg, err := l.New(testID(), Limits{Pids: 8})
				if err == nil {
					err = cg.Destroy()
				}
				if err != nil {
					errs <- err
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// waitProcs polls until cg's first directory lists n processes.
func waitProcs(t *testing.T, cg *Cgroup, n int) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		b, err := os.ReadFile(filepath.Join(cg.dirs[0].path, "cgroup.procs"))
		require.NoError(t, err)
		if len(strings.Fields(string(b))) == n {
			return
		}
		require.True(t, time.Now().Before(deadline), "cgroup.procs never held %d processes: %q", n, b)
	}
}

// PidsLater lifts the limit New wrote and hands over pids.max; SetPids puts
// it back through that file, whose offset the first write moved on (the
// kernel takes each write whole, wherever the offset is).
func TestPidsLater(t *testing.T) {
	l := realLayout(t, "pids")
	cg := newCgroup(t, l, Limits{Pids: 1})
	d, _ := cg.find("pids")
	require.Equal(t, "1\n", readFile(t, filepath.Join(d.path, "pids.max")))
	f, err := cg.PidsLater()
	require.NoError(t, err)
	defer f.Close()
	require.Equal(t, "max\n", readFile(t, filepath.Join(d.path, "pids.max")))
	require.NoError(t, SetPids(f, 1))
	require.Equal(t, "1\n", readFile(t, filepath.Join(d.path, "pids.max")))
	none, err := (&Cgroup{}).PidsLater()
	require.NoError(t, err)
	require.Nil(t, none, "no pids limit, no file")
}
