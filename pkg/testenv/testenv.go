// Package testenv is the hermetic harness every privileged test runs in.
//
// Main re-executes the test binary, as root, in new mount, network, PID, UTS
// and IPC namespaces (with Pdeathsig, so it cannot outlive the run). There it
// makes "/" rprivate and then rshared again: rprivate cuts it from the host,
// rshared makes it behave like a systemd host's, so a lesson that forgets to
// make its own mounts private leaks them into the sandbox, where a test sees
// it. It mounts /proc for the new PID namespace, a tmpfs on /run (so
// /run/netns and /run/tincan stay inside) and sets lo up. Everything a test
// starts, links, network namespaces and nft tables die with the sandbox.
//
// Cgroups cannot be namespaced that way: tests name theirs tincan-test-* and
// remove them in t.Cleanup. Main compares the host's mounts, links, network
// namespaces and tincan cgroups before and after, and fails the run on a leak.
package testenv

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"tincan.dev/pkg/course"
	"tincan.dev/pkg/mount"
	"tincan.dev/pkg/network"
)

const (
	sandboxEnv  = "TINCAN_TEST_SANDBOX"
	prebuiltEnv = "TINCAN_PREBUILT"
)

// Bin is the directory holding the binaries built by Main (the step under test,
// and any named in its build list); it is first in $PATH during the tests.
var Bin string

// atExit holds what Main removes after the tests (such as Rootfs's tree).
var atExit []func()

// Sandboxed reports whether the tests run inside Main's sandbox, with a
// private /run among the rest: a program that keeps state at a fixed path
// there (runc's /run/runc, containerd's shim sockets) stays inside it.
func Sandboxed() bool { return os.Getenv(sandboxEnv) == "1" }

// Root reports whether the tests run as root.
func Root() bool { return os.Geteuid() == 0 }

// NeedRoot skips t, with the command that runs it, when not root. Under
// -short (make unit) it skips t even as root: -short runs only the tests
// that need no root, as a user would see them.
func NeedRoot(t testing.TB) {
	t.Helper()
	if testing.Short() {
		skip(t, "needs root: skipped with -short (make unit); make test runs it")
	}
	if !Root() {
		skip(t, "needs root: make test SUDO=1, or run as root (go test -exec sudo ./...)")
	}
}

// Main builds the packages named in build (the step under test is ".";
// "can=." names the binary) into Bin, then runs the tests: as root inside
// the sandbox, otherwise directly.
func Main(m *testing.M, build ...string) {
	if Root() && os.Getenv(sandboxEnv) == "" {
		os.Exit(runSandboxed())
	}
	if os.Getenv(sandboxEnv) == "1" {
		if err := enterSandbox(); err != nil {
			fmt.Fprintln(os.Stderr, "testenv: sandbox:", err)
			os.Exit(1)
		}
	}
	if len(build) > 0 {
		dir, err := os.MkdirTemp("", "tincan-test-bin-")
		if err != nil {
			fmt.Fprintln(os.Stderr, "testenv:", err)
			os.Exit(1)
		}
		// nobody must be able to run them, for the rootless tests.
		os.Chmod(dir, 0o755)
		Bin = dir
		for _, pkg := range build {
			if err := Build(pkg, dir); err != nil {
				say(course.Said{Fail: "the step does not build: " + err.Error()})
				fmt.Fprintln(os.Stderr, "testenv:", err)
				os.RemoveAll(dir)
				os.Exit(1)
			}
		}
		os.Setenv("PATH", dir+string(os.PathListSeparator)+os.Getenv("PATH"))
	}
	code := m.Run()
	for _, f := range atExit {
		f()
	}
	if Bin != "" {
		os.RemoveAll(Bin)
	}
	os.Exit(code)
}

// Build compiles the Go package pkg into dir, named after the package's
// directory ("." is the current one), or NAME for "NAME=pkg". Where there is
// no Go (the VM pkg/cmd/vmtest boots), $TINCAN_PREBUILT names a directory of
// binaries built beforehand, and Build copies NAME from there.
func Build(pkg, dir string) error {
	name, pkg, named := strings.Cut(pkg, "=")
	if !named {
		pkg = name
	}
	abs, err := filepath.Abs(pkg)
	if err != nil {
		return err
	}
	if !named {
		name = filepath.Base(abs)
	}
	out := filepath.Join(dir, name)
	if pre := os.Getenv(prebuiltEnv); pre != "" {
		b, err := os.ReadFile(filepath.Join(pre, name))
		if err != nil {
			return fmt.Errorf("%s=%s: %w", prebuiltEnv, pre, err)
		}
		return os.WriteFile(out, b, 0o755)
	}
	cmd := exec.Command(course.GoTool(), "build", "-o", out, ".")
	cmd.Dir = abs
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build %s: %v\n%s", pkg, err, b)
	}
	return nil
}

func runSandboxed() int {
	before := hostState()
	cmd := exec.Command("/proc/self/exe", os.Args[1:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	// Under sudo (make test SUDO=1) the steps would name what they make
	// after the user who ran sudo (pkg/owner); the tests, and the
	// transcripts, expect root's names: a test that wants a user's sets
	// SUDO_UID itself.
	cmd.Env = append(withoutEnv(os.Environ(), "SUDO_UID"), sandboxEnv+"=1")
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Cloneflags: unix.CLONE_NEWNS | unix.CLONE_NEWNET | unix.CLONE_NEWPID | unix.CLONE_NEWUTS | unix.CLONE_NEWIPC,
		Pdeathsig:  syscall.SIGKILL,
	}
	code := 0
	if err := cmd.Run(); err != nil {
		code = 1
		if ee, ok := err.(*exec.ExitError); ok && ee.ExitCode() > 0 {
			code = ee.ExitCode()
		} else {
			fmt.Fprintln(os.Stderr, "testenv: sandbox:", err)
		}
	}
	if leaks := diff(before, hostState()); len(leaks) > 0 {
		say(course.Said{Fail: "the tests left something on the host (another run's, if not yours: run again):\n" + strings.Join(leaks, "\n")})
		fmt.Fprintf(os.Stderr, "testenv: the tests left these on the host:\n\t%s\n", strings.Join(leaks, "\n\t"))
		return 1
	}
	return code
}

func enterSandbox() error {
	if err := mount.MakePrivate("/"); err != nil {
		return err
	}
	if err := mount.Mount("", "/", "", unix.MS_REC|unix.MS_SHARED, ""); err != nil {
		return err
	}
	if err := mount.Proc("/proc"); err != nil {
		return err
	}
	if err := mount.Tmpfs("/run", "mode=0755"); err != nil {
		return err
	}
	if err := unix.Sethostname([]byte("tincan-test")); err != nil {
		return err
	}
	return network.LoopbackUp()
}

// hostState lists what a test could leak on the host: mount points, network
// links, named network namespaces, and the cgroups below each hierarchy's
// tincan directory (Cgroups).
func hostState() map[string]bool {
	s := map[string]bool{}
	mountinfo, _ := os.ReadFile("/proc/self/mountinfo")
	for _, line := range strings.Split(string(mountinfo), "\n") {
		if fields := strings.Fields(line); len(fields) > 4 {
			s["mount "+fields[4]] = true
		}
	}
	for _, glob := range []string{"/sys/class/net/*", "/run/netns/*"} {
		paths, _ := filepath.Glob(glob)
		for _, p := range paths {
			s[p] = true
		}
	}
	for _, p := range cgroupDirs(string(mountinfo)) {
		s["cgroup "+p] = true
	}
	return s
}

func diff(before, after map[string]bool) []string {
	var out []string
	for k := range after {
		if !before[k] {
			out = append(out, k)
		}
	}
	sort.Strings(out)
	return out
}

// withoutEnv returns env without the variable name.
func withoutEnv(env []string, name string) []string {
	var out []string
	for _, kv := range env {
		if !strings.HasPrefix(kv, name+"=") {
			out = append(out, kv)
		}
	}
	return out
}
