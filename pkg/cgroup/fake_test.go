package cgroup

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// fakeV2 makes a cgroup2 tree in a temporary directory, with controllers
// available at its root, and makes mkdir and rmdir act as they do in a
// cgroup2 filesystem: a new cgroup gets the core files, plus the files of each
// controller its parent enabled in cgroup.subtree_control; rmdir refuses a
// cgroup with children. It returns the root and the list of rmdirs made.
func fakeV2(t *testing.T, controllers string) (string, *[]string) {
	root := t.TempDir()
	writeFiles(t, root, map[string]string{
		"cgroup.controllers": controllers, "cgroup.subtree_control": "", "cgroup.procs": "",
	})
	var removed []string
	oldMkdir, oldRmdir := mkdirFunc, rmdirFunc
	t.Cleanup(func() { mkdirFunc, rmdirFunc = oldMkdir, oldRmdir })
	mkdirFunc = func(path string) error {
		enabled, err := os.ReadFile(filepath.Join(filepath.Dir(path), "cgroup.subtree_control"))
		if err != nil {
			return unix.ENOENT
		}
		if err := os.Mkdir(path, 0o755); err != nil {
			return err
		}
		ctrls := strings.ReplaceAll(string(enabled), "+", "")
		files := map[string]string{
			"cgroup.controllers": ctrls, "cgroup.subtree_control": "", "cgroup.procs": "",
			"cgroup.kill": "", "cpu.stat": "usage_usec 0\nuser_usec 0\nsystem_usec 0\n",
			"cgroup.freeze": "0", "cgroup.events": "populated 0\nfrozen 0\n",
		}
		for _, c := range strings.Fields(ctrls) {
			switch c {
			case "memory":
				files["memory.max"], files["memory.swap.max"] = "max", "max"
				files["memory.events"], files["memory.peak"] = "low 0\nhigh 0\nmax 0\noom 0\noom_kill 0\n", "0"
				files["memory.low"], files["memory.high"] = "0", "max"
			case "cpu":
				files["cpu.max"], files["cpu.weight"] = "max 100000", "100"
			case "cpuset":
				files["cpuset.cpus"], files["cpuset.mems"] = "", ""
			case "io":
				files["io.weight"] = "default 100"
			case "pids":
				files["pids.max"], files["pids.events"] = "max", "max 0"
			}
		}
		writeFiles(t, path, files)
		return nil
	}
	rmdirFunc = func(path string) error {
		removed = append(removed, strings.TrimPrefix(path, root))
		ents, err := os.ReadDir(path)
		if err != nil {
			return unix.ENOENT
		}
		for _, e := range ents {
			if e.IsDir() {
				return unix.ENOTEMPTY
			}
		}
		return os.RemoveAll(path)
	}
	return root, &removed
}

func writeFiles(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, content := range files {
		require.NoError(t, os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644))
	}
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	return string(b)
}

func TestV2FakeTree(t *testing.T) {
	root, removed := fakeV2(t, "cpuset cpu io memory pids")
	l := &Layout{Unified: root}
	cg, err := l.New("tincan-test-v2", Limits{Memory: 8 << 20, CPUs: 0.5, Pids: 16})
	require.NoError(t, err)
	leaf := filepath.Join(root, "tincan", "tincan-test-v2")
	require.Equal(t, []string{leaf}, cg.Paths())

	// Each ancestor enabled the controllers for its children; the root
	// enabled no more than it was asked (not cpuset, not io).
	require.Equal(t, "+cpu +memory +pids", readFile(t, filepath.Join(root, "cgroup.subtree_control")))
	require.Equal(t, "+cpu +memory +pids", readFile(t, filepath.Join(root, "tincan", "cgroup.subtree_control")))
	require.Equal(t, "", readFile(t, filepath.Join(leaf, "cgroup.subtree_control")), "the leaf holds processes: it must enable nothing")
	require.Equal(t, "8388608", readFile(t, filepath.Join(leaf, "memory.max")))
	require.Equal(t, "0", readFile(t, filepath.Join(leaf, "memory.swap.max")))
	require.Equal(t, "50000 100000", readFile(t, filepath.Join(leaf, "cpu.max")))
	require.Equal(t, "16", readFile(t, filepath.Join(leaf, "pids.max")))

	require.NoError(t, cg.Join(4242))
	require.Equal(t, "4242", readFile(t, filepath.Join(leaf, "cgroup.procs")))

	// What the kernel would have counted, as its files say it.
	writeFiles(t, leaf, map[string]string{
		"memory.events": "low 0\nhigh 0\nmax 12\noom 1\noom_kill 1\noom_group_kill 0\n",
		"memory.peak":   "8384512\n",
		"cpu.stat":      "usage_usec 1500000\nuser_usec 1400000\nsystem_usec 100000\nnr_periods 30\nnr_throttled 7\nthrottled_usec 900000\n",
		"pids.events":   "max 3\n",
	})
	st, err := cg.Result()
	require.NoError(t, err)
	require.Equal(t, Stats{OOMKilled: true, MemoryPeak: 8384512, CPUTime: 1500 * time.Millisecond, Throttled: 7, PidsRefused: 3}, st)

	// Destroy kills with cgroup.kill, then removes the leaf before its parent.
	require.NoError(t, cg.Destroy())
	require.Equal(t, []string{"/tincan/tincan-test-v2", "/tincan"}, *removed)
	require.NoDirExists(t, filepath.Join(root, "tincan"))
	require.NoError(t, cg.Destroy(), "a second Destroy is a no-op")
	require.Len(t, *removed, 2)
}

// The tincan directory stays while another container's cgroup is in it.
func TestV2ParentKeptWhileInUse(t *testing.T) {
	root, removed := fakeV2(t, "memory")
	l := &Layout{Unified: root}
	a, err := l.New("tincan-test-a", Limits{})
	require.NoError(t, err)
	b, err := l.New("tincan-test-b", Limits{})
	require.NoError(t, err)
	_, err = l.New("tincan-test-a", Limits{})
	require.ErrorIs(t, err, os.ErrExist)
	require.ErrorContains(t, err, "another container uses this id")
	require.NoError(t, a.Destroy())
	require.DirExists(t, filepath.Join(root, "tincan", "tincan-test-b"))
	require.NoError(t, b.Destroy())
	// The failed New tried the parent too (in vain: it is not empty).
	require.Equal(t, []string{"/tincan", "/tincan/tincan-test-a", "/tincan", "/tincan/tincan-test-b", "/tincan"}, *removed)
	require.NoDirExists(t, filepath.Join(root, "tincan"))
}

// A limit whose controller the tree does not have is refused, and nothing is
// left behind. A tree without controllers (this machine's unified hierarchy)
// still makes a cgroup, and writes no cgroup.subtree_control.
func TestV2MissingController(t *testing.T) {
	root, _ := fakeV2(t, "cpu pids")
	_, err := (&Layout{Unified: root}).New("tincan-test-x", Limits{Memory: 1 << 20})
	require.EqualError(t, err, "a memory limit was asked for, but this machine has no memory controller (not in "+
		root+"/cgroup.controllers, not mounted as cgroup v1)")
	require.NoDirExists(t, filepath.Join(root, "tincan"))

	root, _ = fakeV2(t, "")
	cg, err := (&Layout{Unified: root}).New("tincan-test-x", Limits{})
	require.NoError(t, err)
	require.Equal(t, "", readFile(t, filepath.Join(root, "cgroup.subtree_control")))
	require.NoError(t, cg.Destroy())
}

// A concurrent Destroy may remove the empty tincan directory between New's
// two mkdirs: New makes it again.
func TestV2ParentRemovedMeanwhile(t *testing.T) {
	root, _ := fakeV2(t, "pids")
	fake := mkdirFunc
	raced := false
	mkdirFunc = func(path string) error {
		if filepath.Base(path) == "tincan-test-x" && !raced {
			raced = true
			require.NoError(t, os.RemoveAll(filepath.Dir(path)))
		}
		return fake(path)
	}
	cg, err := (&Layout{Unified: root}).New("tincan-test-x", Limits{Pids: 2})
	require.NoError(t, err)
	require.True(t, raced)
	require.Equal(t, "2", readFile(t, filepath.Join(root, "tincan", "tincan-test-x", "pids.max")))
	require.NoError(t, cg.Destroy())
}

// A write the kernel refuses undoes what New made.
func TestV2FailedLimitCleansUp(t *testing.T) {
	root, _ := fakeV2(t, "cpu")
	fake := mkdirFunc
	mkdirFunc = func(path string) error {
		if err := fake(path); err != nil {
			return err
		}
		os.Remove(filepath.Join(path, "cpu.max")) // as if the kernel had no such file
		return nil
	}
	_, err := (&Layout{Unified: root}).New("tincan-test-x", Limits{CPUs: 1})
	require.True(t, errors.Is(err, os.ErrNotExist), "%v", err)
	require.ErrorContains(t, err, `write "100000 100000" to `+root+"/tincan/tincan-test-x/cpu.max")
	require.NoDirExists(t, filepath.Join(root, "tincan"))
}

// Open finds a cgroup that New made, and its Destroy removes it; an id with
// no directory anywhere is not found.
func TestV2Open(t *testing.T) {
	root, removed := fakeV2(t, "memory pids")
	l := &Layout{Unified: root}
	_, err := l.New("tincan-test-x", Limits{Pids: 4})
	require.NoError(t, err)
	cg, err := l.Open("tincan-test-x")
	require.NoError(t, err)
	require.Equal(t, []string{filepath.Join(root, "tincan", "tincan-test-x")}, cg.Paths())
	require.NoError(t, cg.Destroy())
	require.Equal(t, []string{"/tincan/tincan-test-x", "/tincan"}, *removed)
	_, err = l.Open("tincan-test-x")
	require.ErrorIs(t, err, os.ErrNotExist)
	_, err = l.Open("../x")
	require.EqualError(t, err, `cgroup id "../x": must be a plain directory name`)
}

// NewAt at a cgroupsPath: each ancestor enables the controllers for its
// children, every OCI limit goes to its v2 file, and Destroy removes the
// leaf and the parent it made.
func TestV2FakeNewAtLimits(t *testing.T) {
	root, removed := fakeV2(t, "cpuset cpu io memory pids hugetlb")
	l := &Layout{Unified: root}
	cg, err := l.NewAt("/tincan-test-a/b", "b", Limits{
		Memory: 64 << 20, MemorySwap: 96 << 20, MemoryReservation: 32 << 20, DisableOOMKiller: true,
		CPUs: 1, CPUShares: 1024, CPUQuota: 50000, CPUPeriod: 200000, CPUSetCPUs: "0-1", CPUSetMems: "0",
		BlkioWeight: 500, Unified: map[string]string{"memory.high": "60M"},
	})
	require.NoError(t, err)
	leaf := filepath.Join(root, "tincan-test-a", "b")
	require.Equal(t, []string{leaf}, cg.Paths())
	require.Equal(t, "/tincan-test-a/b", cg.Path)
	require.Equal(t, []string{filepath.Join(root, "tincan-test-a")}, cg.Made)
	for _, dir := range []string{root, filepath.Join(root, "tincan-test-a")} {
		require.Equal(t, "+cpuset +cpu +io +memory +pids", readFile(t, filepath.Join(dir, "cgroup.subtree_control")))
	}
	for file, want := range map[string]string{
		"memory.max": "67108864", "memory.swap.max": "33554432", "memory.low": "33554432", "memory.high": "60M",
		"cpu.max": "50000 200000", "cpu.weight": "39", "cpuset.cpus": "0-1", "cpuset.mems": "0",
		"io.weight": "4950", // 1 + (500-10)*9999/990: BFQ's range onto io.weight's
	} {
		require.Equal(t, want, readFile(t, filepath.Join(leaf, file)), file)
	}
	require.NoError(t, cg.Destroy())
	require.Equal(t, []string{"/tincan-test-a/b", "/tincan-test-a"}, *removed)
	require.NoDirExists(t, filepath.Join(root, "tincan-test-a"))
}

// Unlimited swap and quota are "max"; with BFQ, io.bfq.weight takes the
// weight as it is; a parent NewAt did not make stays, and OpenAt finds the
// cgroup by its path.
func TestV2FakeNewAtExistingParent(t *testing.T) {
	root, removed := fakeV2(t, "cpu io memory")
	require.NoError(t, mkdirFunc(filepath.Join(root, "tincan-test-p")))
	fake := mkdirFunc
	mkdirFunc = func(path string) error {
		err := fake(path)
		if err == nil {
			writeFiles(t, path, map[string]string{"io.bfq.weight": "default 100"})
		}
		return err
	}
	l := &Layout{Unified: root}
	cg, err := l.NewAt("/tincan-test-p/x", "x", Limits{Memory: 8 << 20, MemorySwap: -1, CPUQuota: -1, CPUPeriod: 50000, BlkioWeight: 500})
	require.NoError(t, err)
	leaf := filepath.Join(root, "tincan-test-p", "x")
	require.Empty(t, cg.Made)
	require.Equal(t, "max", readFile(t, filepath.Join(leaf, "memory.swap.max")))
	require.Equal(t, "max 50000", readFile(t, filepath.Join(leaf, "cpu.max")))
	require.Equal(t, "500", readFile(t, filepath.Join(leaf, "io.bfq.weight")))
	require.Equal(t, "default 100", readFile(t, filepath.Join(leaf, "io.weight")))

	_, err = l.NewAt("/tincan-test-p/x", "x", Limits{})
	require.ErrorContains(t, err, "another container uses this cgroup path")
	opened, err := l.OpenAt("/tincan-test-p/x")
	require.NoError(t, err)
	require.Equal(t, cg.Paths(), opened.Paths())
	require.Equal(t, "x", opened.ID)
	require.NoError(t, opened.Destroy())
	require.Equal(t, []string{"/tincan-test-p/x"}, *removed)
	require.DirExists(t, filepath.Join(root, "tincan-test-p"))
	_, err = l.OpenAt("")
	require.Error(t, err)
}

// Freeze writes cgroup.freeze and waits for the kernel's "frozen 1" in
// cgroup.events, woken by inotify: here a goroutine plays the kernel, a
// moment later. Procs reads cgroup.procs of the cgroup and those below it.
func TestV2FakeFreezeAndProcs(t *testing.T) {
	root, _ := fakeV2(t, "")
	cg, err := (&Layout{Unified: root}).New("tincan-test-x", Limits{})
	require.NoError(t, err)
	t.Cleanup(func() { cg.Destroy() })
	leaf := cg.Paths()[0]
	oldWrite := writeFunc
	t.Cleanup(func() { writeFunc = oldWrite })
	done := make(chan struct{}, 2)
	writeFunc = func(path, value string) error {
		if err := oldWrite(path, value); err != nil || filepath.Base(path) != "cgroup.freeze" {
			return err
		}
		go func() {
			time.Sleep(10 * time.Millisecond)
			// One write of as many bytes, not truncate then write: a
			// reader woken in between would find the file empty.
			f, err := os.OpenFile(filepath.Join(filepath.Dir(path), "cgroup.events"), os.O_WRONLY, 0)
			if err == nil {
				f.WriteString("populated 0\nfrozen " + value + "\n")
				f.Close()
			}
			done <- struct{}{}
		}()
		return nil
	}
	frozen, err := cg.State()
	require.NoError(t, err)
	require.False(t, frozen)
	require.NoError(t, cg.Freeze())
	<-done
	require.Equal(t, "1", readFile(t, filepath.Join(leaf, "cgroup.freeze")))
	frozen, err = cg.State()
	require.NoError(t, err)
	require.True(t, frozen)
	require.NoError(t, cg.Thaw())
	<-done
	frozen, err = cg.State()
	require.NoError(t, err)
	require.False(t, frozen)

	writeFiles(t, leaf, map[string]string{"cgroup.procs": "7\n5\n"})
	require.NoError(t, os.Mkdir(filepath.Join(leaf, "sub"), 0o755))
	writeFiles(t, filepath.Join(leaf, "sub"), map[string]string{"cgroup.procs": "9\n5\n"})
	pids, err := cg.Procs()
	require.NoError(t, err)
	require.Equal(t, []int{5, 7, 9}, pids)
	require.NoError(t, os.RemoveAll(filepath.Join(leaf, "sub")))
}
