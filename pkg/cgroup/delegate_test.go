package cgroup

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// fakeDelegation makes, in a fake v2 tree (fakeV2) with controllers, the
// cgroup /tincan-test-user that root delegated to a user, holding the
// processes in pids, and makes the caller's cgroup be own. Writes act as
// the kernel's: a PID written to a cgroup.procs leaves every other one, and
// a cgroup with processes cannot enable controllers for its children
// (EBUSY). It returns the tree's layout and the delegated directory.
func fakeDelegation(t *testing.T, controllers, own string, pids ...string) (*Layout, string) {
	root, _ := fakeV2(t, controllers)
	require.NoError(t, os.WriteFile(filepath.Join(root, "cgroup.subtree_control"), []byte("+"+strings.ReplaceAll(controllers, " ", " +")), 0o644))
	dir := filepath.Join(root, "tincan-test-user")
	require.NoError(t, mkdirFunc(dir))
	writeFiles(t, dir, map[string]string{"cgroup.procs": strings.Join(pids, "\n")})

	oldSelf, oldWrite := selfCgroup, writeFunc
	t.Cleanup(func() { selfCgroup, writeFunc = oldSelf, oldWrite })
	selfCgroup = func() (string, error) { return own, nil }
	writeFunc = func(path, value string) error {
		switch filepath.Base(path) {
		case "cgroup.procs":
			filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
				if err == nil && d.Name() == "cgroup.procs" {
					pids := strings.Fields(readFile(t, p))
					pids = slices.DeleteFunc(pids, func(pid string) bool { return pid == value })
					writeFiles(t, filepath.Dir(p), map[string]string{"cgroup.procs": strings.Join(append(pids, ""), "\n")})
				}
				return nil
			})
			f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
			if err != nil {
				return err
			}
			_, err = f.WriteString(value + "\n")
			return errors.Join(err, f.Close())
		case "cgroup.subtree_control":
			if d := filepath.Dir(path); d != root && strings.TrimSpace(readFile(t, filepath.Join(d, "cgroup.procs"))) != "" {
				return unix.EBUSY
			}
		}
		return oldWrite(path, value)
	}
	return &Layout{Unified: root, V1: map[string]string{}}, dir
}

// A user's cgroup goes under their delegated cgroup, after its processes
// have moved into tincan-init: its limits are set there, Open finds it from
// tincan-init, and Destroy leaves tincan-init, where the user's processes are.
func TestDelegatedFake(t *testing.T) {
	l, dir := fakeDelegation(t, "cpu memory pids", "/tincan-test-user", "100", "101")
	u, err := l.Delegated(Limits{Memory: 8 << 20, Pids: 4})
	require.NoError(t, err)
	require.Equal(t, dir, u.Unified)
	require.Empty(t, u.V1, "v1 hierarchies are never delegated")
	require.Equal(t, "", strings.TrimSpace(readFile(t, filepath.Join(dir, "cgroup.procs"))))
	require.Equal(t, "100\n101\n", readFile(t, filepath.Join(dir, InitGroup, "cgroup.procs")))

	cg, err := u.New("1000-tincan-test-x", Limits{Memory: 8 << 20, Pids: 4})
	require.NoError(t, err)
	leaf := filepath.Join(dir, "tincan", "1000-tincan-test-x")
	require.Equal(t, []string{leaf}, cg.Paths())
	require.Equal(t, "/tincan-test-user/tincan/1000-tincan-test-x", cg.Path)
	require.Equal(t, "+cpu +memory +pids", readFile(t, filepath.Join(dir, "cgroup.subtree_control")))
	require.Equal(t, "8388608", readFile(t, filepath.Join(leaf, "memory.max")))
	require.Equal(t, "4", readFile(t, filepath.Join(leaf, "pids.max")))

	// The next run starts in tincan-init: the same place, nothing moved.
	selfCgroup = func() (string, error) { return "/tincan-test-user/" + InitGroup, nil }
	again, err := l.Delegated(Limits{Pids: 1})
	require.NoError(t, err)
	require.Equal(t, u, again)
	opened, err := l.userLayout()
	require.NoError(t, err)
	found, err := opened.Open("1000-tincan-test-x")
	require.NoError(t, err)
	require.Equal(t, cg.Paths(), found.Paths())
	require.Equal(t, cg.Path, found.Path)
	require.NoError(t, found.Destroy())
	require.NoDirExists(t, filepath.Join(dir, "tincan"))
	require.DirExists(t, filepath.Join(dir, InitGroup))
}

// Where there is no delegation, one line says what is missing and how to
// get it, and nothing is made or moved.
func TestDelegatedRefused(t *testing.T) {
	limits := Limits{Memory: 8 << 20, CPUs: 0.5}
	l, dir := fakeDelegation(t, "memory pids", "/tincan-test-user", "100")
	_, err := l.Delegated(limits)
	require.EqualError(t, err, "a memory, cpu limit without root needs the cpu controller delegated to your cgroup /tincan-test-user (it has: memory pids): "+
		"the cgroup above must enable it (systemd: Delegate=cpu memory pids for user@.service, through systemctl edit user@.service), or run as root")

	oldWritable := writable
	t.Cleanup(func() { writable = oldWritable })
	writable = func(path string) bool { return filepath.Base(path) != "cgroup.procs" }
	_, err = l.Delegated(Limits{Memory: 8 << 20})
	prog := filepath.Base(os.Args[0])
	require.EqualError(t, err, "a memory limit without root needs a cgroup delegated to you, and yours (/tincan-test-user) is not: cgroup.procs is not yours to write; "+
		"run in one of your own, systemd-run --user --scope -p Delegate=yes "+prog+" ..., or as root")
	require.NoDirExists(t, filepath.Join(dir, InitGroup))
	require.Equal(t, "100", readFile(t, filepath.Join(dir, "cgroup.procs")))

	// This machine's layout: memory and blkio in v1, a unified tree without them.
	l, _ = fakeDelegation(t, "", "/tincan-test-user")
	hybrid := &Layout{Unified: l.Unified, V1: map[string]string{"blkio": "/sys/fs/cgroup/blkio", "memory": "/sys/fs/cgroup/memory"}}
	_, err = hybrid.Delegated(Limits{Memory: 8 << 20, BlkioWeight: 100})
	require.EqualError(t, err, "a memory, io limit without root needs cgroup v2, and memory is a v1 controller here (hybrid), which is never delegated to a user: run as root")
	_, err = (&Layout{V1: hybrid.V1}).Delegated(Limits{Pids: 1})
	require.EqualError(t, err, "a pids limit without root needs cgroup v2, and this machine has only v1, which is never delegated to a user: run as root")
}

func TestOwnCgroup(t *testing.T) {
	file := filepath.Join(t.TempDir(), "cgroup")
	require.NoError(t, os.WriteFile(file, []byte("12:pids:/user.slice\n1:name=systemd:/user.slice/user-1000.slice/session-2.scope\n0::/user.slice/user-1000.slice/user@1000.service/app.slice/run-r1.scope\n"), 0o644))
	own, err := ownCgroup(file)
	require.NoError(t, err)
	require.Equal(t, "/user.slice/user-1000.slice/user@1000.service/app.slice/run-r1.scope", own)
	require.NoError(t, os.WriteFile(file, []byte("12:pids:/\n"), 0o644))
	_, err = ownCgroup(file)
	require.ErrorContains(t, err, "no cgroup v2 line")
}
