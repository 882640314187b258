package cgroup

import (
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// Entry is one cgroup found under tincan/, in one or more hierarchies.
type Entry struct {
	ID   string
	Made time.Time // when its newest directory was made (mkdir sets the time)
	Busy bool      // a process is in it, in some hierarchy
}

// List finds every cgroup under tincan/ in every hierarchy mounted here,
// whether or not a runtime remembers making it: a runtime killed before it
// wrote down its cgroup leaves one that only a look at the hierarchies finds.
func List() ([]Entry, error) {
	l, err := Detect()
	if err != nil {
		return nil, err
	}
	return l.List()
}

// List finds every cgroup under tincan/ in the hierarchies of l.
func (l *Layout) List() ([]Entry, error) {
	mounts := map[string]bool{}
	if l.Unified != "" {
		mounts[l.Unified] = true
	}
	for _, m := range l.V1 {
		mounts[m] = true
	}
	found := map[string]*Entry{}
	for m := range mounts {
		ents, err := os.ReadDir(filepath.Join(m, "tincan"))
		if err != nil {
			continue // no tincan directory in this hierarchy
		}
		for _, e := range ents {
			if !e.IsDir() {
				continue
			}
			path := filepath.Join(m, "tincan", e.Name())
			fi, err := os.Stat(path)
			if err != nil {
				continue // removed meanwhile
			}
			f := found[e.Name()]
			if f == nil {
				f = &Entry{ID: e.Name()}
				found[e.Name()] = f
			}
			if fi.ModTime().After(f.Made) {
				f.Made = fi.ModTime()
			}
			if busy(path) {
				f.Busy = true
			}
		}
	}
	out := make([]Entry, 0, len(found))
	for _, f := range found {
		out = append(out, *f)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, nil
}

// busy reports whether a process is in the cgroup at path. cgroup.procs
// lists only the processes of the reader's PID namespace; the kernel's
// counts see every one: v2's cgroup.events "populated 1", v1's pids.current.
func busy(path string) bool {
	if n, err := readKey(filepath.Join(path, "cgroup.events"), "populated"); err == nil {
		return n > 0
	}
	if n, err := readInt(filepath.Join(path, "pids.current")); err == nil {
		return n > 0
	}
	b, err := os.ReadFile(filepath.Join(path, "cgroup.procs"))
	return err != nil || strings.TrimSpace(string(b)) != ""
}
