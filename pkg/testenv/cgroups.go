package testenv

import (
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/moby/sys/mountinfo"
)

// Cgroups lists every cgroup tincan made that is still there: each
// hierarchy's tincan directory and every directory below it, on a v2 host
// (/sys/fs/cgroup/tincan/ID), a hybrid one (/sys/fs/cgroup/memory/tincan/ID,
// ..., /sys/fs/cgroup/unified/tincan/ID) or a v1 one alike.
func Cgroups() []string {
	table, _ := os.ReadFile("/proc/self/mountinfo")
	return cgroupDirs(string(table))
}

// cgroupDirs is Cgroups for the hierarchies mounted in mountinfo
// (proc_pid_mountinfo(5)): each cgroup or cgroup2 mount of a hierarchy's root
// ("/" in field 4), where pkg/cgroup makes <mount>/tincan/<id>. A glob such as
// /sys/fs/cgroup/*/tincan/* sees the v1 layout only, and pkg/cgroup's Layout
// cannot be asked here: its own tests import testenv.
func cgroupDirs(table string) []string {
	var dirs []string
	seen := map[string]bool{}
	mounts, _ := mountinfo.GetMountsFromReader(strings.NewReader(table), mountinfo.FSTypeFilter("cgroup", "cgroup2"))
	for _, m := range mounts {
		if m.Root != "/" || seen[m.Mountpoint] {
			continue
		}
		seen[m.Mountpoint] = true
		filepath.WalkDir(filepath.Join(m.Mountpoint, "tincan"), func(p string, d fs.DirEntry, err error) error {
			if err == nil && d.IsDir() {
				dirs = append(dirs, p)
			}
			return nil // a missing tincan directory, or one removed meanwhile
		})
	}
	sort.Strings(dirs)
	return dirs
}
