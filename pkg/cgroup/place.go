package cgroup

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"golang.org/x/sys/unix"

	"tincan.dev/pkg/trace"
)

// Where a cgroup goes. can's own containers go to <hierarchy>/tincan/<id>.
// An OCI bundle names its place itself, in linux.cgroupsPath: a path taken
// from the root of every hierarchy ("/default/<id>" from containerd,
// "/libpod_parent/libpod-<id>" from podman), the same path in each v1
// hierarchy and in the unified one.
//
// runc nests a relative cgroupsPath under its caller's own cgroup; tincan
// never does (a service manager may own that cgroup), so a relative path is
// refused. systemd's "slice:prefix:name" form asks runc to have systemd make
// the cgroup over D-Bus; tincan writes cgroupfs itself, so that is refused
// too, with the flag that makes podman give a path instead.

// New makes cgroup id on this machine's hierarchies with limits set, at
// <hierarchy>/tincan/<id>; for a caller without root, in the cgroup v2
// subtree delegated to them (Delegated).
func New(id string, limits Limits) (*Cgroup, error) { return NewAt("", id, limits) }

// NewAt makes cgroup id at path, an OCI linux.cgroupsPath (absolute, from
// each hierarchy's root), with limits set; path "" is New's tincan/<id>.
func NewAt(path, id string, limits Limits) (*Cgroup, error) {
	l, err := Detect()
	if err != nil {
		return nil, err
	}
	if path == "" && os.Geteuid() != 0 {
		if l, err = l.Delegated(limits); err != nil {
			return nil, err
		}
	}
	return l.NewAt(path, id, limits)
}

// New makes cgroup id in the hierarchies of l, with limits set. Call Destroy
// when done, whether or not a process ever joined it.
func (l *Layout) New(id string, limits Limits) (*Cgroup, error) { return l.NewAt("", id, limits) }

// NewAt makes cgroup id at path in the hierarchies of l, and the directories
// above it that are missing. Call Destroy when done.
func (l *Layout) NewAt(path, id string, limits Limits) (*Cgroup, error) {
	rel, err := place(path, id)
	if err != nil {
		return nil, err
	}
	if err := limits.Validate(); err != nil {
		return nil, err
	}
	dirs, err := l.plan(rel, limits, limits.Account)
	if err != nil {
		return nil, err
	}
	cg := &Cgroup{ID: id, Path: l.path(rel), Limits: limits, delegated: l.base != ""}
	for _, d := range dirs {
		var made []string
		made, err = create(d, path == "", limits.cpuset() || limits.Account)
		if err != nil {
			break
		}
		cg.dirs = append(cg.dirs, d)
		cg.Made = append(cg.Made, made...)
	}
	if err == nil {
		err = cg.setLimits()
	}
	if err == nil && limits.Devices != nil {
		err = cg.setDevices(limits.Devices)
	}
	if err != nil {
		cg.Destroy()
		return nil, err
	}
	return cg, nil
}

// Open finds cgroup id, made earlier by New in this or another process
// (say, by a runtime that died), so that Result, Kill and Destroy work on it.
// Its Limits read as zero: they are in the kernel's files, not remembered.
// Without root, it looks where New makes a user's cgroups: the caller's
// delegated cgroup (Delegated), which it does not change.
func Open(id string) (*Cgroup, error) {
	l, err := Detect()
	if err != nil {
		return nil, err
	}
	if os.Geteuid() != 0 {
		if l, err = l.userLayout(); err != nil {
			return nil, err
		}
	}
	return l.Open(id)
}

// OpenAt finds the cgroup NewAt made at path (a cgroupsPath, not ""). Its
// Made is empty: the caller that kept NewAt's may set it back, for Destroy
// to remove those parents too.
func OpenAt(path string) (*Cgroup, error) {
	l, err := Detect()
	if err != nil {
		return nil, err
	}
	return l.OpenAt(path)
}

// Open finds cgroup id in the hierarchies of l.
func (l *Layout) Open(id string) (*Cgroup, error) { return l.open("", id) }

// OpenAt finds the cgroup at path in the hierarchies of l.
func (l *Layout) OpenAt(path string) (*Cgroup, error) {
	if path == "" {
		return nil, errors.New(`open a cgroup at path "": give the cgroupsPath it was made at, or Open its id`)
	}
	return l.open(path, filepath.Base(path))
}

func (l *Layout) open(path, id string) (*Cgroup, error) {
	rel, err := place(path, id)
	if err != nil {
		return nil, err
	}
	dirs, err := l.plan(rel, Limits{}, true)
	if err != nil {
		return nil, err
	}
	cg := &Cgroup{ID: id, Path: l.path(rel), dirs: existing(dirs), delegated: l.base != ""}
	if len(cg.dirs) == 0 {
		return nil, fmt.Errorf("cgroup %s: %w in any hierarchy", cg.Path, fs.ErrNotExist)
	}
	return cg, nil
}

// path is the Path of the cgroup at rel in l: from the root of the
// hierarchy, which for a user's layout is above its Unified.
func (l *Layout) path(rel string) string { return filepath.Join("/", l.base, rel) }

// place returns the cgroup's directory relative to each hierarchy's root:
// tincan/<id>, or the cleaned cgroupsPath.
func place(path, id string) (string, error) {
	if path == "" {
		if id == "" || id == "." || id == ".." || strings.Contains(id, "/") {
			return "", fmt.Errorf("cgroup id %q: must be a plain directory name", id)
		}
		return "tincan/" + id, nil
	}
	switch {
	case strings.Contains(path, ":"):
		return "", fmt.Errorf("cgroupsPath %q is systemd's slice:prefix:name form: tincan makes cgroups itself (cgroupfs), give an absolute path (podman: --cgroup-manager cgroupfs)", path)
	case !strings.HasPrefix(path, "/"):
		return "", fmt.Errorf("cgroupsPath %q is relative: runc would put it under its caller's own cgroup, tincan never does; give an absolute path such as /tincan/%s", path, id)
	case slices.Contains(strings.Split(path, "/"), ".."):
		return "", fmt.Errorf("cgroupsPath %q has a \"..\": give a path that stays inside the hierarchy", path)
	case filepath.Clean(path) == "/":
		return "", fmt.Errorf("cgroupsPath %q is the root of the hierarchy: give a directory under it", path)
	}
	return strings.TrimPrefix(filepath.Clean(path), "/"), nil
}

// plan chooses a directory in each hierarchy the limits need, rel being its
// path from the hierarchy's root; all of them (every hierarchy NewAt may have
// used) when opening one made earlier.
//
// On cgroup2 that is one directory, which New always makes: it holds the
// device filter and cgroup.kill, and a process is cloned straight into it
// (CloneInto). v1 needs a directory per hierarchy, and each costs a mkdir,
// a write to join it and an rmdir, on every start. So a cgroup uses the v1
// hierarchies of the limits it sets, and no other, but for the freezer where
// there is no cgroup2 (Kill's way to stop forks without cgroup.kill) and
// devices there for the allowlist; with Account (an OCI container, as runc
// makes them) it uses memory, cpu, cpuacct, pids and the freezer, limits or
// not, for engines to read what it used and to pause it (Freeze).
// On v1, cpuset and blkio are used only when asked for: a new v1 cpuset
// cgroup starts with no CPUs and no memory nodes, and no process can join it
// until both are set (create copies them down).
func (l *Layout) plan(rel string, limits Limits, all bool) ([]dir, error) {
	var dirs []dir
	served := map[string]bool{}
	if l.Unified != "" {
		avail, err := os.ReadFile(filepath.Join(l.Unified, "cgroup.controllers"))
		if err != nil {
			return nil, err
		}
		want := map[string]bool{"memory": true, "cpu": true, "pids": true,
			"cpuset": all || limits.cpuset(), "io": all || limits.BlkioWeight > 0}
		for key := range limits.Unified {
			c, _, _ := strings.Cut(key, ".")
			want[c] = true
		}
		d := dir{path: filepath.Join(l.Unified, rel), root: l.Unified, v2: true}
		for _, c := range strings.Fields(string(avail)) {
			if want[c] {
				d.controllers = append(d.controllers, c)
				served[c] = true
			}
		}
		served["blkio"] = served["io"]
		dirs = append(dirs, d)
	}
	var v1 []string
	if all {
		v1 = append(v1, "memory", "cpu", "cpuacct", "pids", "freezer")
	} else {
		for _, c := range limits.controllers() {
			switch c {
			case "memory", "cpu", "pids":
				v1 = append(v1, c)
			}
		}
		if slices.Contains(v1, "cpu") && l.V1["cpuacct"] == l.V1["cpu"] {
			v1 = append(v1, "cpuacct") // mounted with cpu: no directory more
		}
		if l.Unified == "" {
			v1 = append(v1, "freezer")
		}
	}
	if all || limits.cpuset() {
		v1 = append(v1, "cpuset")
	}
	if all || limits.BlkioWeight > 0 {
		v1 = append(v1, "blkio")
	}
	if all || l.Unified == "" && limits.Devices != nil {
		v1 = append(v1, "devices")
	}
	inDir := map[string]int{} // v1 mount point -> index in dirs
	for _, c := range v1 {
		mnt := l.V1[c]
		if served[c] || mnt == "" {
			continue
		}
		served[c] = true
		if i, ok := inDir[mnt]; ok { // co-mounted, as in "cpu,cpuacct"
			dirs[i].controllers = append(dirs[i].controllers, c)
			continue
		}
		inDir[mnt] = len(dirs)
		dirs = append(dirs, dir{path: filepath.Join(mnt, rel), root: mnt, controllers: []string{c}})
	}
	for _, c := range limits.controllers() {
		if c == "devices" && l.Unified != "" { // the BPF program needs no controller
			continue
		}
		if !served[c] {
			name, where := c, "not mounted as cgroup v1"
			if c == "blkio" {
				name = "blkio (cgroup2: io)"
			}
			if l.Unified != "" {
				where = "not in " + filepath.Join(l.Unified, "cgroup.controllers") + ", " + where
			}
			return nil, fmt.Errorf("a %s limit was asked for, but this machine has no %s controller (%s)", c, name, where)
		}
	}
	if len(dirs) == 0 {
		return nil, fmt.Errorf("no cgroup hierarchy with a controller tincan uses is mounted under %s", Root)
	}
	return dirs, nil
}

// create makes d.path and the directories above it that are missing, from
// the hierarchy's root down, and returns those it made above the leaf, the
// deepest first. On v2 a controller's files appear in a cgroup only when
// its parent lists the controller in cgroup.subtree_control, so each
// ancestor enables them on the way down. On v1 with cpuset, each directory
// gets its parent's CPUs and memory nodes (see copyCpuset). Another
// program's Destroy may remove an empty parent between our mkdirs: then we
// start again. (mkdir says ENOENT then; a write to the removed directory's
// cgroup.subtree_control, ENODEV.) tincan says the path is New's
// <hierarchy>/tincan/<id>, whose tincan directory is shared: it is removed
// when empty (removeParent), whoever made it, and so not listed.
func create(d dir, tincan, cpuset bool) ([]string, error) {
	rel, err := filepath.Rel(d.root, d.path)
	if err != nil {
		return nil, err
	}
	parts := strings.Split(rel, "/")
	var made []string
	for try := 1; ; try++ {
		made = made[:0]
		err = nil
		at := d.root
		for i, p := range parts {
			if d.v2 && len(d.controllers) > 0 {
				enable := "+" + strings.Join(d.controllers, " +")
				if err = write(filepath.Join(at, "cgroup.subtree_control"), enable); err != nil {
					break
				}
			}
			at = filepath.Join(at, p)
			err = mkdir(at)
			leaf := i == len(parts)-1
			switch {
			case err == nil && !leaf:
				made = append(made, at)
			case errors.Is(err, fs.ErrExist) && !leaf:
				err = nil
			case errors.Is(err, fs.ErrExist):
				who := "this cgroup path"
				if tincan {
					who = "this id"
				}
				err = fmt.Errorf("%w: another container uses %s", err, who)
			}
			if err == nil && cpuset && !d.v2 && slices.Contains(d.controllers, "cpuset") {
				err = copyCpuset(at)
			}
			if err == nil && leaf && d.v2 && !hasControllers(at, d.controllers) {
				// Between our enabling them above and the mkdir, another
				// program's Destroy removed an empty parent and a third
				// made it again, without our controllers: start again.
				unix.Rmdir(at)
				err = unix.ENODEV
			}
			if err != nil {
				break
			}
		}
		if !errors.Is(err, fs.ErrNotExist) && !errors.Is(err, unix.ENODEV) || try == 5 {
			break
		}
	}
	slices.Reverse(made)
	if err != nil {
		removeMade(made)
		if tincan {
			removeParent(d.path)
		}
		return nil, err
	}
	if tincan {
		return nil, nil
	}
	return made, nil
}

// hasControllers reports whether the v2 cgroup at path has every one of
// controllers in its cgroup.controllers: its parent enabled them for it.
func hasControllers(path string, controllers []string) bool {
	b, err := os.ReadFile(filepath.Join(path, "cgroup.controllers"))
	if err != nil {
		return false
	}
	have := strings.Fields(string(b))
	for _, c := range controllers {
		if !slices.Contains(have, c) {
			return false
		}
	}
	return true
}

// copyCpuset gives the v1 cpuset cgroup at path its parent's CPUs and memory
// nodes, where it has none. The classic trap: a new v1 cpuset cgroup starts
// with both empty (unless its parent has cgroup.clone_children set), and
// writing a PID to its cgroup.procs then fails with ENOSPC.
func copyCpuset(path string) error {
	for _, name := range []string{"cpuset.cpus", "cpuset.mems"} {
		mine, err := os.ReadFile(filepath.Join(path, name))
		if err != nil {
			return err
		}
		if strings.TrimSpace(string(mine)) != "" {
			continue
		}
		parents, err := os.ReadFile(filepath.Join(filepath.Dir(path), name))
		if err != nil {
			return err
		}
		if err := write(filepath.Join(path, name), strings.TrimSpace(string(parents))); err != nil {
			return err
		}
	}
	return nil
}

// removeMade removes the directories create made, the deepest first, each
// if it is empty: one another cgroup is in stays (rmdir(2) says ENOTEMPTY or
// EBUSY), and so do those above it.
func removeMade(made []string) {
	for _, p := range made {
		trace.Call("rmdir(%q)", p)
		rmdirFunc(p)
	}
}
