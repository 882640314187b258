package cgroup

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// This machine's shape: v1 controllers each on their own (cpu and cpuacct
// apart), and a cgroup2 at unified with no controllers.
const hybridMountinfo = `23 1 0:22 / /sys rw,nosuid - sysfs sysfs rw
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
33 31 0:30 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
37 31 0:34 / /sys/fs/cgroup/freezer rw,relatime - cgroup cgroup rw,freezer
39 31 0:36 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,xattr,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
`

// A systemd v1 host: cpu and cpuacct share a hierarchy, and a bind mount of
// a cgroup below a hierarchy's root (field 4 is not "/") is no place for tincan.
const comountedMountinfo = `25 24 0:22 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid - cgroup cgroup rw,cpu,cpuacct
26 24 0:23 / /sys/fs/cgroup/memory rw,nosuid - cgroup cgroup rw,memory
27 24 0:24 /docker/abc /sys/fs/cgroup/pids rw,nosuid - cgroup cgroup rw,pids
`

func TestParseMountinfo(t *testing.T) {
	l, err := ParseMountinfo(strings.NewReader(hybridMountinfo))
	require.NoError(t, err)
	require.Equal(t, &Layout{Unified: "/sys/fs/cgroup/unified", V1: map[string]string{
		"cpu": "/sys/fs/cgroup/cpu", "cpuacct": "/sys/fs/cgroup/cpuacct", "memory": "/sys/fs/cgroup/memory",
		"freezer": "/sys/fs/cgroup/freezer", "pids": "/sys/fs/cgroup/pids",
	}}, l)
	require.Equal(t, "hybrid", l.Version())

	l, err = ParseMountinfo(strings.NewReader(comountedMountinfo))
	require.NoError(t, err)
	require.Equal(t, &Layout{V1: map[string]string{
		"cpu": "/sys/fs/cgroup/cpu,cpuacct", "cpuacct": "/sys/fs/cgroup/cpu,cpuacct", "memory": "/sys/fs/cgroup/memory",
	}}, l)
	require.Equal(t, "v1", l.Version())
	require.Equal(t, "v2", (&Layout{Unified: "/sys/fs/cgroup"}).Version())
}

// Co-mounted controllers share one directory; every limit needs its controller.
func TestPlanV1(t *testing.T) {
	l, err := ParseMountinfo(strings.NewReader(comountedMountinfo))
	require.NoError(t, err)
	dirs, err := l.plan("tincan/x", Limits{Memory: 1, CPUs: 1}, false)
	require.NoError(t, err)
	require.Equal(t, []dir{
		{path: "/sys/fs/cgroup/memory/tincan/x", root: "/sys/fs/cgroup/memory", controllers: []string{"memory"}},
		{path: "/sys/fs/cgroup/cpu,cpuacct/tincan/x", root: "/sys/fs/cgroup/cpu,cpuacct", controllers: []string{"cpu", "cpuacct"}},
	}, dirs)
	_, err = l.plan("tincan/x", Limits{Pids: 16}, false)
	require.EqualError(t, err, "a pids limit was asked for, but this machine has no pids controller (not mounted as cgroup v1)")
}

// A cgroup uses the v1 hierarchies of its limits and no other, each costing
// a mkdir, a join and an rmdir per start; where there is no cgroup2 (no
// cgroup.kill) the freezer too, to kill; with Account, all of them.
func TestPlanOnlyAsked(t *testing.T) {
	v1 := map[string]string{"memory": "/m", "cpu": "/c", "cpuacct": "/a", "pids": "/p", "freezer": "/f"}
	unified := t.TempDir() // a cgroup2 root without controllers, as here
	require.NoError(t, os.WriteFile(filepath.Join(unified, "cgroup.controllers"), nil, 0o644))
	paths := func(l *Layout, limits Limits, all bool) []string {
		dirs, err := l.plan("tincan/x", limits, all)
		require.NoError(t, err)
		var p []string
		for _, d := range dirs {
			p = append(p, d.path)
		}
		return p
	}
	hybrid := &Layout{Unified: unified, V1: v1}
	require.Equal(t, []string{filepath.Join(unified, "tincan/x"), "/m/tincan/x"}, paths(hybrid, Limits{Memory: 1}, false))
	require.Equal(t, []string{filepath.Join(unified, "tincan/x"), "/c/tincan/x", "/p/tincan/x"}, paths(hybrid, Limits{CPUs: 1, Pids: 1}, false))
	require.Equal(t, []string{"/m/tincan/x", "/f/tincan/x"}, paths(&Layout{V1: v1}, Limits{Memory: 1}, false))
	require.Len(t, paths(hybrid, Limits{Memory: 1}, true), 6)
}

// Devices alone need one directory: cgroup2's, for the BPF filter, even on a
// hybrid machine; the devices controller's (and the freezer's, to kill) on v1.
// Open looks everywhere New may have made one.
func TestPlanDevices(t *testing.T) {
	v1 := map[string]string{"memory": "/m", "pids": "/p", "freezer": "/f", "devices": "/d"}
	unified := t.TempDir() // a cgroup2 root without controllers, as here
	require.NoError(t, os.WriteFile(filepath.Join(unified, "cgroup.controllers"), nil, 0o644))
	dirs, err := (&Layout{Unified: unified, V1: v1}).plan("tincan/x", Limits{Devices: DefaultDevices}, false)
	require.NoError(t, err)
	require.Equal(t, []dir{{path: filepath.Join(unified, "tincan/x"), root: unified, v2: true}}, dirs)

	dirs, err = (&Layout{V1: v1}).plan("tincan/x", Limits{Devices: DefaultDevices}, false)
	require.NoError(t, err)
	require.Equal(t, []dir{
		{path: "/f/tincan/x", root: "/f", controllers: []string{"freezer"}},
		{path: "/d/tincan/x", root: "/d", controllers: []string{"devices"}},
	}, dirs)
	dirs, err = (&Layout{V1: v1}).plan("tincan/x", Limits{}, true)
	require.NoError(t, err)
	require.Len(t, dirs, 4)
	_, err = (&Layout{V1: map[string]string{"freezer": "/f"}}).plan("tincan/x", Limits{Devices: DefaultDevices}, false)
	require.EqualError(t, err, "a devices limit was asked for, but this machine has no devices controller (not mounted as cgroup v1)")
}

func TestDetectThisMachine(t *testing.T) {
	l, err := Detect()
	require.NoError(t, err)
	t.Logf("cgroup layout: %s, unified at %q, v1: %v", l.Version(), l.Unified, l.V1)
	if l.Version() != "v2" {
		require.NotEmpty(t, l.V1)
	}
}
