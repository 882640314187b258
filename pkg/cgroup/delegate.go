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
)

// Limits without root. Only root may make a cgroup at <hierarchy>/tincan,
// but cgroup v2 lets root hand a subtree to a user: chown(2) a cgroup's
// directory and its cgroup.procs, cgroup.subtree_control and cgroup.threads
// to them, and they may make cgroups below it, set their limits and move
// their own processes between them. That is delegation (the kernel's
// Documentation/admin-guide/cgroup-v2.rst, "Delegation"), and what systemd
// does for a unit with Delegate=yes: every user's user@UID.service is one,
// and `systemd-run --user --scope -p Delegate=yes CMD` runs CMD in a scope
// of its own that the user owns. v1 hierarchies cannot be delegated safely,
// so no one ever does.
//
// Without root, New therefore makes <the caller's cgroup>/tincan/<id> in the
// unified hierarchy, as rootless podman makes its containers' cgroups inside
// the user's delegated scope. One rule of v2 stands in the way: a cgroup
// with processes of its own cannot enable controllers for its children
// (writing cgroup.subtree_control fails with EBUSY: "no internal
// processes"), and the caller is in its own cgroup, with the shell or make
// that started it. So New first moves every process of that cgroup into a
// child of it, InitGroup, as systemd's own DelegateSubgroup= and podman do;
// what they fork from then on is born there. A later New, started from
// there, finds its cgroup named InitGroup and uses the one above.

// InitGroup is the child of a user's delegated cgroup that New moves the
// cgroup's own processes into.
const InitGroup = "tincan-init"

// The caller's cgroup, and its right to write a file, which tests swap.
var (
	selfCgroup = func() (string, error) { return ownCgroup("/proc/self/cgroup") }
	writable   = func(path string) bool { return unix.Faccessat(unix.AT_FDCWD, path, unix.W_OK, unix.AT_EACCESS) == nil }
)

// ownCgroup reads the caller's cgroup in the unified hierarchy from file, a
// /proc/PID/cgroup: its "0::/path" line (cgroups(7)).
func ownCgroup(file string) (string, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return "", err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if path, ok := strings.CutPrefix(line, "0::"); ok {
			return path, nil
		}
	}
	return "", fmt.Errorf("%s has no cgroup v2 line (0::/path): this machine has no cgroup v2 hierarchy", file)
}

// userBase returns the caller's delegated cgroup, from the unified
// hierarchy's root: its own cgroup, or the one above when its own is the
// InitGroup an earlier New moved it into.
func userBase() (string, error) {
	own, err := selfCgroup()
	if err != nil {
		return "", err
	}
	if filepath.Base(own) == InitGroup {
		return filepath.Dir(own), nil
	}
	return own, nil
}

// Delegated returns, for a caller without root, the layout New uses: the
// caller's delegated cgroup as the root of a hierarchy with no v1 part, in
// which <Unified>/tincan/<id> is a cgroup of their own. It checks that the
// cgroup is delegated, and has the controllers the limits need, and moves
// its processes into InitGroup (see above). When it cannot, its error is one
// line that says what is missing, and how to get it.
func (l *Layout) Delegated(limits Limits) (*Layout, error) {
	var need []string
	for _, c := range limits.controllers() {
		switch c {
		case "devices": // a BPF program, no controller; root's alone
		case "blkio":
			need = append(need, "io")
		default:
			need = append(need, c)
		}
	}
	what := "a cgroup"
	if len(need) > 0 {
		what = "a " + strings.Join(need, ", ") + " limit"
	}
	if l.Unified == "" {
		return nil, fmt.Errorf("%s without root needs cgroup v2, and this machine has only v1, which is never delegated to a user: run as root", what)
	}
	base, err := userBase()
	if err != nil {
		return nil, err
	}
	dir := filepath.Join(l.Unified, base)
	b, err := os.ReadFile(filepath.Join(dir, "cgroup.controllers"))
	if err != nil {
		return nil, err
	}
	have := strings.Fields(string(b))
	var missing []string
	for _, c := range need {
		if !slices.Contains(have, c) {
			missing = append(missing, c)
		}
	}
	for _, c := range missing {
		if l.V1[c] != "" || c == "io" && l.V1["blkio"] != "" {
			return nil, fmt.Errorf("%s without root needs cgroup v2, and %s is a v1 controller here (%s), which is never delegated to a user: run as root", what, c, l.Version())
		}
	}
	prog := filepath.Base(os.Args[0])
	for _, f := range []string{"cgroup.procs", "cgroup.subtree_control", ""} {
		if !writable(filepath.Join(dir, f)) {
			file := "its directory"
			if f != "" {
				file = f
			}
			return nil, fmt.Errorf("%s without root needs a cgroup delegated to you, and yours (%s) is not: %s is not yours to write; run in one of your own, systemd-run --user --scope -p Delegate=yes %s ..., or as root", what, base, file, prog)
		}
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("%s without root needs the %s controller delegated to your cgroup %s (it has: %s): the cgroup above must enable it (systemd: Delegate=cpu memory pids for user@.service, through systemctl edit user@.service), or run as root",
			what, strings.Join(missing, ", "), base, strings.Join(have, " "))
	}
	if err := moveOut(dir); err != nil {
		return nil, err
	}
	return &Layout{Unified: dir, V1: map[string]string{}, base: base}, nil
}

// moveOut moves every process of the cgroup dir into dir/InitGroup, so
// that dir may enable controllers for its children. A process may fork
// while the list is read: its child is born in dir, and the next round
// moves it.
func moveOut(dir string) error {
	leaf := filepath.Join(dir, InitGroup)
	for round := 0; round < 10; round++ {
		b, err := os.ReadFile(filepath.Join(dir, "cgroup.procs"))
		if err != nil {
			return err
		}
		pids := strings.Fields(string(b))
		if len(pids) == 0 {
			return nil
		}
		if err := mkdir(leaf); err != nil && !errors.Is(err, fs.ErrExist) {
			return err
		}
		for _, pid := range pids {
			// A process that has exited meanwhile: ESRCH.
			if err := write(filepath.Join(leaf, "cgroup.procs"), pid); err != nil && !errors.Is(err, unix.ESRCH) {
				return err
			}
		}
	}
	return fmt.Errorf("move the processes of %s into %s: they fork faster than they move", dir, InitGroup)
}

// userLayout is Delegated's layout, for Open: it changes nothing, and
// checks nothing but that there is a unified hierarchy.
func (l *Layout) userLayout() (*Layout, error) {
	if l.Unified == "" {
		return nil, fmt.Errorf("cgroup: %w: no cgroup v2 hierarchy, where a user's cgroups are", fs.ErrNotExist)
	}
	base, err := userBase()
	if err != nil {
		return nil, err
	}
	return &Layout{Unified: filepath.Join(l.Unified, base), V1: map[string]string{}, base: base}, nil
}
