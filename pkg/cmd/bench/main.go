// Command bench times how long runtimes take to start a container that runs
// /bin/true, side by side in one run on one busybox root filesystem: can
// (hardened, as it runs by default), can --net bridge, runc and crun on an OCI
// bundle generated here, bwrap --unshare-all, unshare -pfmiun and plain
// /bin/true. It prints each one's median and its ratio to crun's, and can's
// peak RSS. A runtime that is not installed is skipped, with the package
// that provides it.
//
//	go run ./pkg/cmd/bench -can bin/can -rootfs rootfs [-n 50]
//
// Speed is measured here, never asserted in a test: the numbers depend on the
// machine. Everything it makes is named tincan-bench and removed, cgroups
// included (runc and crun get an absolute cgroupsPath under /tincan-bench, so
// they never nest under the caller's own cgroup).
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"
)

func main() {
	can := flag.String("can", "bin/can", "the can binary")
	root := flag.String("rootfs", "rootfs", "a busybox root filesystem (make rootfs)")
	n := flag.Int("n", 50, "runs per runtime")
	flag.Parse()
	if os.Geteuid() != 0 {
		fail("needs root, as the runtimes do: run sudo make bench")
	}
	privateCgroupView()
	rootfs, err := filepath.Abs(*root)
	check(err)
	canPath, err := filepath.Abs(*can)
	check(err)
	bundle, err := os.MkdirTemp("", "tincan-bench-")
	check(err)
	defer os.RemoveAll(bundle)
	if err := writeBundle(bundle, rootfs); err != nil {
		os.RemoveAll(bundle) // fail exits: the defer above would not run
		fail(err.Error())
	}
	defer removeBenchCgroups()

	type runtime struct {
		name string
		pkg  string
		argv func(i int) []string
		env  []string
	}
	runtimes := []runtime{
		{"can", "", func(int) []string { return []string{canPath, "--chroot", rootfs, "/bin/true"} }, nil},
		// The v1 view: where no cgroup2 is mounted, the device allowlist
		// needs the v1 devices (and freezer) hierarchies, and so a migration
		// of the child into each, where cgroup2 clones it straight into one.
		{"can (cgroup v1 only)", "", func(int) []string { return []string{canPath, "--chroot", rootfs, "/bin/true"} }, nil},
		{"can --net bridge", "", func(int) []string {
			return []string{canPath, "--net", "bridge", "--chroot", rootfs, "/bin/true"}
		}, nil},
		{"runc", "runc", func(i int) []string {
			return []string{"runc", "--root", filepath.Join(bundle, "state-runc"), "run", "-b", bundle, fmt.Sprintf("tincan-bench-runc-%d", i)}
		}, nil},
		{"crun", "crun", func(i int) []string {
			return []string{"crun", "--root", filepath.Join(bundle, "state-crun"), "run", "-b", bundle, fmt.Sprintf("tincan-bench-crun-%d", i)}
		}, nil},
		{"bwrap --unshare-all", "bubblewrap", func(int) []string {
			return []string{"bwrap", "--unshare-all", "--bind", rootfs, "/", "--proc", "/proc", "--dev", "/dev", "/bin/true"}
		}, nil},
		{"unshare -pfmiun", "util-linux", func(int) []string {
			return []string{"unshare", "-pfmiun", "--mount-proc", "chroot", rootfs, "/bin/true"}
		}, nil},
		{"/bin/true", "", func(int) []string { return []string{"/bin/true"} }, nil},
	}
	type result struct {
		name     string
		med, p90 time.Duration
		note     string
	}
	var results []result
	var canRSS int64
	for _, rt := range runtimes {
		if rt.name == "can (cgroup v1 only)" {
			hideCgroup2()
		}
		if _, err := exec.LookPath(rt.argv(0)[0]); err != nil {
			results = append(results, result{name: rt.name, note: "skipped: not installed (apt-get install " + rt.pkg + ")"})
			continue
		}
		var times []time.Duration
		var failed error
		for i := 0; i < *n+2; i++ {
			argv := rt.argv(i)
			cmd := exec.Command(argv[0], argv[1:]...)
			out := &strings.Builder{}
			cmd.Stdout, cmd.Stderr = out, out
			start := time.Now()
			err := cmd.Run()
			d := time.Since(start)
			if err != nil {
				failed = fmt.Errorf("%v: %v: %s", argv, err, strings.TrimSpace(out.String()))
				break
			}
			if i < 2 {
				continue // warm up the page cache
			}
			times = append(times, d)
			if rt.name == "can" {
				if rss := cmd.ProcessState.SysUsage().(*syscall.Rusage).Maxrss * 1024; rss > canRSS {
					canRSS = rss
				}
			}
		}
		if failed != nil {
			results = append(results, result{name: rt.name, note: "failed: " + failed.Error()})
			continue
		}
		sort.Slice(times, func(i, j int) bool { return times[i] < times[j] })
		results = append(results, result{name: rt.name, med: times[len(times)/2], p90: times[len(times)*9/10]})
	}
	median := map[string]time.Duration{}
	for _, r := range results {
		median[r.name] = r.med
	}
	fmt.Printf("%-22s %10s %10s %8s   (%d runs each, rootfs %s)\n", "runtime", "median", "p90", "/crun", *n, rootfs)
	for _, r := range results {
		if r.note != "" {
			fmt.Printf("%-22s %s\n", r.name, r.note)
			continue
		}
		ratio := ""
		if c := median["crun"]; c > 0 {
			ratio = fmt.Sprintf("%.2f", float64(r.med)/float64(c))
		}
		fmt.Printf("%-22s %8.2fms %8.2fms %8s\n", r.name, ms(r.med), ms(r.p90), ratio)
	}
	if c := median["crun"]; c > 0 && median["can"] > 0 {
		fmt.Printf("\ncan / crun median ratio: %.2f (target <= 1.00)\n", float64(median["can"])/float64(c))
	}
	if b := median["can --net bridge"]; b > 0 && median["can"] > 0 {
		fmt.Printf("bridged start adds %.1f ms over --net none (target <= 10 ms)\n", ms(b-median["can"]))
	}
	fmt.Printf("can peak RSS (can and its children, ru_maxrss): %.1f MiB (target <= 4 MiB)\n", float64(canRSS)/(1<<20))
	exec.Command(canPath, "cleanup", "--all").Run()
}

func ms(d time.Duration) float64 { return float64(d) / 1e6 }

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
		fmt.Println("note: /sys/fs/cgroup/unified unmounted in the bench's own mount namespace (crun 1.8 refuses hybrid cgroups)")
	}
}

// writeBundle writes an OCI bundle whose root is rootfs and whose process is
// /bin/true, from `runc spec`'s defaults.
func writeBundle(bundle, rootfs string) error {
	cmd := exec.Command("runc", "spec", "--bundle", bundle)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("runc spec: %v: %s (apt-get install runc)", err, out)
	}
	path := filepath.Join(bundle, "config.json")
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	var spec map[string]any
	if err := json.Unmarshal(b, &spec); err != nil {
		return err
	}
	proc := spec["process"].(map[string]any)
	proc["terminal"] = false
	proc["args"] = []string{"/bin/true"}
	spec["root"] = map[string]any{"path": rootfs, "readonly": true}
	linux := spec["linux"].(map[string]any)
	linux["cgroupsPath"] = "/tincan-bench/oci"
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
