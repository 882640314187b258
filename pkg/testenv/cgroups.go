package testenv

import (
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// Cgroups lists every cgroup tincan made that is still there: each
// hierarchy's tincan directory and every directory below it, on a v2 host
// (/sys/fs/cgroup/tincan/ID), a hybrid one (/sys/fs/cgroup/memory/tincan/ID,
// ..., /sys/fs/cgroup/unified/tincan/ID) or a v1 one alike.
func Cgroups() []string {
	mountinfo, _ := os.ReadFile("/proc/self/mountinfo")
	return cgroupDirs(string(mountinfo))
}

// cgroupDirs is Cgroups for the hierarchies mounted in mountinfo
// (proc_pid_mountinfo(5)): each cgroup or cgroup2 mount of a hierarchy's root
// ("/" in field 4), where pkg/cgroup makes <mount>/tincan/<id>. A glob such as
// /sys/fs/cgroup/*/tincan/* sees the v1 layout only, and pkg/cgroup's Layout
// cannot be asked here: its own tests import testenv.
func cgroupDirs(mountinfo string) []string {
	var dirs []string
	seen := map[string]bool{}
	for _, line := range strings.Split(mountinfo, "\n") {
		pre, post, _ := strings.Cut(line, " - ")
		f, g := strings.Fields(pre), strings.Fields(post)
		if len(f) < 5 || len(g) < 1 || f[3] != "/" || (g[0] != "cgroup" && g[0] != "cgroup2") || seen[f[4]] {
			continue
		}
		seen[f[4]] = true
		filepath.WalkDir(filepath.Join(f[4], "tincan"), func(p string, d fs.DirEntry, err error) error {
			if err == nil && d.IsDir() {
				dirs = append(dirs, p)
			}
			return nil // a missing tincan directory, or one removed meanwhile
		})
	}
	sort.Strings(dirs)
	return dirs
}
