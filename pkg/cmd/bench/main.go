// Command bench times how long runtimes take to start a container that runs
// /bin/true, side by side in one run on one busybox root filesystem: can
// (hardened, as it runs by default; with limits; on a bridge; and through
// its OCI command line), runc and crun on an OCI bundle generated here (crun
// also with can's three limits, for what limits cost each on cgroup v1),
// bwrap --unshare-all, bwrap given what it can take of can's hardening,
// unshare -pfmiun (the floor: namespaces, no root filesystem work), the Go
// floor (floor.go: a container from one Go process) and plain /bin/true.
//
// It prints one table, each median as a ratio to crun's and to bwrap's from
// the same run, with the page faults of a start, and what a page fault and a
// system call cost on this machine; then a throughput table (N starts at
// once, as xargs -P N does; can with and without --net bridge), can's peak
// RSS (under GNU time) and what the can process holds while its container
// runs. A runtime that is not installed is skipped, with the package that
// provides it.
//
//	go run ./pkg/cmd/bench -can bin/can -rootfs rootfs [-n 50] [-starts 64]
//
// The runs are interleaved, one of each runtime in turn, so that a burst of
// load on the machine falls on all of them alike, and each round in a new
// random order, so that the kernel work one start leaves behind falls on
// all of them alike too (measure). Speed is measured here,
// never asserted in a test: the numbers depend on the machine. Everything it
// makes is named tincan-bench and removed, cgroups included (runc and crun
// get an absolute cgroupsPath under /tincan-bench, so they never nest under
// the caller's own cgroup).
package main

import (
	"cmp"
	"encoding/binary"
	"encoding/json"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"tincan.dev/pkg/harden"
	"tincan.dev/pkg/mount"
)

// A row is one way to start a container: argv for run i, or several
// commands in a row (an OCI lifecycle).
type row struct {
	name  string
	pkg   string                 // what to install when the program is missing
	steps func(i int) [][]string // the commands of run i, run one after the other
	fd3   string                 // a file to open as each command's fd 3, or ""

	times []time.Duration
	// faults are each run's page faults, with those of the children its
	// commands reaped: not bwrap's sandbox (its PID 1 reports the exit
	// status and is left to die after bwrap returns) nor a detached OCI
	// container's init.
	faults []int64
	failed error
	phase  int
}

func main() {
	if len(os.Args) > 2 && os.Args[1] == "gofloor" {
		os.Exit(goFloor(os.Args[2], os.Args[3:]))
	}
	can := flag.String("can", "bin/can", "the can binary")
	root := flag.String("rootfs", "rootfs", "a busybox root filesystem (make rootfs)")
	n := flag.Int("n", 50, "runs per runtime")
	starts := flag.Int("starts", 64, "starts per throughput measurement")
	flag.Parse()
	if os.Geteuid() != 0 {
		fail("needs root, as the runtimes do: run sudo make bench")
	}
	privateCgroupView()
	rootfs, err := filepath.Abs(*root)
	check(err)
	canPath, err := filepath.Abs(*can)
	check(err)
	dir, err := os.MkdirTemp("", "tincan-bench-")
	check(err)
	defer os.RemoveAll(dir)
	removeBenchCgroups() // a bench killed half way left them
	defer removeBenchCgroups()
	bundles := map[string]string{}
	for _, rt := range []string{"run", "can", "runc", "crun", "limits"} {
		b := filepath.Join(dir, "bundle-"+rt)
		err := writeBundle(b, rootfs, "/tincan-bench/"+rt)
		if err == nil && rt == "limits" {
			err = addLimits(b)
		}
		if err != nil {
			os.RemoveAll(dir) // fail exits: the defer above would not run
			fail(err.Error())
		}
		bundles[rt] = b
	}
	one := func(argv ...string) func(int) [][]string {
		return func(int) [][]string { return [][]string{argv} }
	}
	canRun := func(flags ...string) func(int) [][]string {
		return one(append(append([]string{canPath}, flags...), "--chroot", rootfs, "/bin/true")...)
	}
	// An OCI engine's calls for one container: create (the runtime exits,
	// the container waits for start), start, delete once /bin/true is done.
	lifecycle := func(bin, rt string) func(int) [][]string {
		return func(i int) [][]string {
			state, id := filepath.Join(dir, "state-"+rt), fmt.Sprintf("tincan-bench-%s-%d", rt, i)
			return [][]string{
				{bin, "--root", state, "create", "--bundle", bundles[rt], id},
				{bin, "--root", state, "start", id},
				{bin, "--root", state, "delete", "--force", id},
			}
		}
	}
	ociRun := func(rt string) func(int) [][]string {
		return func(i int) [][]string {
			return [][]string{{rt, "--root", filepath.Join(dir, "state-"+rt), "run", "-b", bundles["run"], fmt.Sprintf("tincan-bench-%s-%d", rt, i)}}
		}
	}
	// The same three limits as can's row, from config.json.
	ociLimits := func(rt string) func(int) [][]string {
		return func(i int) [][]string {
			return [][]string{{rt, "--root", filepath.Join(dir, "state-"+rt), "run", "-b", bundles["limits"], fmt.Sprintf("tincan-bench-%s-l%d", rt, i)}}
		}
	}
	limits := []string{"--memory", "64M", "--cpus", "0.5", "--pids", "100"}
	bwrap := one("bwrap", "--unshare-all", "--bind", rootfs, "/", "--proc", "/proc", "--dev", "/dev", "/bin/true")
	filter := filepath.Join(dir, "seccomp.bpf")
	check(writeFilter(filter, harden.DefaultFilter()))
	floor := one("unshare", "-pfmiun", "--mount-proc", "chroot", rootfs, "/bin/true")
	self, err := os.Executable()
	check(err)

	// Phase 1 runs in the host's own view (cgroup2 mounted beside v1, as
	// can finds it here); phase 2 in one without cgroup2, which crun 1.8
	// needs on a hybrid host. bwrap runs in both, for the ratios.
	phase1 := []*row{
		{name: "can", steps: canRun()},
		{name: "can --memory --cpus --pids", steps: canRun(limits...)},
		{name: "can --net bridge", steps: canRun("--net", "bridge")},
		{name: "can create+start+delete", steps: lifecycle(canPath, "can")},
		{name: "bwrap --unshare-all", pkg: "bubblewrap", steps: bwrap},
		{name: "bwrap, can's hardening", pkg: "bubblewrap", steps: one(hardenedBwrap(rootfs, "/bin/true")...), fd3: filter},
		{name: "unshare -pfmiun (floor)", pkg: "util-linux", steps: floor},
		{name: "Go floor (floor.go)", steps: one(self, "gofloor", rootfs, "/bin/true")},
		{name: "/bin/true", steps: one("/bin/true")},
	}
	phase2 := []*row{
		{name: "can (cgroup v1 only)", steps: canRun()},
		{name: "can limits (v1)", steps: canRun(limits...)},
		{name: "can create+start+delete (v1)", steps: lifecycle(canPath, "can")},
		{name: "crun", pkg: "crun", steps: ociRun("crun")},
		{name: "crun limits", pkg: "crun", steps: ociLimits("crun")},
		{name: "crun create+start+delete", pkg: "crun", steps: lifecycle("crun", "crun")},
		{name: "runc", pkg: "runc", steps: ociRun("runc")},
		{name: "runc create+start+delete", pkg: "runc", steps: lifecycle("runc", "runc")},
		{name: "bwrap --unshare-all", pkg: "bubblewrap", steps: bwrap},
	}
	measure(phase1, 1, *n)
	thr := map[string][]float64{}
	ns := []int{1, 8, 32}
	anyWorker := func(f func(int) [][]string) func(int, int) [][]string {
		return func(_, i int) [][]string { return f(i) }
	}
	thr["can"] = throughput(anyWorker(canRun()), ns, *starts)
	thr["can --net bridge"] = throughput(anyWorker(canRun("--net", "bridge")), ns, *starts)
	thr["bwrap --unshare-all"] = throughput(anyWorker(bwrap), ns, *starts)
	removeBenchCgroups() // cgroup2's, before it is hidden
	hideCgroup2()
	measure(phase2, 2, *n)
	if _, err := exec.LookPath("crun"); err == nil {
		// One bundle per worker: each container needs a cgroup of its own.
		var workers []string
		for w := 0; w < ns[len(ns)-1]; w++ {
			b := filepath.Join(dir, fmt.Sprintf("bundle-crun-%d", w))
			check(writeBundle(b, rootfs, fmt.Sprintf("/tincan-bench/crun-%d", w)))
			workers = append(workers, b)
		}
		thr["crun"] = throughput(func(w, i int) [][]string {
			return [][]string{{"crun", "--root", filepath.Join(dir, "state-crun"), "run", "-b", workers[w], fmt.Sprintf("tincan-bench-crun-%d", i)}}
		}, ns, *starts)
	}
	exec.Command(canPath, "cleanup", "--all").Run()

	med := map[string]time.Duration{}  // by name, phase 2 winning for bwrap
	faults := map[string]int64{}       // the median faults, by name likewise
	bwrapOf := map[int]time.Duration{} // bwrap's median in each phase
	all := append(append([]*row{}, phase1...), phase2...)
	for _, r := range all {
		if len(r.times) == 0 {
			continue
		}
		m := percentile(r.times, 50)
		med[r.name] = m
		faults[r.name] = percentile(r.faults, 50)
		if r.name == "bwrap --unshare-all" {
			bwrapOf[r.phase] = m
		}
	}
	fmt.Printf("\n%-27s %9s %9s %7s %7s %7s   (%d runs each, interleaved in random order; rootfs %s)\n", "runtime", "median", "p90", "/crun", "/bwrap", "faults", *n, rootfs)
	for _, r := range all {
		if r.failed != nil {
			fmt.Printf("%-27s %s\n", r.name, r.failed)
			continue
		}
		if r.name == "bwrap --unshare-all" && r.phase == 1 {
			continue // one bwrap row: phase 2's
		}
		m := med[r.name]
		if r.name == "bwrap --unshare-all" {
			m = bwrapOf[2]
		}
		fmt.Printf("%-27s %7.2fms %7.2fms %7s %7s %7d\n", r.name, ms(m), ms(percentile(r.times, 90)), ratio(m, med["crun"]), ratio(m, bwrapOf[r.phase]), percentile(r.faults, 50))
	}
	fmt.Printf("\nthroughput, %d starts of /bin/true, N at a time (starts/s)\n%-27s", *starts, "runtime")
	for _, k := range ns {
		fmt.Printf(" %8s", fmt.Sprintf("N=%d", k))
	}
	fmt.Println()
	for _, name := range []string{"can", "can --net bridge", "crun", "bwrap --unshare-all"} {
		if thr[name] == nil {
			continue
		}
		fmt.Printf("%-27s", name)
		for _, v := range thr[name] {
			fmt.Printf(" %8.0f", v)
		}
		fmt.Println()
	}
	fmt.Println()
	// Against crun, can's rows from phase 2: the same cgroup view, so the
	// same cgroup work (phase 1 adds cgroup2's device filter for can alone).
	if c, b := med["can (cgroup v1 only)"], med["crun"]; c > 0 && b > 0 {
		fmt.Printf("can / crun: %.2f (target <= 1.00); can / bwrap: %s; can / unshare floor: %s (target <= 1.5)\n",
			float64(c)/float64(b), ratio(med["can"], bwrapOf[1]), ratio(med["can"], med["unshare -pfmiun (floor)"]))
	}
	if h := med["bwrap, can's hardening"]; h > 0 {
		fmt.Printf("bwrap with can's hardening / bwrap: %s; can / bwrap with can's hardening: %s\n", ratio(h, bwrapOf[1]), ratio(med["can"], h))
	}
	if fault, call := machineCosts(); fault > 0 {
		fmt.Printf("this machine: a page's first touch %.1f µs, a system call %.2f µs", us(fault), us(call))
		if c, g := faults["can"], faults["Go floor (floor.go)"]; c > 0 && g > 0 {
			fmt.Printf(": can's %d page faults are some %.1f ms of its start, the Go floor's %d some %.1f ms", c, ms(time.Duration(c)*fault), g, ms(time.Duration(g)*fault))
		}
		fmt.Println()
	}
	if f := med["Go floor (floor.go)"]; f > 0 {
		fmt.Printf("Go floor (one Go start, no hardening) / bwrap: %s; can / Go floor: %s\n", ratio(f, bwrapOf[1]), ratio(med["can"], f))
	}
	if c, b := med["can create+start+delete (v1)"], med["crun create+start+delete"]; c > 0 && b > 0 {
		fmt.Printf("OCI create+start+delete, can / crun: %.2f (target <= 1.00)\n", float64(c)/float64(b))
	}
	if l, c := med["can --memory --cpus --pids"], med["can"]; l > 0 && c > 0 {
		fmt.Printf("limits add %.1f ms; --net bridge adds %.1f ms (target <= 10 ms)\n", ms(l-c), ms(med["can --net bridge"]-c))
	}
	if l, c, cl, cr := med["can limits (v1)"], med["can (cgroup v1 only)"], med["crun limits"], med["crun"]; l > 0 && c > 0 && cl > 0 && cr > 0 {
		fmt.Printf("on cgroup v1, limits add %.1f ms to can, %.1f ms to crun (target: can's at most crun's)\n", ms(l-c), ms(cl-cr))
	}
	if peak, err := peakRSS(canRun()(0)[0], 10); err != nil {
		fmt.Printf("can peak RSS: %v\n", err)
	} else {
		fmt.Printf("can peak RSS (can and its children, GNU time's %%M): %.1f MiB (target <= 4 MiB)\n", float64(peak)/(1<<20))
	}
	if rss, err := residentRSS(canPath, rootfs); err != nil {
		fmt.Printf("can's resident parent: %v\n", err)
	} else {
		fmt.Printf("can's resident parent, while the container runs: %.1f MiB RSS\n", float64(rss)/(1<<20))
	}
}

// peakRSS runs argv under GNU time, runs times, and returns the largest
// peak RSS it reports, in bytes. Not the ru_maxrss of our own wait4: Go
// starts a program with vfork (CLONE_VM), so until execve the child's memory
// is ours, and execve(2) counts that memory's peak into the child's
// maxrss (fs/exec.c, exec_mmap). Every program started from the bench would
// weigh at least what the bench does. GNU time fork(2)s, a copy of a small
// C program.
func peakRSS(argv []string, runs int) (int64, error) {
	if _, err := exec.LookPath("/usr/bin/time"); err != nil {
		return 0, fmt.Errorf("skipped: /usr/bin/time not installed (apt-get install time)")
	}
	out, err := os.CreateTemp("", "tincan-bench-rss-")
	if err != nil {
		return 0, err
	}
	defer os.Remove(out.Name())
	out.Close()
	var peak int64
	for i := 0; i < runs; i++ {
		cmd := exec.Command("/usr/bin/time", append([]string{"-f", "%M", "-o", out.Name()}, argv...)...)
		if b, err := cmd.CombinedOutput(); err != nil {
			return 0, fmt.Errorf("%v: %v: %s", argv, err, b)
		}
		b, err := os.ReadFile(out.Name())
		if err != nil {
			return 0, err
		}
		var kb int64
		if _, err := fmt.Sscan(string(b), &kb); err != nil {
			return 0, fmt.Errorf("GNU time wrote %q", b)
		}
		peak = max(peak, kb*1024)
	}
	return peak, nil
}

// residentRSS is what the can process holds while its container runs (as
// conmon does for podman): VmRSS of can, read from /proc half a second into
// a container that sleeps for one.
func residentRSS(can, rootfs string) (int64, error) {
	cmd := exec.Command(can, "--chroot", rootfs, "/bin/sleep", "1")
	if err := cmd.Start(); err != nil {
		return 0, err
	}
	defer cmd.Wait()
	time.Sleep(500 * time.Millisecond)
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", cmd.Process.Pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			var kb int64
			_, err := fmt.Sscan(v, &kb)
			return kb * 1024, err
		}
	}
	return 0, fmt.Errorf("no VmRSS in /proc/%d/status", cmd.Process.Pid)
}

// measure runs every row n times (after two runs to warm the page cache),
// one run of each row in turn, in a new random order each round. A start
// leaves the kernel work to finish after it has returned (a network
// namespace is freed by a kernel worker, after an RCU grace period), and
// that work lands on whatever runs next: in a fixed order, each row would
// always pay for the same neighbour.
func measure(rows []*row, phase, n int) {
	for _, r := range rows {
		r.phase = phase
		for _, s := range r.steps(0) {
			if _, err := exec.LookPath(s[0]); err != nil {
				r.failed = fmt.Errorf("skipped: %s not installed (apt-get install %s)", s[0], r.pkg)
			}
		}
	}
	for i := 0; i < n+2; i++ {
		for _, k := range rand.Perm(len(rows)) {
			r := rows[k]
			if r.failed != nil {
				continue
			}
			d, faults, err := runSteps(r.steps(i), r.fd3)
			if err != nil {
				r.failed = fmt.Errorf("failed: %v", err)
				continue
			}
			if i < 2 {
				continue
			}
			r.times = append(r.times, d)
			r.faults = append(r.faults, faults)
		}
	}
}

// runSteps runs the commands one after the other, each with fd3 (if not "")
// open as its fd 3, and returns the time they took together, and their
// page faults (minor and major: ru_minflt and ru_majflt of wait4(2), which
// count the children each command waited for too).
func runSteps(steps [][]string, fd3 string) (time.Duration, int64, error) {
	// Output goes to a file, not a pipe: after create, the container's
	// init holds it open, and a pipe would not reach EOF until delete.
	out, err := os.CreateTemp("", "tincan-bench-out-")
	if err != nil {
		return 0, 0, err
	}
	defer os.Remove(out.Name())
	defer out.Close()
	var faults int64
	start := time.Now()
	for _, argv := range steps {
		cmd := exec.Command(argv[0], argv[1:]...)
		cmd.Stdout, cmd.Stderr = out, out
		if fd3 != "" {
			// Opened for each command: the reader leaves the offset at the end.
			f, err := os.Open(fd3)
			if err != nil {
				return 0, 0, err
			}
			defer f.Close()
			cmd.ExtraFiles = []*os.File{f}
		}
		if err := cmd.Run(); err != nil {
			b, _ := os.ReadFile(out.Name())
			return 0, 0, fmt.Errorf("%v: %v: %s", argv, err, strings.TrimSpace(string(b)))
		}
		if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
			faults += ru.Minflt + ru.Majflt
		}
	}
	return time.Since(start), faults, nil
}

// throughput starts total containers, n at a time (xargs -P n), for each n,
// and returns the starts per second.
func throughput(steps func(worker, i int) [][]string, ns []int, total int) []float64 {
	var out []float64
	for _, n := range ns {
		var next atomic.Int64
		var wg sync.WaitGroup
		var failed atomic.Bool
		start := time.Now()
		for w := 0; w < n; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := int(next.Add(1)); i <= total; i = int(next.Add(1)) {
					if _, _, err := runSteps(steps(w, 1000*n+i), ""); err != nil {
						failed.Store(true)
					}
				}
			}()
		}
		wg.Wait()
		if failed.Load() {
			out = append(out, 0)
			continue
		}
		out = append(out, float64(total)/time.Since(start).Seconds())
	}
	return out
}

// percentile is the p-th percentile of v: a row's times, or its faults.
func percentile[T cmp.Ordered](v []T, p int) T {
	s := slices.Clone(v)
	slices.Sort(s)
	return s[min(len(s)-1, len(s)*p/100)]
}

func ratio(a, b time.Duration) string {
	if a <= 0 || b <= 0 {
		return ""
	}
	return fmt.Sprintf("%.2f", float64(a)/float64(b))
}

func ms(d time.Duration) float64 { return float64(d) / 1e6 }

func us(d time.Duration) float64 { return float64(d) / 1e3 }

// machineCosts measures two prices that a program's start pays many times
// over, and that a virtual machine can raise tenfold: the first touch of a
// page of memory (a page fault: the kernel finds a zeroed page and maps it),
// and a system call that does nothing (getppid). Best of five, 4096 pages
// and 10000 calls each. Huge pages are turned off for the test memory
// (madvise(2), MADV_NOHUGEPAGE): the heap and stacks of a short program
// are faulted in 4 KiB at a time.
func machineCosts() (fault, call time.Duration) {
	const pages, calls = 4096, 10000
	fault, call = time.Hour, time.Hour
	for try := 0; try < 5; try++ {
		mem, err := unix.Mmap(-1, 0, pages*4096, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
		if err != nil {
			return 0, 0
		}
		unix.Madvise(mem, unix.MADV_NOHUGEPAGE)
		start := time.Now()
		for i := 0; i < len(mem); i += 4096 {
			mem[i] = 1
		}
		fault = min(fault, time.Since(start)/pages)
		unix.Munmap(mem)
		start = time.Now()
		for i := 0; i < calls; i++ {
			unix.Getppid()
		}
		call = min(call, time.Since(start)/calls)
	}
	return fault, call
}

// privateCgroupView re-executes the bench in a mount namespace of its own,
// so that hideCgroup2 changes nothing on the host. (Go makes / private for
// Unshareflags.)
func privateCgroupView() {
	const env = "TINCAN_BENCH_NS"
	if os.Getenv(env) == "" {
		cmd := exec.Command("/proc/self/exe", os.Args[1:]...)
		cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
		cmd.Env = append(os.Environ(), env+"=1")
		cmd.SysProcAttr = &syscall.SysProcAttr{Unshareflags: syscall.CLONE_NEWNS}
		if err := cmd.Run(); err != nil {
			os.Exit(1)
		}
		os.Exit(0)
	}
	// /run/tincan, /run/runc... stay inside too.
	check(syscall.Mount("tmpfs", "/run", "tmpfs", 0, "mode=0755"))
}

// hideCgroup2 unmounts, on a hybrid host, the cgroup v2 hierarchy in the
// bench's mount namespace: crun 1.8 refuses hybrid cgroups ("drop all
// controllers from cgroupv2"). can runs first in the host's own view, then
// again in this one, beside runc and crun.
func hideCgroup2() {
	if syscall.Unmount("/sys/fs/cgroup/unified", syscall.MNT_DETACH) == nil {
		fmt.Println("note: /sys/fs/cgroup/unified unmounted in the bench's own mount namespace for phase 2 (crun 1.8 refuses hybrid cgroups)")
	}
}

// writeBundle writes an OCI bundle whose root is rootfs and whose process is
// /bin/true, from `runc spec`'s defaults, with an absolute cgroupsPath (a
// runtime given none nests under its caller's cgroup) and ociVersion 1.0.2,
// the newest crun 1.8 takes. The ambient capabilities runc spec lists go:
// they are not in the inheritable set, so raising them must fail, which can
// reports and runc and crun ignore.
func writeBundle(bundle, rootfs, cgroupsPath string) error {
	if err := os.MkdirAll(bundle, 0o755); err != nil {
		return err
	}
	cmd := exec.Command("runc", "spec", "--bundle", bundle)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("runc spec: %v: %s (apt-get install runc)", err, out)
	}
	return editConfig(bundle, func(spec map[string]any) {
		spec["ociVersion"] = "1.0.2"
		proc := spec["process"].(map[string]any)
		proc["terminal"] = false
		proc["args"] = []string{"/bin/true"}
		if caps, ok := proc["capabilities"].(map[string]any); ok {
			delete(caps, "ambient")
		}
		spec["root"] = map[string]any{"path": rootfs, "readonly": true}
		spec["linux"].(map[string]any)["cgroupsPath"] = cgroupsPath
	})
}

// addLimits gives the bundle's container the limits of can's "--memory 64M
// --cpus 0.5 --pids 100": linux.resources, as an engine would write them.
func addLimits(bundle string) error {
	return editConfig(bundle, func(spec map[string]any) {
		linux := spec["linux"].(map[string]any)
		res, _ := linux["resources"].(map[string]any)
		if res == nil {
			res = map[string]any{}
		}
		res["memory"] = map[string]any{"limit": 64 << 20}
		res["cpu"] = map[string]any{"quota": 50000, "period": 100000}
		res["pids"] = map[string]any{"limit": 100}
		linux["resources"] = res
	})
}

// editConfig applies edit to the bundle's config.json.
func editConfig(bundle string, edit func(spec map[string]any)) error {
	path := filepath.Join(bundle, "config.json")
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	var spec map[string]any
	if err := json.Unmarshal(b, &spec); err != nil {
		return err
	}
	edit(spec)
	b, _ = json.MarshalIndent(spec, "", "  ")
	return os.WriteFile(path, b, 0o644)
}

// removeBenchCgroups removes /tincan-bench in every hierarchy, if the
// runtimes left it.
func removeBenchCgroups() {
	dirs, _ := filepath.Glob("/sys/fs/cgroup/*/tincan-bench")
	if d := "/sys/fs/cgroup/tincan-bench"; exists(d) {
		dirs = append(dirs, d)
	}
	for _, d := range dirs {
		subs, _ := filepath.Glob(filepath.Join(d, "*"))
		for _, s := range subs {
			if fi, err := os.Stat(s); err == nil && fi.IsDir() {
				syscall.Rmdir(s)
			}
		}
		syscall.Rmdir(d)
	}
}

func exists(p string) bool { _, err := os.Stat(p); return err == nil }

func check(err error) {
	if err != nil {
		fail(err.Error())
	}
}

func fail(msg string) {
	fmt.Fprintln(os.Stderr, "bench:", msg)
	os.Exit(1)
}

// hardenedBwrap is bwrap given what it can take of a default can
// container's hardening, to tell what that hardening costs from what a Go
// start costs: Docker's seccomp program (can's own, as fd 3), Docker's 14
// capabilities, the masked and read-only paths of /proc, a hostname, a
// session of its own, death with its parent. bwrap has no device cgroup,
// keeps no state, forwards no signal, and can only bind the host's /sys
// (with every cgroup mount under it) where can mounts a sysfs of its own:
// so no /sys here. It is less work than can's, not more.
func hardenedBwrap(rootfs string, argv ...string) []string {
	args := []string{"bwrap", "--unshare-all", "--new-session", "--die-with-parent", "--hostname", "tincan-bench",
		"--bind", rootfs, "/", "--proc", "/proc", "--dev", "/dev"}
	// bwrap's sources are the host's paths; /proc holds the same names
	// inside, under the same kernel.
	for _, p := range mount.MaskedPaths {
		st, err := os.Stat(p)
		if err != nil || !strings.HasPrefix(p, "/proc/") {
			continue // not on this kernel, or under /sys
		}
		if st.IsDir() {
			args = append(args, "--tmpfs", p, "--remount-ro", p)
		} else {
			// As runc masks a file. --ro-bind would add nodev, and reads
			// would fail with EACCES rather than find it empty.
			args = append(args, "--dev-bind", "/dev/null", p)
		}
	}
	for _, p := range mount.ReadonlyPaths {
		if exists(p) {
			args = append(args, "--ro-bind", p, p)
		}
	}
	args = append(args, "--cap-drop", "ALL")
	for _, c := range harden.DefaultCaps() {
		args = append(args, "--cap-add", c)
	}
	return append(append(args, "--seccomp", "3"), argv...)
}

// writeFilter writes a classic BPF program as bwrap --seccomp reads it:
// the instructions as the kernel lays out struct sock_filter, nothing else.
func writeFilter(path string, prog []unix.SockFilter) error {
	if len(prog) == 0 {
		return fmt.Errorf("no seccomp program for %s", runtime.GOARCH)
	}
	b := make([]byte, 0, len(prog)*int(unsafe.Sizeof(prog[0])))
	for _, f := range prog {
		b = binary.NativeEndian.AppendUint16(b, f.Code)
		b = append(b, f.Jt, f.Jf)
		b = binary.NativeEndian.AppendUint32(b, f.K)
	}
	return os.WriteFile(path, b, 0o600)
}
