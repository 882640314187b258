package container

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"

	"github.com/moby/sys/mountinfo"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"tincan.dev/pkg/cgroup"
	"tincan.dev/pkg/harden"
	"tincan.dev/pkg/reexec"
	"tincan.dev/pkg/sysprog"
	"tincan.dev/pkg/trace"
)

// One Go start for an OCI container too (one.go explains the path for
// can's own). The runtime spec makes config.json's mounts in their order,
// /proc among them, and a proc mount shows the PID namespace of... not its
// mounter, exactly: of the process that called fsopen("proc") for it
// (proc_init_fs_context). So PID 1 is cloned first, right after the
// thread's unshare, and calls only that; the thread takes the fd
// (pidfd_getfd(2)), and when /proc's turn comes makes the superblock and the
// mount from it (fsconfig, fsmount, move_mount). Everything else the thread
// builds as the re-executed child would (ociFinish), while PID 1 waits for
// "go". PID 1 runs beside the thread, in can's memory, on a stack of its
// own (sysprog.Start), and may outlive can create: its program is written
// before the clone and never changed after, and what only the build learns,
// the path of the program to execute, comes with "go".

// oneStartOCI reports whether an OCI container can start from a thread of
// can. What keeps the re-executed child: a user namespace (unshare(2)
// refuses a threaded caller), joining a mount, user, cgroup or time
// namespace, startContainer hooks (run after start by a process that can
// fork), a terminal, an AppArmor profile, a cgroup or time namespace of its
// own with a cgroup mount or time offsets, more than one proc mount, or one
// with propagation options; and a kernel without pidfd_getfd (Linux 5.6).
func (s *Spec) oneStartOCI() bool {
	o := s.OCI
	if o == nil || o.Exec != nil || os.Geteuid() != 0 || !canGetFD() {
		return false
	}
	c := o.Config
	if ociCloneflags(c)&unix.CLONE_NEWUSER != 0 || hasNamespace(c, specs.TimeNamespace) {
		return false
	}
	for t := range o.JoinNS {
		if t != specs.PIDNamespace && t != specs.NetworkNamespace && t != specs.UTSNamespace && t != specs.IPCNamespace {
			return false
		}
	}
	if len(c.Hooks.StartContainer) > 0 || c.Process.Terminal || c.Process.ApparmorProfile != "" {
		return false
	}
	procs := 0
	for _, m := range c.Mounts {
		if m.Type == "proc" {
			procs++
			if _, prop, _ := parseOptions(m.Options); len(prop) > 0 {
				return false
			}
		}
		if (m.Type == "cgroup" || m.Type == "cgroup2") && hasNamespace(c, specs.CgroupNamespace) {
			return false
		}
	}
	return procs <= 1
}

// canGetFD reports whether the kernel has pidfd_getfd(2): on a bad pidfd it
// says EBADF, without it ENOSYS.
var canGetFD = sync.OnceValue(func() bool {
	_, err := unix.PidfdGetfd(-1, 0, 0)
	return err != unix.ENOSYS
})

// ociBuild is what a thread of can building an OCI container needs that the
// re-executed child has by being PID 1: the fd of PID 1's fsopen("proc")
// (-1: none), and a process in the container's cgroups (PID 1, which has
// joined them).
type ociBuild struct {
	procCtx int
	pid1    int
}

// cgroupsOf is the process whose /proc/PID/cgroup names the container's
// cgroups: this one, in the re-executed child (b is nil there).
func (b *ociBuild) cgroupsOf() string {
	if b == nil {
		return "self"
	}
	return strconv.Itoa(b.pid1)
}

// startOCIOne starts create's child as PID 1 cloned from a thread of can
// (oneStartOCI), waiting for Continue. The thread has built the container
// when it returns.
func startOCIOne(spec Spec, cg *cgroup.Cgroup, fifo *os.File, foreground bool) (*reexec.Cmd, error) {
	cmd := reexec.Command()
	cmd.SysProcAttr.Setsid = true // as childCommand's
	if !foreground {
		cmd.SysProcAttr.Pdeathsig = 0 // the container outlives can
	}
	hasProc := false
	for _, m := range spec.OCI.Config.Mounts {
		hasProc = hasProc || m.Type == "proc"
	}
	cmd.AfterClone = func(pid, pidfd, sync int) error {
		b := &ociBuild{procCtx: -1, pid1: pid}
		n, err := reexec.ReadWord(sync) // PID 1 has joined its cgroups, and has its proc context
		if err != nil {
			return err
		}
		if hasProc {
			trace.Call("pidfd_getfd(PID 1, %d) (its fsopen(\"proc\"))", n)
			if b.procCtx, err = unix.PidfdGetfd(pidfd, int(n), 0); err != nil {
				return fmt.Errorf("pidfd_getfd: %w", err)
			}
			defer unix.Close(b.procCtx)
		}
		path, err := buildOCI(spec, b)
		if err != nil {
			return err
		}
		cmd.Go = append([]byte(path), 0) // PID 1's execve path, with "go"
		return nil
	}
	err := cmd.StartProgram(func(p *sysprog.Program) error {
		return planOCI(cmd, p, spec, cg, int(fifo.Fd()), hasProc)
	})
	return cmd, err
}

// planOCI enters the container's namespaces on this thread and writes PID
// 1's program: join its cgroups, fsopen("proc") and say so, wait for "go"
// (and the path to execute), then what the re-executed child does after the
// build (ociProcess): its cgroup namespace, working directory, limits,
// umask; the close of the error pipe that ends create; the wait for start
// on the exec fifo (fd fifo, opened O_PATH); the user, the hardening,
// execve.
func planOCI(cmd *reexec.Cmd, p *sysprog.Program, spec Spec, cg *cgroup.Cgroup, fifo int, hasProc bool) error {
	c, o := spec.OCI.Config, spec.OCI
	// setns(2) of a PID namespace, like unshare, applies to the children
	// made next: PID 1's.
	for _, t := range []specs.LinuxNamespaceType{specs.PIDNamespace, specs.NetworkNamespace, specs.UTSNamespace, specs.IPCNamespace} {
		if path := o.JoinNS[t]; path != "" {
			if err := setns(path, t); err != nil {
				return err
			}
		}
	}
	flags := ociCloneflags(c) | unix.CLONE_FS
	trace.Call("unshare(%s) (this thread only)", trace.Flags(flags, trace.CloneFlags))
	if err := unix.Unshare(int(flags)); err != nil {
		return fmt.Errorf("unshare: %w", err)
	}
	// First of all: what PID 1 allocates from then on is the container's,
	// and the thread reads its cgroups in /proc.
	if err := planJoin(p, cg); err != nil {
		return err
	}
	ctx := p.Slot()
	if hasProc {
		p.Add("fsopen(\"proc\", FSOPEN_CLOEXEC)", "needs Linux 5.2", unix.SYS_FSOPEN, p.Str("proc"), unix.FSOPEN_CLOEXEC).Save(ctx)
	}
	cmd.PlanSend(p, "the proc context's fd", ctx)
	path := make([]byte, unix.PathMax+1)
	cmd.PlanGo(p, path)
	if hasNamespace(c, specs.CgroupNamespace) {
		// In its cgroups by now: the namespace's root.
		p.Add("unshare(CLONE_NEWCGROUP)", "", unix.SYS_UNSHARE, unix.CLONE_NEWCGROUP)
	}
	pr := c.Process
	// PID 1 has a working directory of its own (no CLONE_FS); pivot_root
	// moved its root, not that.
	p.Add(fmt.Sprintf("chdir(%q)", pr.Cwd), "", unix.SYS_CHDIR, p.Str(pr.Cwd))
	for _, r := range pr.Rlimits {
		if err := planRlimit(p, r); err != nil {
			return err
		}
	}
	if pr.OOMScoreAdj != nil {
		planWriteFile(p, "/proc/self/oom_score_adj", strconv.Itoa(*pr.OOMScoreAdj), "lowering it takes CAP_SYS_RESOURCE")
	}
	if pr.User.Umask != nil {
		p.Add(fmt.Sprintf("umask(%#o)", *pr.User.Umask), "", unix.SYS_UMASK, uintptr(*pr.User.Umask))
	}
	// create returns here: the container waits, built, for start.
	cmd.PlanDetach(p)
	planWaitStart(p, fifo)
	groups := make([]int, len(pr.User.AdditionalGids))
	for i, g := range pr.User.AdditionalGids {
		groups[i] = int(g)
	}
	if err := planBecome(p, int(pr.User.UID), int(pr.User.GID), groups); err != nil {
		return err
	}
	if err := harden.Plan(ociHardening(pr, o), p); err != nil {
		return err
	}
	p.ExecFrom(path, `the path "go" brought`, pr.Args, processEnv(pr.Env))
	return nil
}

// buildOCI is ociFinish on this thread, once PID 1 has joined its cgroups
// and opened its proc context, then the checks the re-executed child makes
// before it tells create it is ready: the working directory is inside the
// root, and the program is there. It returns the program's path.
func buildOCI(spec Spec, b *ociBuild) (string, error) {
	if err := ociFinish(spec, b); err != nil {
		return "", err
	}
	pr := spec.OCI.Config.Process
	trace.Call("chdir(%q)", pr.Cwd)
	if err := unix.Chdir(pr.Cwd); err != nil {
		return "", fmt.Errorf("process.cwd %s: %w", pr.Cwd, err)
	}
	if err := checkCwd(pr.Cwd); err != nil {
		return "", err
	}
	// Found now, so that a missing program fails create, not start.
	path, err := reexec.LookPath(pr.Args[0], processEnv(pr.Env))
	if err == nil && len(path) > unix.PathMax {
		err = fmt.Errorf("exec %q: path longer than PATH_MAX", path)
	}
	return path, err
}

// procFromContext makes the proc mount of ctx, the fd of PID 1's
// fsopen("proc"), on target: its options, the superblock, a mount with
// flags' attributes, moved onto target. fsmount(2) and move_mount(2) name
// no PID namespace: the superblock keeps the one fsopen's caller was in.
func procFromContext(ctx int, source, target string, flags uintptr, data string) error {
	if source == "" {
		source = "proc"
	}
	trace.Call("fsconfig(proc, FSCONFIG_SET_STRING, \"source\", %q)", source)
	if err := unix.FsconfigSetString(ctx, "source", source); err != nil {
		return fmt.Errorf("mount proc: source %s: %w", source, err)
	}
	for _, opt := range strings.Split(data, ",") {
		if opt == "" {
			continue
		}
		var err error
		if k, v, ok := strings.Cut(opt, "="); ok {
			trace.Call("fsconfig(proc, FSCONFIG_SET_STRING, %q, %q)", k, v)
			err = unix.FsconfigSetString(ctx, k, v)
		} else {
			trace.Call("fsconfig(proc, FSCONFIG_SET_FLAG, %q)", opt)
			err = unix.FsconfigSetFlag(ctx, opt)
		}
		if err != nil {
			return fmt.Errorf("mount proc: option %s: %w", opt, err)
		}
	}
	trace.Call("fsconfig(proc, FSCONFIG_CMD_CREATE)")
	if err := unix.FsconfigCreate(ctx); err != nil {
		return fmt.Errorf("mount proc: %w", err)
	}
	var attr int
	for _, a := range []struct {
		ms   uintptr
		attr int
	}{{unix.MS_RDONLY, unix.MOUNT_ATTR_RDONLY}, {unix.MS_NOSUID, unix.MOUNT_ATTR_NOSUID}, {unix.MS_NODEV, unix.MOUNT_ATTR_NODEV},
		{unix.MS_NOEXEC, unix.MOUNT_ATTR_NOEXEC}, {unix.MS_NOATIME, unix.MOUNT_ATTR_NOATIME}, {unix.MS_STRICTATIME, unix.MOUNT_ATTR_STRICTATIME},
		{unix.MS_NODIRATIME, unix.MOUNT_ATTR_NODIRATIME}} {
		if flags&a.ms != 0 {
			attr |= a.attr
		}
	}
	trace.Call("fsmount(proc, FSMOUNT_CLOEXEC, %#x)", attr)
	mfd, err := unix.Fsmount(ctx, unix.FSMOUNT_CLOEXEC, attr)
	if err != nil {
		return fmt.Errorf("mount proc: fsmount: %w", err)
	}
	defer unix.Close(mfd)
	// The target is a handle, /proc/self/fd/N: a link move_mount follows
	// only when told (MOVE_MOUNT_T_SYMLINKS), where mount(2) always does.
	trace.Call("move_mount(proc, %q, MOVE_MOUNT_T_SYMLINKS)", target)
	if err := unix.MoveMount(mfd, "", unix.AT_FDCWD, target, unix.MOVE_MOUNT_F_EMPTY_PATH|unix.MOVE_MOUNT_T_SYMLINKS); err != nil {
		return fmt.Errorf("mount proc: move_mount: %w", err)
	}
	return nil
}

// threadMounts lists the mounts of this thread's mount namespace:
// /proc/thread-self, where /proc/self would show the main thread's, which
// a thread building a container has left.
func threadMounts(f mountinfo.FilterFunc) ([]*mountinfo.Info, error) {
	r, err := os.Open("/proc/thread-self/mountinfo")
	if err != nil {
		return nil, err
	}
	defer r.Close()
	return mountinfo.GetMountsFromReader(r, f)
}

// ociHardening is what process p keeps: exactly the capability sets it
// lists (none when it lists none, the spec's default), its no_new_privs and
// the seccomp filter compiled from config.json.
func ociHardening(p *specs.Process, o *OCI) harden.Config {
	cfg := harden.Config{NoNewPrivs: p.NoNewPrivileges, Filter: o.Filter, FilterFlags: o.FilterFlags}
	cfg.Sets = &harden.CapSets{}
	if c := p.Capabilities; c != nil {
		cfg.Sets = &harden.CapSets{Bounding: c.Bounding, Effective: c.Effective, Permitted: c.Permitted, Inheritable: c.Inheritable, Ambient: c.Ambient}
	}
	return cfg
}

// processEnv is process.env as execve should get it: entries without a
// name dropped, and a name given twice keeping its last value, in its first
// place, as os.Setenv over the list leaves it (ociProcess).
func processEnv(list []string) []string {
	env := []string{}
	at := map[string]int{}
	for _, kv := range list {
		k, _, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			continue
		}
		if i, seen := at[k]; seen {
			env[i] = kv
			continue
		}
		at[k] = len(env)
		env = append(env, kv)
	}
	return env
}

// atFDCWD is AT_FDCWD (-100) as a system call's argument.
var atFDCWD = func() uintptr { fd := unix.AT_FDCWD; return uintptr(fd) }()

// planWriteFile adds open, write and close of path to p: data in one
// write(2), as os.WriteFile does it.
func planWriteFile(p *sysprog.Program, path, data, hint string) {
	fd := p.Slot()
	p.Add(fmt.Sprintf("open(%q, O_WRONLY|O_CLOEXEC)", path), hint, unix.SYS_OPENAT, atFDCWD, p.Str(path), unix.O_WRONLY|unix.O_CLOEXEC).Save(fd)
	p.Add(fmt.Sprintf("write(%q, %q)", path, data), hint, unix.SYS_WRITE, 0, p.Str(data), uintptr(len(data))).Load(0, fd)
	p.Add(fmt.Sprintf("close(%q)", path), "", unix.SYS_CLOSE, 0).Load(0, fd)
}

// planWaitStart adds waitStart's calls to p, for the exec fifo open O_PATH
// as fd fifo.
func planWaitStart(p *sysprog.Program, fifo int) {
	path := "/proc/self/fd/" + strconv.Itoa(fifo)
	fd := p.Slot()
	p.Add(fmt.Sprintf("open(%q, O_WRONLY|O_CLOEXEC) (the exec fifo: waits for can start)", path), "", unix.SYS_OPENAT, atFDCWD, p.Str(path), unix.O_WRONLY|unix.O_CLOEXEC).Save(fd)
	var zero [1]byte
	p.Add("write(exec fifo, \"\\0\")", "", unix.SYS_WRITE, 0, sysprog.Ptr(p, &zero), 1).Load(0, fd)
	p.Add("close(exec fifo)", "", unix.SYS_CLOSE, 0).Load(0, fd)
	p.Add(fmt.Sprintf("close(%d)", fifo), "", unix.SYS_CLOSE, uintptr(fifo))
}

// planRlimit adds one process.rlimits entry to p: prlimit64(2) of this
// process. PID 1 is no Go process: nothing puts a Go start's RLIMIT_NOFILE
// back at its execve (setRlimit says why that matters).
func planRlimit(p *sysprog.Program, r specs.POSIXRlimit) error {
	res, ok := rlimits[r.Type]
	if !ok {
		return fmt.Errorf("process.rlimits: unknown type %q (RLIMIT_NOFILE, RLIMIT_NPROC, ...)", r.Type)
	}
	lim := &unix.Rlimit{Cur: r.Soft, Max: r.Hard}
	p.Add(fmt.Sprintf("setrlimit(%s, {%d, %d})", r.Type, r.Soft, r.Hard), "raising a hard limit takes CAP_SYS_RESOURCE",
		unix.SYS_PRLIMIT64, 0, uintptr(res), sysprog.Ptr(p, lim), 0)
	return nil
}
