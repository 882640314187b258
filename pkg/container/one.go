package container

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"

	"tincan.dev/pkg/cgroup"
	"tincan.dev/pkg/harden"
	"tincan.dev/pkg/mount"
	"tincan.dev/pkg/ns"
	"tincan.dev/pkg/reexec"
	"tincan.dev/pkg/sysprog"
	"tincan.dev/pkg/trace"
)

// One Go start instead of two. The child that "can init" is (Child) starts
// the Go runtime a second time, some 8 ms here, half of what bubblewrap takes
// for a whole container. When can runs as root and asks for nothing that
// needs a Go process inside (a user namespace, --init), it builds the
// container on a thread of its own process instead, and clones PID 1 from
// that thread (reexec.StartProgram). OCI containers do too, with PID 1
// cloned before the mounts (one_oci.go).
//
//   - unshare(2) on a locked thread changes that thread alone; CLONE_FS
//     gives it a root and working directory of its own, so its pivot_root
//     moves nobody else. Since Go 1.10 the runtime never starts a new
//     thread from a locked one, and a goroutine that ends locked ends its
//     thread: the rest of can never enters the container.
//   - unshare(CLONE_NEWPID) moves the caller's future children, not the
//     caller, into the new PID namespace. A proc mount shows the PID
//     namespace of whoever mounts it, so PID 1 mounts /proc, and what hides
//     parts of /proc comes after that, in PID 1 too.
//   - PID 1 cannot run Go (pkg/sysprog): what it does is prepared here as a
//     list of system calls. The same lists (mount.PlanMask, harden.Plan,
//     planUser) run in the re-executed child through sysprog.Run, so each
//     step is written once.
//   - A pids limit needs no PidsLater here: PID 1 is one thread, and the
//     limit can hold from the start.

// oneStart reports whether spec's container can start without a second Go
// process. unshare(CLONE_NEWUSER) refuses a multithreaded caller, which every
// Go program is; --init's PID 1 is can itself. A --tmpfs under /proc would be
// covered by the proc that PID 1 mounts last.
func (s *Spec) oneStart() bool {
	if os.Geteuid() != 0 || s.UserNS || s.Init || s.OCI != nil {
		return false
	}
	for _, t := range s.Tmpfs {
		if t.Path == "/proc" || strings.HasPrefix(t.Path, "/proc/") {
			return false
		}
	}
	return true
}

// buildOne builds the container on this (locked) thread, in setup's order,
// and adds to p what PID 1 does: enter its cgroup namespace, mount /proc,
// hide and protect what is under it, become the user, harden, execve.
//
// With a terminal, buildOne sets *terminal to its master end.
//
// handTID, if not nil, gets this thread's ID once the thread has its
// network namespace, for the bridge to be plugged into it meanwhile.
func buildOne(p *sysprog.Program, spec Spec, stateDir string, cg *cgroup.Cgroup, terminal **os.File, handTID func(tid int)) error {
	// PID 1 joins its cgroup itself, before anything else: what it
	// allocates and forks from then on is the container's.
	if err := planJoin(p, cg); err != nil {
		return err
	}
	flags := spec.cloneflags() | unix.CLONE_FS
	trace.Call("unshare(%s) (this thread only)", trace.Flags(flags, trace.CloneFlags))
	if err := unix.Unshare(int(flags)); err != nil {
		return fmt.Errorf("unshare: %w", err)
	}
	if err := enterNetwork(spec); err != nil {
		return err
	}
	if spec.Net.Mode == "bridge" && spec.Rootfs != "" {
		// newRoot binds them in; the parent fills them while it attaches
		// the network, meanwhile (the same files: os.WriteFile truncates,
		// it does not replace), and before PID 1 runs.
		for _, f := range []string{"hosts", "resolv.conf"} {
			if err := os.WriteFile(filepath.Join(stateDir, f), nil, 0o644); err != nil {
				return err
			}
		}
	}
	if handTID != nil {
		handTID(unix.Gettid())
	}
	// PID 1 is in its cgroup by then: the namespace it makes has that
	// cgroup as its root.
	p.Add("unshare(CLONE_NEWCGROUP)", "", unix.SYS_UNSHARE, unix.CLONE_NEWCGROUP)
	if err := mount.MakePrivate("/"); err != nil {
		return err
	}
	// Planned now, while this thread still sees the host's /proc and /sys:
	// the kernel's files there are the container's (mount.PlanMask).
	later := sysprog.New()
	if !spec.Privileged {
		if err := mount.PlanMask(later, mount.MaskedPaths); err != nil {
			return err
		}
		if err := mount.PlanReadOnly(later, mount.ReadonlyPaths); err != nil {
			return err
		}
	}
	if spec.Rootfs == "" {
		if err := tmpfsMounts("", spec.Tmpfs); err != nil {
			return err
		}
	} else {
		if err := newRoot(spec, false, stateDir, true); err != nil {
			return err
		}
		if spec.ReadOnly {
			if err := mount.PlanRemountReadOnly(later, "/", "/"); err != nil {
				return err
			}
		}
	}
	mount.PlanProc(p, "/proc")
	p.Append(later)
	host := spec.hostname()
	if err := ns.Sethostname(host); err != nil {
		return err
	}
	if spec.Terminal {
		// ownTerminal's terminal, the master kept here for the relay.
		master, err := planTerminal(p, true)
		if err != nil {
			return err
		}
		*terminal = master
	}
	if err := enterCwd(spec); err != nil {
		return err
	}
	env := containerEnv(spec, host)
	path, err := reexec.LookPath(spec.Args[0], env)
	if err != nil {
		return err
	}
	if err := planUser(p, spec.User); err != nil {
		return err
	}
	if err := harden.Plan(hardening(spec), p); err != nil {
		return err
	}
	p.Exec(path, spec.Args, env)
	return nil
}

// planJoin adds to p PID 1's move into cg (none if nil): "0" written to
// each cgroup.procs, opened here, where the hierarchies are in view.
func planJoin(p *sysprog.Program, cg *cgroup.Cgroup) error {
	if cg == nil {
		return nil
	}
	procs, err := cg.ProcsFiles()
	if err != nil {
		return err
	}
	for _, f := range procs {
		p.Hand(f)
		p.Add(fmt.Sprintf("write(%q, \"0\")", f.Name()), "", unix.SYS_WRITE, f.Fd(), p.Str("0"), 1)
	}
	return nil
}
