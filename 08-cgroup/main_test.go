package main

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"tincan.dev/pkg/cgroup"
	"tincan.dev/pkg/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m, ".") }

// ourCgroups lists the cgroups 08-cgroup made (and left), on every hierarchy.
func ourCgroups() []string {
	dirs, _ := filepath.Glob("/sys/fs/cgroup/*/tincan/08-cgroup-*")
	v2, _ := filepath.Glob("/sys/fs/cgroup/tincan/08-cgroup-*")
	return append(dirs, v2...)
}

func requireNoCgroups(t *testing.T) {
	t.Helper()
	require.Empty(t, ourCgroups(), "08-cgroup left its cgroup behind")
}

// The kernel's view of the cgroup, while CMD runs: the cgroup's directory
// exists, its files hold the limits, and CMD is in it.
func TestCgroupHoldsTheLimits(t *testing.T) {
	testenv.NeedRoot(t)
	testenv.Verdict(t, "--memory 64M --cpus 0.5 --pids 16: the cgroup's files hold the limits, and CMD is in it", "")
	cmd := testenv.Command("08-cgroup", "--memory", "64M", "--cpus", "0.5", "--pids", "16", "sh", "-c", "cat /proc/self/cgroup; echo ready; read line; exit 0")
	stdin, err := cmd.StdinPipe()
	require.NoError(t, err)
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	require.NoError(t, cmd.Start())
	t.Cleanup(func() { kill(t, cmd) })
	var self []string
	for sc := bufio.NewScanner(stdout); sc.Scan() && sc.Text() != "ready"; {
		self = append(self, sc.Text())
	}
	if len(self) == 0 {
		stdin.Close()
		cmd.Wait()
		testenv.Fail(t, "08-cgroup did not run CMD: %s\nis the cgroup made, a mkdir(2) of its directory, before its limits are written? (cgroups(7))",
			strings.TrimSpace(stderr.String()))
	}
	// The cgroup's id: the one CMD names, else the one there is.
	var id string
	if m := regexp.MustCompile(`/tincan/(08-cgroup-[0-9a-f]{8})\n`).FindStringSubmatch(strings.Join(self, "\n") + "\n"); m != nil {
		id = m[1]
	} else if dirs := ourCgroups(); len(dirs) > 0 {
		id = filepath.Base(dirs[0])
	}
	testenv.Check(t, id != "", "no cgroup tincan/08-cgroup-* while CMD runs: mkdir(2) it in each hierarchy (cgroups(7))")
	// read returns the first of files found in the cgroup, on any hierarchy.
	read := func(files ...string) string {
		for _, f := range files {
			for _, glob := range []string{"/sys/fs/cgroup/*/tincan/" + id + "/" + f, "/sys/fs/cgroup/tincan/" + id + "/" + f} {
				paths, _ := filepath.Glob(glob)
				for _, p := range paths {
					if b, err := os.ReadFile(p); err == nil {
						return strings.TrimSpace(string(b))
					}
				}
			}
		}
		return "(no such file)"
	}
	mem := read("memory.max", "memory.limit_in_bytes")
	testenv.Check(t, mem == "67108864", "the cgroup's memory limit is %s, not 67108864 (64M): "+
		"write it into memory.max (cgroup v2) or memory.limit_in_bytes (v1), see cgroups(7)", mem)
	cpu := read("cpu.max", "cpu.cfs_quota_us")
	testenv.Check(t, cpu == "50000 100000" || cpu == "50000", "the cgroup's CPU quota is %s, not 50000 of every 100000 microseconds: "+
		"write it into cpu.max (cgroup v2) or cpu.cfs_period_us and cpu.cfs_quota_us (v1), see cgroups(7)", cpu)
	procs := read("cgroup.procs")
	testenv.Check(t, strings.Contains(strings.Join(self, "\n"), "/tincan/"+id),
		"CMD is not in the cgroup: write the waiting child's PID into cgroup.procs before letting it go (cgroups(7))\n"+
			"cgroup.procs holds: %s", procs)
	testenv.Check(t, read("pids.max") == "16", "the cgroup's pids.max is %s, not 16", read("pids.max"))
	stdin.Close()
	require.NoError(t, cmd.Wait(), stderr.String())
	requireNoCgroups(t)
}

// CMD is in the cgroup from its first instruction, on every hierarchy: what
// it reads first, /proc/self/cgroup, already names it.
func TestJoinedBeforeExec(t *testing.T) {
	testenv.NeedRoot(t)
	testenv.Verdict(t, "CMD is in the cgroup from its first instruction, on every hierarchy it limits", "")
	r := testenv.RunArgs(t, "08-cgroup", "--memory", "64M", "cat", "/proc/self/cgroup")
	testenv.CheckRan(t, r, 0)
	id := regexp.MustCompile(`/tincan/(08-cgroup-[0-9a-f]{8})\n`).FindStringSubmatch(r.Stdout)
	testenv.Check(t, id != nil, "CMD is not in the cgroup: write the waiting child's PID into cgroup.procs before letting it go (cgroups(7))\n%s", r.Stdout)
	for _, line := range strings.Split(strings.TrimSpace(r.Stdout), "\n") {
		hier := strings.Split(line, ":")[1]
		if hier == "cpuset" || hier == "devices" || hier == "blkio" || hier == "freezer" || hier == "name=systemd" {
			continue // hierarchies 08-cgroup does not use
		}
		testenv.Check(t, strings.HasSuffix(line, "/tincan/"+id[1]),
			"CMD is not in the cgroup on the %s hierarchy: write its PID into cgroup.procs in each of the cgroup's directories (cgroups(7))\n%s", hier, line)
	}
	requireNoCgroups(t)
}

// The cgroup is gone after a normal exit, a failed start and a killed child.
func TestCgroupRemoved(t *testing.T) {
	testenv.NeedRoot(t)
	testenv.Verdict(t, "the cgroup is removed after a normal exit, a failed start and a killed child", "")
	for _, tc := range []struct {
		args []string
		code int
	}{
		{[]string{"true"}, 0},
		{[]string{"nosuch"}, 127},
		{[]string{"sh", "-c", "sh -c 'kill -KILL $$'; exit $?"}, 137},
	} {
		r := testenv.RunArgs(t, "08-cgroup", append([]string{"--pids", "8"}, tc.args...)...)
		require.Equal(t, tc.code, r.Code, "%v: %s", tc.args, r.Stderr)
		requireNoCgroups(t)
	}
}

// pids.max counts threads, and the child is a Go program with several until
// it execs CMD: a low limit must hold CMD alone, and never crash the child's
// runtime ("failed to create new OS thread", exit 2).
func TestLowPidsLimit(t *testing.T) {
	testenv.NeedRoot(t)
	r := testenv.RunArgs(t, "08-cgroup", "--pids", "1", "true")
	require.Equal(t, 0, r.Code, r.Stderr)
	require.Empty(t, r.Stderr)
	r = testenv.RunArgs(t, "08-cgroup", "--pids", "3", "sh", "-c", "sleep 0 & sleep 0 & wait")
	require.Equal(t, 0, r.Code, r.Stderr)
	require.Empty(t, r.Stderr)
	r = testenv.RunArgs(t, "08-cgroup", "--pids", "2", "sh", "-c", "sleep 0 & sleep 0 & wait")
	require.Equal(t, 2, r.Code, r.Stderr)
	require.Regexp(t, "^sh: .*[Ff]ork.*\n08-cgroup: pids limit 2 reached: the kernel refused to fork\n$", r.Stderr)
	requireNoCgroups(t)
}

// A container killed from the host, by its PID in cgroup.procs.
func TestKilledFromOutside(t *testing.T) {
	testenv.NeedRoot(t)
	testenv.Verdict(t, "a container killed from the host, by its PID in cgroup.procs, leaves no cgroup", "")
	cmd := testenv.Command("08-cgroup", "sleep", "100")
	require.NoError(t, cmd.Start())
	t.Cleanup(func() { kill(t, cmd) })
	pid := waitForPid(t)
	// The child is in the cgroup before it execs sleep: killed before, it
	// is a failed start (125), not a killed command.
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		if comm, _ := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid)); string(comm) == "sleep\n" {
			break
		}
		require.True(t, time.Now().Before(deadline), "pid %d never became sleep", pid)
	}
	require.NoError(t, syscall.Kill(pid, syscall.SIGKILL))
	err := cmd.Wait()
	require.Equal(t, 137, cmd.ProcessState.ExitCode(), "%v", err)
	requireNoCgroups(t)
}

// kill ends an 08-cgroup that a failed test left running. SIGKILL gives it
// no chance to remove its cgroup, so the test does it, as a runtime's
// cleanup would after a crash: cgroup.Open finds it by id, Destroy kills what
// is inside and removes it.
func kill(t *testing.T, cmd *exec.Cmd) {
	cmd.Process.Kill()
	cmd.Wait()
	for _, dir := range ourCgroups() {
		if cg, err := cgroup.Open(filepath.Base(dir)); err == nil {
			require.NoError(t, cg.Destroy())
		}
	}
}

// waitForPid returns the PID of the (one) process in 08-cgroup's cgroup.
func waitForPid(t *testing.T) int {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		for _, dir := range ourCgroups() {
			b, _ := os.ReadFile(filepath.Join(dir, "cgroup.procs"))
			if pid, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil {
				return pid
			}
		}
	}
	t.Fatal("no process showed up in an 08-cgroup cgroup")
	return 0
}

// The fork bomb: while it runs, its pids.current never passes 16, the limit
// is hit, and the host still forks.
func TestForkBombContained(t *testing.T) {
	testenv.NeedRoot(t)
	testenv.Verdict(t, "--pids 16 holds a fork bomb at 16 processes; the host still forks",
		"the fork bomb is not held at --pids 16: is the child in the cgroup before CMD starts?")
	cmd := testenv.Command("08-cgroup", "--pids", "16", "sh", "testdata/forkbomb.sh")
	out := &strings.Builder{}
	cmd.Stderr = out
	require.NoError(t, cmd.Start())
	t.Cleanup(func() { kill(t, cmd) })
	var events string
	for deadline := time.Now().Add(5 * time.Second); !strings.HasPrefix(events, "max ") || events == "max 0"; time.Sleep(time.Millisecond) {
		require.True(t, time.Now().Before(deadline), "the fork bomb never hit pids.max")
		dirs, _ := filepath.Glob("/sys/fs/cgroup/*/tincan/08-cgroup-*/pids.current")
		if len(dirs) == 0 {
			dirs, _ = filepath.Glob("/sys/fs/cgroup/tincan/08-cgroup-*/pids.current")
		}
		if len(dirs) != 1 {
			continue
		}
		n, err := os.ReadFile(dirs[0])
		if err != nil {
			continue
		}
		cur, err := strconv.Atoi(strings.TrimSpace(string(n)))
		require.NoError(t, err)
		require.LessOrEqual(t, cur, 16)
		b, _ := os.ReadFile(filepath.Join(filepath.Dir(dirs[0]), "pids.events"))
		events = strings.TrimSpace(string(b))
	}
	require.NoError(t, exec.Command("true").Run(), "the host cannot fork during the bomb")
	require.NoError(t, cmd.Wait(), out.String())
	require.Equal(t, "08-cgroup: pids limit 16 reached: the kernel refused to fork\n", out.String())
	requireNoCgroups(t)
}

var statsLine = regexp.MustCompile(`^08-cgroup: CPU time ([0-9.]+)s in ([0-9.]+)s \((\d+)% of one CPU\), throttled (\d+) times; memory peak .*\n$`)

// A busy loop under --cpus 0.2 is throttled, and gets no more than its
// quota: at most 20% of one CPU (with room for rounding), however free the
// machine. How close to 20% it gets depends on the load: see the benchmark.
func TestCPUQuota(t *testing.T) {
	testenv.NeedRoot(t)
	testenv.Verdict(t, "--cpus 0.2 throttles a busy loop to a fifth of one CPU", "")
	r := testenv.RunArgs(t, "08-cgroup", "--cpus", "0.2", "--stats", "timeout", "1", "sh", "-c", "while :; do :; done")
	require.Equal(t, 124, r.Code, r.Stderr)
	m := statsLine.FindStringSubmatch(r.Stderr)
	require.NotNil(t, m, "no stats line: %q", r.Stderr)
	cpu, _ := strconv.ParseFloat(m[1], 64)
	wall, _ := strconv.ParseFloat(m[2], 64)
	throttled, _ := strconv.Atoi(m[4])
	testenv.Check(t, throttled > 0, "--cpus 0.2 does not throttle a busy loop: write the quota into the cgroup's cpu.max (v2) or cpu.cfs_quota_us (v1), see cgroups(7)")
	require.Greater(t, cpu, 0.0)
	require.LessOrEqual(t, cpu/wall, 0.25, r.Stderr)
	requireNoCgroups(t)
}

// Without root, and without a cgroup delegated to the user (the tests'
// own is root's), no cgroup can be made, so a limit cannot be set: one line
// says what is missing and how to get it, exit 125, and CMD does not run.
func TestRootlessRefused(t *testing.T) {
	cmd := testenv.Command("08-cgroup", "--memory", "8M", "echo", "ran")
	testenv.AsNobody(t, cmd)
	r := testenv.Run(t, cmd)
	require.Equal(t, 125, r.Code, r.Stderr)
	require.Empty(t, r.Stdout)
	var lines []string
	for _, l := range strings.Split(strings.TrimSpace(r.Stderr), "\n") {
		if l != "08-cgroup: not root: also creating a user namespace, see 06-user" { // printed by pkg/step
			lines = append(lines, l)
		}
	}
	require.Len(t, lines, 1, r.Stderr)
	layout, err := cgroup.Detect()
	require.NoError(t, err)
	if layout.Version() == "v2" {
		require.Regexp(t, `^08-cgroup: a memory limit without root needs a cgroup delegated to you, and yours \(/.*\) is not: cgroup.procs is not yours to write; `+
			`run in one of your own, systemd-run --user --scope -p Delegate=yes 08-cgroup \.\.\., or as root$`, lines[0])
	} else {
		require.Regexp(t, `^08-cgroup: a memory limit without root needs cgroup v2, and memory is a v1 controller here \((hybrid|v1)\), which is never delegated to a user: run as root$`, lines[0])
	}
}

// In a cgroup v2 subtree delegated to the user, as systemd's Delegate=yes
// makes one, the limits work without root: the cgroup is made there, under
// tincan/, CMD runs in it with its limits, the OOM killer is reported, and
// it is removed after.
func TestRootlessDelegated(t *testing.T) {
	dir := testenv.Delegate(t)
	run := func(args ...string) testenv.Result {
		cmd := testenv.Command("08-cgroup", args...)
		testenv.InCgroup(t, cmd, dir)
		return testenv.RunAsNobody(t, cmd)
	}
	r := run("--memory", "32M", "--pids", "16", "sh", "-c", `cg=$(sed -n 's/^0:://p' /proc/self/cgroup); echo $cg; cat /sys/fs/cgroup$cg/memory.max /sys/fs/cgroup$cg/pids.max`)
	require.Equal(t, 0, r.Code, r.Stderr)
	require.Regexp(t, `^/`+filepath.Base(dir)+`/tincan/08-cgroup-[0-9a-f]{8}\n33554432\n16\n$`, r.Stdout)
	// 08-cgroup moved itself out of the delegated cgroup, to enable
	// controllers there, and removed its own when done.
	require.DirExists(t, filepath.Join(dir, cgroup.InitGroup))
	require.NoDirExists(t, filepath.Join(dir, "tincan"))

	// The next command starts where the first moved its caller, as a
	// shell's next one would: the delegated cgroup, which now enables
	// controllers for its children, may hold no process itself.
	dir = filepath.Join(dir, cgroup.InitGroup)
	r = run("--memory", "8M", "sh", "-c", "x=a; while true; do x=$x$x; done")
	require.Equal(t, 137, r.Code, r.Stderr)
	require.Contains(t, r.Stderr, "08-cgroup: killed by the OOM killer: memory limit 8 MiB reached")
	require.NoDirExists(t, filepath.Join(filepath.Dir(dir), "tincan"))
}

// Starting a container with limits: the cost of the cgroup, on top of
// 05-pid's namespaces. Compare with -bench . -benchtime 50x.
func BenchmarkRun(b *testing.B) {
	testenv.NeedRoot(b)
	for _, args := range [][]string{{"true"}, {"--memory", "64M", "--cpus", "1", "--pids", "64", "true"}} {
		b.Run(strings.Join(args, " "), func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				if r := testenv.RunArgs(b, "08-cgroup", args...); r.Code != 0 {
					b.Fatal(r.Stderr)
				}
			}
		})
	}
}

// The transcripts run after the kernel-view tests: with make check's
// -failfast, a missing call is named by those, not by a transcript's diff.
func TestTranscripts(t *testing.T) {
	testenv.NeedRoot(t)
	testdata, err := filepath.Abs("testdata")
	require.NoError(t, err)
	t.Setenv("TESTDATA", testdata)
	testenv.Transcripts(t, "08-cgroup")
	requireNoCgroups(t)
}

func TestREADMEShowsTranscripts(t *testing.T) {
	testenv.DocumentedTranscripts(t, "README.md")
}
