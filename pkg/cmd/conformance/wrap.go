package main

import (
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"golang.org/x/sys/unix"
)

// wrapArg, as the first argument, runs this program as the wrapper that the
// tests call as RUNTIME: conformance -wrap NAME PATH ROOT ARGS...
const wrapArg = "-wrap"

// cgroupParent is where every container of the run gets its cgroup, in each
// hierarchy: the absolute path the wrapper writes when the test left
// cgroupsPath empty, and the prefix of a relative one.
const cgroupParent = "/tincan-conformance"

// suiteCgroup is the absolute cgroupsPath the linux_cgroups_* tests
// (not the _relative_ ones) set, and check for at exactly that place.
const suiteCgroup = "/cgrouptest"

// wrapMain is the wrapper: on create and run, it gives the bundle's
// config.json an absolute linux.cgroupsPath, then it execs the runtime with
// --root (the run's own state directory) and the arguments unchanged. exec,
// not a child: the test sees the runtime's own exit status, output and pid.
func wrapMain(args []string) {
	if len(args) < 3 {
		fail("-wrap NAME PATH ROOT ARGS...: this mode is for the wrapper scripts the runner writes")
	}
	name, path, root, rest := args[0], args[1], args[2], args[3:]
	if cmd, bundle, id := command(rest); cmd == "create" || cmd == "run" {
		if err := fixConfig(filepath.Join(bundle, "config.json"), id, name); err != nil {
			fmt.Fprintf(os.Stderr, "conformance wrapper: %v\n", err)
			os.Exit(1)
		}
	}
	argv := append([]string{path, "--root", root}, rest...)
	err := unix.Exec(path, argv, os.Environ())
	fmt.Fprintf(os.Stderr, "conformance wrapper: exec %s: %v\n", path, err)
	os.Exit(127)
}

// command finds, in runc's command line, the command, its --bundle (-b; the
// current directory if none) and the container id (the last argument).
// Only the forms runtime-tools uses: no global flags, flags before the id.
func command(args []string) (cmd, bundle, id string) {
	bundle = "."
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case cmd == "" && !strings.HasPrefix(a, "-"):
			cmd = a
		case cmd == "":
		case a == "--bundle" || a == "-b":
			if i+1 < len(args) {
				bundle = args[i+1]
				i++
			}
		case strings.HasPrefix(a, "--bundle="):
			bundle = strings.TrimPrefix(a, "--bundle=")
		case a == "--pid-file" || a == "--console-socket" || a == "--preserve-fds":
			i++ // their value is not the id
		case !strings.HasPrefix(a, "-"):
			id = a
		}
	}
	return cmd, bundle, id
}

// fixConfig rewrites linux.cgroupsPath in the config at path: empty becomes
// /tincan-conformance/<id>, relative becomes /tincan-conformance/<id>/<it>
// (the spec lets a runtime put a relative path where it likes, and the suite
// only checks that the container's cgroup ends with it). An absolute one is
// the test's own and stays. For crun, ociVersion becomes 1.0.2: crun 1.8
// refuses the 1.3.0 the tests write, which changes nothing else they use.
// Every other field is kept as it is.
func fixConfig(path, id, runtime string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil // the runtime says it better: no config in the bundle
	}
	var spec map[string]any
	if err := json.Unmarshal(b, &spec); err != nil {
		return nil // an invalid config is the test's business
	}
	if id == "" {
		id = "noid"
	}
	linux, _ := spec["linux"].(map[string]any)
	if linux == nil {
		linux = map[string]any{}
		spec["linux"] = linux
	}
	cg, _ := linux["cgroupsPath"].(string)
	switch {
	case cg == "":
		linux["cgroupsPath"] = cgroupParent + "/" + id
	case !strings.HasPrefix(cg, "/"):
		linux["cgroupsPath"] = cgroupParent + "/" + id + "/" + cg
	}
	if runtime == "crun" {
		spec["ociVersion"] = "1.0.2"
	}
	out, err := json.MarshalIndent(spec, "", "\t")
	if err != nil {
		return err
	}
	return os.WriteFile(path, out, 0o644)
}

// cgroupGuard watches the runner's own cgroup in every hierarchy, where a
// runtime given no absolute cgroupsPath would nest its containers. On a
// supervised machine that cgroup is the supervisor's: nothing may appear
// under it.
type cgroupGuard struct {
	dirs   []string        // the runner's own cgroup, per hierarchy
	before map[string]bool // what was under them at the start
}

func newCgroupGuard() (*cgroupGuard, error) {
	b, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		return nil, err
	}
	g := &cgroupGuard{}
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		parts := strings.SplitN(line, ":", 3)
		if len(parts) != 3 || parts[2] == "/" {
			continue
		}
		dirs, _ := filepath.Glob(filepath.Join("/sys/fs/cgroup/*", parts[2]))
		if parts[0] == "0" {
			dirs, _ = filepath.Glob(filepath.Join("/sys/fs/cgroup", parts[2]))
			more, _ := filepath.Glob(filepath.Join("/sys/fs/cgroup/unified", parts[2]))
			dirs = append(dirs, more...)
		}
		g.dirs = append(g.dirs, dirs...)
	}
	g.before = g.list()
	return g, nil
}

func (g *cgroupGuard) list() map[string]bool {
	seen := map[string]bool{}
	for _, d := range g.dirs {
		filepath.WalkDir(d, func(p string, e fs.DirEntry, err error) error {
			if err == nil && e.IsDir() && p != d {
				seen[p] = true
			}
			return nil
		})
	}
	return seen
}

// check fails if a cgroup appeared under the runner's own since the start,
// after removing it (it is empty once its container is gone).
func (g *cgroupGuard) check() error {
	var news []string
	for p := range g.list() {
		if !g.before[p] {
			news = append(news, p)
		}
	}
	if len(news) == 0 {
		return nil
	}
	rmdirDeepestFirst(news)
	return fmt.Errorf("a runtime made cgroups under the runner's own cgroup (%s): it ignored the absolute cgroupsPath the wrapper gave; stopped", strings.Join(news, ", "))
}

// removeCgroups removes, in every hierarchy, /tincan-conformance and the
// suite's /cgrouptest, with what is under them: empty once the containers
// are deleted (rmdir fails on a cgroup still in use, and then it stays).
func removeCgroups() {
	var dirs []string
	for _, top := range []string{cgroupParent, suiteCgroup} {
		roots, _ := filepath.Glob(filepath.Join("/sys/fs/cgroup/*", top))
		if p := filepath.Join("/sys/fs/cgroup", top); exists(p) {
			roots = append(roots, p)
		}
		for _, r := range roots {
			filepath.WalkDir(r, func(p string, e fs.DirEntry, err error) error {
				if err == nil && e.IsDir() {
					dirs = append(dirs, p)
				}
				return nil
			})
		}
	}
	rmdirDeepestFirst(dirs)
}

// rmdirDeepestFirst removes the directories, children before parents.
func rmdirDeepestFirst(dirs []string) {
	sort.Slice(dirs, func(i, j int) bool { return len(dirs[i]) > len(dirs[j]) })
	for _, d := range dirs {
		unix.Rmdir(d)
	}
}

func exists(p string) bool { _, err := os.Stat(p); return err == nil }
