// Command conformance runs the OCI runtime-tools validation suite
// (opencontainers/runtime-tools, the programs validation/*/*.t) against one
// or more runtimes in the same run on the same machine, and prints one table:
// per test program, the assertions each runtime passed, then the totals and a
// one-line verdict comparing can with runc.
//
//	go build -o bin/conformance ./pkg/cmd/conformance
//	bin/conformance [-runtimes can=bin/can,runc] [-run REGEX] [-v can] [-timeout 60s]
//
// or make conformance. It needs root, as the runtimes do.
//
// The suite is third_party/runtime-tools/runtime-tools-5e63903.tar.gz (its Go
// dependencies vendored, so it builds offline). The first run extracts and
// builds it into the cache dir (-cache, default $XDG_CACHE_HOME/tincan, about
// a minute); later runs reuse it.
//
// Each test program prints TAP: "ok N", "not ok N", "ok N # SKIP". As in
// TAP, a skipped assertion counts as passed (the tests skip what their config
// did not set, alike for every runtime; the table says how many). A program
// that prints no assertion at all (hooks, the *_fail ones when the container
// could not be made) is counted as one assertion, passed if it exited 0 and
// printed no "error" diagnostic. A program that outlives -timeout is killed
// with everything it started, and counts one failure more.
//
// The run is in a mount namespace of its own: a test that asks for shared
// rootfs propagation otherwise leaves the container's /proc, /dev and /sys
// mounted on the host, in the bundle it made (runc does that here).
//
// The trap: many tests leave linux.cgroupsPath empty, and two families give a
// relative one. runc and crun then nest the container's cgroup under their
// caller's own cgroup, which on a supervised machine is the supervisor's.
// So every runtime is run through a wrapper (this program again, see wrap.go)
// that gives each container an absolute cgroupsPath under
// /tincan-conformance/<id> (the spec lets the runtime choose where a relative
// path lives) and its own --root state directory, emptied after each test
// program. The run stops if a cgroup appears under the runner's own cgroup.
package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/moby/sys/mountinfo"
)

// Where the suite comes from, and the name of its build in the cache.
const (
	suiteName = "runtime-tools-5e63903"
	suiteTar  = "third_party/runtime-tools/" + suiteName + ".tar.gz"
)

// A runtime under test: its name in the table and the binary the wrapper runs.
type runtime struct {
	name, path string
	wrapper    string // the script given to the tests as RUNTIME
	root       string // its --root, emptied after each test program
}

func main() {
	if len(os.Args) > 1 && os.Args[1] == wrapArg {
		wrapMain(os.Args[2:])
		return
	}
	runtimes := flag.String("runtimes", "can=bin/can,runc", "the runtimes to compare, NAME[=PATH],... (crun works too)")
	tarball := flag.String("tar", envOr("TINCAN_RUNTIME_TOOLS", suiteTar), "the runtime-tools source tarball (env TINCAN_RUNTIME_TOOLS)")
	cache := flag.String("cache", "", "where the suite is built (default $XDG_CACHE_HOME/tincan)")
	run := flag.String("run", "", "run only the test programs whose name matches this regexp")
	verbose := flag.String("v", "", "print the failing assertions of this runtime, with their diagnostics")
	timeout := flag.Duration("timeout", 60*time.Second, "the time each test program gets, per runtime")
	flag.Parse()
	if os.Geteuid() != 0 {
		fail("needs root, as the runtimes do: run sudo make conformance")
	}
	privateMounts()
	var filter *regexp.Regexp
	if *run != "" {
		var err error
		if filter, err = regexp.Compile(*run); err != nil {
			fail(fmt.Sprintf("-run %q: %v", *run, err))
		}
	}
	if *cache == "" {
		dir, err := os.UserCacheDir()
		check(err)
		*cache = filepath.Join(dir, "tincan")
	}
	src, err := buildSuite(*tarball, filepath.Join(*cache, suiteName))
	check(err)
	tests, err := filepath.Glob(filepath.Join(src, "validation", "*", "*.t"))
	check(err)
	sort.Strings(tests)
	if filter != nil {
		var some []string
		for _, t := range tests {
			if filter.MatchString(testName(t)) {
				some = append(some, t)
			}
		}
		tests = some
	}
	if len(tests) == 0 {
		fail(fmt.Sprintf("no test program in %s matches -run %q", src, *run))
	}

	work, err := os.MkdirTemp("", "tincan-conformance-")
	check(err)
	// Searchable by all: a container in a user namespace (linux_uid_mappings)
	// opens its bundle under here as its mapped root.
	check(os.Chmod(work, 0o755))
	rts, err := setUp(work, *runtimes)
	if err != nil {
		os.RemoveAll(work)
		fail(err.Error())
	}
	guard, err := newCgroupGuard()
	if err != nil {
		os.RemoveAll(work)
		fail(err.Error())
	}

	start := time.Now()
	results := map[string][]result{} // by test, one per runtime
	for _, t := range tests {
		name := testName(t)
		fmt.Fprintf(os.Stderr, "%-40s", name)
		for _, rt := range rts {
			r := runTest(src, t, rt, work, *timeout)
			cleanUp(rt)
			results[name] = append(results[name], r)
			fmt.Fprintf(os.Stderr, " %s %d/%d", rt.name, r.passed, r.passed+len(r.failed))
			if err := guard.check(); err != nil {
				fmt.Fprintln(os.Stderr)
				removeCgroups()
				os.RemoveAll(work)
				fail(err.Error())
			}
		}
		fmt.Fprintln(os.Stderr)
	}
	elapsed := time.Since(start)
	removeCgroups()
	check(os.RemoveAll(work))

	printTable(os.Stdout, tests, rts, results, elapsed)
	if *verbose != "" {
		printFailures(os.Stdout, tests, rts, results, *verbose)
	}
}

// buildSuite extracts tarball into dir and builds the checker and the test
// programs there, unless an earlier run did. It returns the source directory,
// where the tests must run (they read rootfs-amd64.tar.gz and runtimetest
// from it).
func buildSuite(tarball, dir string) (string, error) {
	src := filepath.Join(dir, "runtime-tools")
	stamp := filepath.Join(dir, "built")
	if _, err := os.Stat(stamp); err == nil {
		return src, nil
	}
	if _, err := os.Stat(tarball); err != nil {
		return "", fmt.Errorf("the suite's source %s: %v (run from the repository root, or set TINCAN_RUNTIME_TOOLS to the tarball)", tarball, err)
	}
	if err := os.RemoveAll(dir); err != nil {
		return "", err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	fmt.Fprintf(os.Stderr, "building %s in %s (once, about a minute)\n", suiteName, dir)
	if out, err := exec.Command("tar", "-xzf", tarball, "-C", dir).CombinedOutput(); err != nil {
		return "", fmt.Errorf("tar -xzf %s: %v: %s", tarball, err, out)
	}
	make := exec.Command("make", "tool", "runtimetest", "validation-executables")
	make.Dir = src
	// Offline: the dependencies are in vendor/. GOWORK=off, or a go.work
	// above the cache dir would pull the suite into it.
	make.Env = append(os.Environ(), "GOFLAGS=-mod=vendor", "GOWORK=off", "GOPROXY=off", "GOTOOLCHAIN=local")
	if out, err := make.CombinedOutput(); err != nil {
		return "", fmt.Errorf("building the suite (make in %s): %v: %s", src, err, lastLines(out, 10))
	}
	return src, os.WriteFile(stamp, nil, 0o644)
}

// setUp resolves each NAME[=PATH] and writes its wrapper script.
func setUp(work, list string) ([]*runtime, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	var rts []*runtime
	for _, spec := range strings.Split(list, ",") {
		name, path, _ := strings.Cut(strings.TrimSpace(spec), "=")
		if path == "" {
			path = name
		}
		if strings.Contains(path, "/") {
			path, err = filepath.Abs(path)
		} else {
			path, err = exec.LookPath(path)
		}
		if err == nil {
			_, err = os.Stat(path)
		}
		if err != nil {
			return nil, fmt.Errorf("runtime %s: %v (build it with make, apt-get install %s, or drop it from -runtimes)", name, err, name)
		}
		rt := &runtime{name: name, path: path, root: filepath.Join(work, name, "state")}
		rt.wrapper = filepath.Join(work, name, name)
		if err := os.MkdirAll(rt.root, 0o755); err != nil {
			return nil, err
		}
		script := fmt.Sprintf("#!/bin/sh\nexec %s %s %s %s %s \"$@\"\n", quote(self), wrapArg, quote(name), quote(path), quote(rt.root))
		if err := os.WriteFile(rt.wrapper, []byte(script), 0o755); err != nil {
			return nil, err
		}
		rts = append(rts, rt)
	}
	return rts, nil
}

// privateMounts re-executes the runner in a mount namespace of its own (Go
// makes / private in it, recursively), so that no mount a runtime or a test
// makes propagates to the host; they all go with the namespace.
func privateMounts() {
	const env = "TINCAN_CONFORMANCE_NS"
	if os.Getenv(env) != "" {
		return
	}
	cmd := exec.Command("/proc/self/exe", os.Args[1:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	cmd.Env = append(os.Environ(), env+"=1")
	cmd.SysProcAttr = &syscall.SysProcAttr{Unshareflags: syscall.CLONE_NEWNS}
	if err := cmd.Run(); err != nil {
		if cmd.ProcessState == nil {
			fail(fmt.Sprintf("a mount namespace of its own: %v", err))
		}
		os.Exit(cmd.ProcessState.ExitCode())
	}
	os.Exit(0)
}

// unmountUnder detaches every mount below dir (deepest first), the ones a
// bundle keeps when its container shared its mounts back, so that dir can
// be removed.
func unmountUnder(dir string) {
	mounts, _ := mountinfo.GetMounts(mountinfo.PrefixFilter(dir))
	var points []string
	for _, m := range mounts {
		if m.Mountpoint != dir {
			points = append(points, m.Mountpoint)
		}
	}
	sort.Slice(points, func(i, j int) bool { return len(points[i]) > len(points[j]) })
	for _, p := range points {
		syscall.Unmount(p, syscall.MNT_DETACH)
	}
}

// result is one test program's outcome for one runtime.
type result struct {
	passed, skipped int      // skipped ones count as passed too
	failed          []string // each failing assertion, with its diagnostic
}

// runTest runs the program t for rt, from the suite's directory, with its
// own TMPDIR (the bundles it makes), in a process group of its own, so that a
// timeout kills everything it started.
func runTest(src, t string, rt *runtime, work string, timeout time.Duration) result {
	tmp := filepath.Join(work, rt.name, "tmp")
	if err := os.MkdirAll(tmp, 0o755); err != nil {
		return result{failed: []string{err.Error()}}
	}
	defer os.RemoveAll(tmp)
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, t)
	cmd.Dir = src
	cmd.Env = append(os.Environ(), "RUNTIME="+rt.wrapper, "TMPDIR="+tmp)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	// Not CombinedOutput: a runtime's child that keeps the pipe open would
	// hold Wait until it exits; WaitDelay gives up on it.
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.WaitDelay = 5 * time.Second
	err := cmd.Run()
	syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) // what it left running
	unmountUnder(tmp)
	r := parseTAP(out.String())
	switch {
	case ctx.Err() != nil:
		r.failed = append(r.failed, fmt.Sprintf("timed out after %v, killed\n%s", timeout, lastLines(out.Bytes(), 5)))
	case r.passed+r.skipped+len(r.failed) == 0:
		// No assertion printed: the program's verdict is its exit status
		// and whether it printed an error.
		if err == nil && !strings.Contains(out.String(), `"error":`) {
			r.passed = 1
		} else {
			r.failed = append(r.failed, fmt.Sprintf("%s (%v):\n%s", testName(t), exitText(err), lastLines(out.Bytes(), 12)))
		}
	}
	return r
}

var tapLine = regexp.MustCompile(`^(not )?ok\b`)

// parseTAP counts the assertions in a TAP stream. A failing one keeps its
// line and the diagnostic lines that follow it, up to the next assertion.
func parseTAP(out string) result {
	var r result
	cur := -1 // index in r.failed of the failure being read
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		line := sc.Text()
		if !tapLine.MatchString(line) {
			if cur >= 0 && !strings.HasPrefix(line, "1..") {
				r.failed[cur] += "\n" + line
			}
			continue
		}
		cur = -1
		switch {
		case strings.Contains(strings.ToUpper(line), "# SKIP"):
			r.skipped++ // and passed: TAP's rule, and the one runc's published count follows
			r.passed++
		case strings.HasPrefix(line, "ok"):
			r.passed++
		default:
			r.failed = append(r.failed, line)
			cur = len(r.failed) - 1
		}
	}
	return r
}

// cleanUp deletes what a test program left in rt's state directory: a
// program killed at its timeout, or one that forgot its delete.
func cleanUp(rt *runtime) {
	out, _ := exec.Command(rt.path, "--root", rt.root, "list", "-q").Output()
	for _, id := range strings.Fields(string(out)) {
		exec.Command(rt.path, "--root", rt.root, "delete", "--force", id).Run()
	}
	// A runtime with no list command: its state directories still go.
	entries, _ := os.ReadDir(rt.root)
	for _, e := range entries {
		os.RemoveAll(filepath.Join(rt.root, e.Name()))
	}
}

func printTable(w *os.File, tests []string, rts []*runtime, results map[string][]result, elapsed time.Duration) {
	fmt.Fprintf(w, "%-40s", "test program")
	for _, rt := range rts {
		fmt.Fprintf(w, " %14s", rt.name)
	}
	fmt.Fprintln(w)
	pass := make([]int, len(rts))
	total := make([]int, len(rts))
	skip := make([]int, len(rts))
	for _, t := range tests {
		rs := results[testName(t)]
		fmt.Fprintf(w, "%-40s", testName(t))
		for i, r := range rs {
			n := r.passed + len(r.failed)
			pass[i] += r.passed
			total[i] += n
			skip[i] += r.skipped
			cell := fmt.Sprintf("%d/%d", r.passed, n)
			if len(r.failed) > 0 {
				cell += " !"
			}
			fmt.Fprintf(w, " %14s", cell)
		}
		fmt.Fprintln(w)
	}
	fmt.Fprintf(w, "%-40s", "total passed/assertions")
	for i := range rts {
		fmt.Fprintf(w, " %14s", fmt.Sprintf("%d/%d", pass[i], total[i]))
	}
	fmt.Fprintf(w, "\n%-40s", "of which skipped")
	for i := range rts {
		fmt.Fprintf(w, " %14d", skip[i])
	}
	fmt.Fprintf(w, "\n%d test programs, %s (timeouts and a failed runtime count as failures)\n", len(tests), elapsed.Round(time.Second))

	idx := map[string]int{}
	for i, rt := range rts {
		idx[rt.name] = i
	}
	c, okc := idx["can"]
	r, okr := idx["runc"]
	if !okc || !okr {
		return
	}
	switch d := pass[c] - pass[r]; {
	case d >= 0:
		fmt.Fprintf(w, "verdict: can passed %d, runc %d: can meets the target (at least as many as runc)\n", pass[c], pass[r])
	default:
		fmt.Fprintf(w, "verdict: can passed %d, runc %d: can is %d short of the target (at least as many as runc)\n", pass[c], pass[r], -d)
	}
}

func printFailures(w *os.File, tests []string, rts []*runtime, results map[string][]result, name string) {
	for i, rt := range rts {
		if rt.name != name {
			continue
		}
		fmt.Fprintf(w, "\nfailing assertions of %s:\n", name)
		for _, t := range tests {
			for _, f := range results[testName(t)][i].failed {
				fmt.Fprintf(w, "\n== %s\n%s\n", testName(t), shorten(f))
			}
		}
		return
	}
	fmt.Fprintf(w, "-v %s: no such runtime in this run\n", name)
}

// shorten keeps a failure's diagnostic readable. The checker that runs
// inside the container prints its own TAP, which the test quotes whole as a
// JSON string: of that, only the failing assertions are kept.
func shorten(f string) string {
	head, diag, _ := strings.Cut(strings.TrimRight(f, "\n"), "\n")
	if strings.Contains(diag, `\nnot ok `) {
		inner := strings.NewReplacer(`\n`, "\n", `\"`, `"`).Replace(diag)
		var keep []string
		for _, l := range strings.Split(inner, "\n") {
			if strings.HasPrefix(l, "not ok ") {
				keep = append(keep, "  inside: "+l)
			}
		}
		return head + "\n" + strings.Join(keep, "\n")
	}
	lines := strings.Split(diag, "\n")
	if len(lines) > 20 {
		lines = append(lines[:20], "  ...")
	}
	for i, l := range lines {
		if len(l) > 300 {
			lines[i] = l[:300] + "..."
		}
	}
	return strings.TrimRight(head+"\n"+strings.Join(lines, "\n"), "\n")
}

// testName is the program's directory name, default for validation/default/default.t.
func testName(t string) string { return filepath.Base(filepath.Dir(t)) }

func exitText(err error) string {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ProcessState.String()
	}
	if err == nil {
		return "exit status 0"
	}
	return err.Error()
}

func lastLines(b []byte, n int) string {
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

func quote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}

func check(err error) {
	if err != nil {
		fail(err.Error())
	}
}

func fail(msg string) {
	fmt.Fprintln(os.Stderr, "conformance:", msg)
	os.Exit(1)
}
