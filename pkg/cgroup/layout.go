package cgroup

import (
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/moby/sys/mountinfo"
	"golang.org/x/sys/unix"
)

// Root is where cgroup filesystems are mounted on every common distribution.
const Root = "/sys/fs/cgroup"

// Layout says where each cgroup hierarchy is mounted. There are three shapes:
//
//	v2 (unified)   Root itself is cgroup2; every controller is in that one tree.
//	hybrid         Root is a tmpfs of v1 mounts, one per controller (or pair),
//	               plus a cgroup2 at Root/unified, usually with no controllers.
//	v1             Root is a tmpfs of v1 mounts only.
//
// A controller is attached to one hierarchy at a time: it is either listed in
// the unified tree's cgroup.controllers, or mounted as v1 (cgroups(7), "Cgroups
// version 1 and version 2").
type Layout struct {
	// Unified is the mount point of the cgroup2 hierarchy, "" if there is none.
	Unified string
	// V1 maps a v1 controller ("memory", "cpu", "pids"...) to the mount point
	// of its hierarchy. Co-mounted controllers, such as "cpu,cpuacct" on many
	// distributions, map to the same mount point.
	V1 map[string]string
	// base is, in the layout Delegated returns, the user's delegated
	// cgroup that Unified is, from the hierarchy's root; "" otherwise.
	base string
}

// Version names the layout: "v2", "hybrid" or "v1".
func (l *Layout) Version() string {
	switch {
	case l.Unified != "" && len(l.V1) == 0:
		return "v2"
	case l.Unified != "":
		return "hybrid"
	}
	return "v1"
}

// Detect finds the layout of this machine. Pure v2 is told by the magic number
// statfs(2) reports for Root; otherwise the mounts are read from
// /proc/self/mountinfo, because a v1 controller's place is not fixed: it may
// share a hierarchy with others ("cpu,cpuacct") or have one of its own.
func Detect() (*Layout, error) {
	var st unix.Statfs_t
	if err := unix.Statfs(Root, &st); err != nil {
		return nil, fmt.Errorf("statfs %s: %w (is the cgroup filesystem mounted?)", Root, err)
	}
	if st.Type == unix.CGROUP2_SUPER_MAGIC {
		return &Layout{Unified: Root, V1: map[string]string{}}, nil
	}
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	l, err := ParseMountinfo(f)
	if err != nil {
		return nil, err
	}
	if l.Unified == "" && len(l.V1) == 0 {
		return nil, fmt.Errorf("no cgroup filesystem is mounted under %s", Root)
	}
	return l, nil
}

// v1Controllers tells controller names from the other super options of a v1
// mount (rw, clone_children, name=..., release_agent=...).
var v1Controllers = map[string]bool{
	"blkio": true, "cpu": true, "cpuacct": true, "cpuset": true, "devices": true,
	"freezer": true, "hugetlb": true, "memory": true, "misc": true, "net_cls": true,
	"net_prio": true, "perf_event": true, "pids": true, "rdma": true,
}

// ParseMountinfo reads the cgroup and cgroup2 mounts of a mountinfo file
// (proc_pid_mountinfo(5)), as Detect does for this machine; pkg/doctor reads
// its (possibly fake) /proc with it, so both agree on what a controller is:
//
//	35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
//	(1)(2) (3) (4)      (5)                 (6)     (7)  (8)   (9)     (10)
//
// Field 4 (Root, to moby/sys/mountinfo, which parses the lines and undoes
// their octal escapes) is the directory of the hierarchy seen at the mount
// point: only mounts of a hierarchy's root ("/") can hold <root>/tincan. For
// a v1 mount, the super options (10, VFSOptions) name its controllers;
// "name=systemd" is a hierarchy with no controller at all.
func ParseMountinfo(r io.Reader) (*Layout, error) {
	mounts, err := mountinfo.GetMountsFromReader(r, mountinfo.FSTypeFilter("cgroup", "cgroup2"))
	if err != nil {
		return nil, err
	}
	l := &Layout{V1: map[string]string{}}
	for _, m := range mounts {
		if m.Root != "/" || !strings.HasPrefix(m.Mountpoint, Root) {
			continue
		}
		if m.FSType == "cgroup2" {
			l.Unified = m.Mountpoint
			continue
		}
		for _, opt := range strings.Split(m.VFSOptions, ",") {
			if v1Controllers[opt] {
				l.V1[opt] = m.Mountpoint
			}
		}
	}
	return l, nil
}
