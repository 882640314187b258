package testenv

import (
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// Delegate makes a cgroup v2 subtree that belongs to Unpriv, as systemd's
// Delegate=yes makes one for a user (the kernel's cgroup-v2.rst,
// "Delegation"): /sys/fs/cgroup/tincan-test-deleg-N, with the controllers
// the root enables for its children, its directory and its cgroup.procs,
// cgroup.subtree_control and cgroup.threads chowned to the user. Start a
// command in it with InCgroup. t.Cleanup kills what is left in it and
// removes it with all below. It skips t but on a cgroup v2 host whose root
// enables memory, cpu and pids for its children (make vmtest boots one).
func Delegate(t testing.TB) string {
	t.Helper()
	NeedRoot(t)
	const root = "/sys/fs/cgroup"
	var st unix.Statfs_t
	if err := unix.Statfs(root, &st); err != nil || st.Type != unix.CGROUP2_SUPER_MAGIC {
		t.Skip("needs a cgroup v2 host (only cgroup2 on /sys/fs/cgroup), where a subtree can be delegated to a user: make vmtest boots one")
	}
	enabled, err := os.ReadFile(filepath.Join(root, "cgroup.subtree_control"))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []string{"memory", "cpu", "pids"} {
		if !slices.Contains(strings.Fields(string(enabled)), c) {
			t.Skipf("the root cgroup does not enable %s for its children (%s/cgroup.subtree_control): no subtree can have it", c, root)
		}
	}
	dir := filepath.Join(root, fmt.Sprintf("tincan-test-deleg-%08x", rand.Uint32()))
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { removeCgroupTree(t, dir) })
	u := Unpriv()
	for _, f := range []string{"", "cgroup.procs", "cgroup.subtree_control", "cgroup.threads"} {
		if err := os.Chown(filepath.Join(dir, f), int(u.UID), int(u.GID)); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// InCgroup makes cmd start in the cgroup at dir: clone3(2) with
// CLONE_INTO_CGROUP, so that it is there before it runs.
func InCgroup(t testing.TB, cmd *exec.Cmd, dir string) {
	t.Helper()
	f, err := os.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.UseCgroupFD, cmd.SysProcAttr.CgroupFD = true, int(f.Fd())
}

// removeCgroupTree kills every process in the cgroup at dir and below
// (cgroup.kill), waits until the kernel says it is empty, and removes its
// directories, the deepest first.
func removeCgroupTree(t testing.TB, dir string) {
	if err := os.WriteFile(filepath.Join(dir, "cgroup.kill"), []byte("1"), 0); err != nil && !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("kill the processes of %s: %v", dir, err)
	}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		b, err := os.ReadFile(filepath.Join(dir, "cgroup.events"))
		if err != nil || strings.Contains(string(b), "populated 0") {
			break
		}
		if time.Now().After(deadline) {
			t.Errorf("%s still has processes 10s after cgroup.kill", dir)
			return
		}
	}
	var dirs []string
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.IsDir() {
			dirs = append(dirs, p)
		}
		return nil
	})
	slices.Reverse(dirs) // a directory comes after those it holds
	for _, d := range dirs {
		if err := unix.Rmdir(d); err != nil && !errors.Is(err, unix.ENOENT) {
			t.Errorf("rmdir %s: %v", d, err)
		}
	}
}
