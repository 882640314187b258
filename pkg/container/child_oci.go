package container

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"github.com/moby/sys/mountinfo"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"tincan.dev/pkg/cgroup"
	"tincan.dev/pkg/harden"
	"tincan.dev/pkg/mount"
	"tincan.dev/pkg/reexec"
	"tincan.dev/pkg/sysprog"
	"tincan.dev/pkg/trace"
)

// execFifoFD is where an OCI child finds the exec fifo (opened O_PATH by
// create): the fd after the sync socket and the error pipe.
const execFifoFD = 5

// ociSetup is the child's side of an OCI container, in runc's order
// (libcontainer/standard_init_linux.go): join namespaces, build the root from
// config.json's mount list, pivot_root, sysctls, hostname, masked and
// read-only paths, the terminal; tell create it is ready; wait for start on
// the exec fifo; then the process's identity, limits and hardening; execve.
func ociSetup(spec Spec) error {
	c, o := spec.OCI.Config, spec.OCI
	for _, t := range []specs.LinuxNamespaceType{specs.NetworkNamespace, specs.UTSNamespace, specs.IPCNamespace, specs.CgroupNamespace, specs.TimeNamespace} {
		if path := o.JoinNS[t]; path != "" {
			if err := setns(path, t); err != nil {
				return err
			}
		}
	}
	// A new network namespace keeps lo down, as the kernel makes it: runc
	// leaves it so too, and engines bring it up (podman's network none does).
	for _, t := range []struct {
		ns   specs.LinuxNamespaceType
		flag int
	}{{specs.CgroupNamespace, unix.CLONE_NEWCGROUP}, {specs.TimeNamespace, unix.CLONE_NEWTIME}} {
		if hasNamespace(c, t.ns) && o.JoinNS[t.ns] == "" {
			trace.Call("unshare(%s)", cloneName(t.ns))
			if err := unix.Unshare(t.flag); err != nil {
				return fmt.Errorf("unshare(%s namespace): %w", t.ns, err)
			}
		}
	}
	if err := ociFinish(spec, nil); err != nil {
		return err
	}
	return ociProcess(c.Process, o, spec.Limits.Pids)
}

// ociFinish is the part of the setup that a thread of can does too, for a
// container started once (buildOCI, with b): the root, its sysctls and
// names, the masked and read-only paths.
func ociFinish(spec Spec, b *ociBuild) error {
	c := spec.OCI.Config
	if err := ociRoot(spec, b); err != nil {
		return err
	}
	for k, v := range c.Linux.Sysctl {
		path := "/proc/sys/" + strings.ReplaceAll(k, ".", "/")
		trace.Call("write(%q, %q)", path, v)
		if err := os.WriteFile(path, []byte(v), 0); err != nil {
			return fmt.Errorf("sysctl %s=%s: %w", k, v, err)
		}
	}
	if c.Hostname != "" {
		trace.Call("sethostname(%q)", c.Hostname)
		if err := unix.Sethostname([]byte(c.Hostname)); err != nil {
			return fmt.Errorf("sethostname %q: %w", c.Hostname, err)
		}
	}
	if c.Domainname != "" {
		if err := unix.Setdomainname([]byte(c.Domainname)); err != nil {
			return fmt.Errorf("setdomainname %q: %w", c.Domainname, err)
		}
	}
	if err := mount.Mask(c.Linux.MaskedPaths); err != nil {
		return err
	}
	if err := mount.ReadOnly(c.Linux.ReadonlyPaths); err != nil {
		return err
	}
	if c.Root.Readonly {
		if err := mount.RemountReadOnly("/"); err != nil {
			return err
		}
	}
	return nil
}

// ociProcess makes this process the container's process p and executes it:
// for create's init (pids >= 0: it waits for start on the exec fifo first,
// and a pids limit > 0 is written last, on fd execFifoFD+1, as
// cgroup.PidsLater explains) and for can exec (pids < 0).
func ociProcess(p *specs.Process, o *OCI, pids int64) error {
	init := pids >= 0
	if p.Terminal {
		// The pty's master goes to the parent, which passes it to the
		// engine's --console-socket.
		if err := ownTerminal(false); err != nil {
			return err
		}
	}
	trace.Call("chdir(%q)", p.Cwd)
	if err := os.Chdir(p.Cwd); err != nil {
		return fmt.Errorf("process.cwd %s: %w", p.Cwd, err)
	}
	if err := checkCwd(p.Cwd); err != nil {
		return err
	}
	for _, r := range p.Rlimits {
		if err := setRlimit(r); err != nil {
			return err
		}
	}
	if p.OOMScoreAdj != nil {
		v := strconv.Itoa(*p.OOMScoreAdj)
		trace.Call("write(\"/proc/self/oom_score_adj\", %q)", v)
		if err := os.WriteFile("/proc/self/oom_score_adj", []byte(v), 0); err != nil {
			return fmt.Errorf("process.oomScoreAdj %s: %w (lowering it takes CAP_SYS_RESOURCE)", v, err)
		}
	}
	if p.User.Umask != nil {
		unix.Umask(int(*p.User.Umask))
	}
	os.Clearenv()
	for _, kv := range p.Env {
		if k, v, ok := strings.Cut(kv, "="); ok && k != "" {
			os.Setenv(k, v)
		}
	}
	// Found now, so that a missing program fails create, not start.
	if _, err := exec.LookPath(p.Args[0]); err != nil {
		return reexec.Exec(p.Args) // its error names the program, with 127 or 126
	}
	if init {
		reexec.Ready()
		if err := waitStart(); err != nil {
			return err
		}
		if err := runHooks(o.Config.Hooks.StartContainer, nil); err != nil {
			return err
		}
	}
	if p.ApparmorProfile != "" {
		// The profile takes effect at execve (apparmor(7): "exec" in
		// /proc/self/attr/apparmor/exec); FromOCI made sure AppArmor is on.
		trace.Call("write(\"/proc/self/attr/apparmor/exec\", \"exec %s\")", p.ApparmorProfile)
		if err := os.WriteFile("/proc/self/attr/apparmor/exec", []byte("exec "+p.ApparmorProfile), 0); err != nil {
			return fmt.Errorf("process.apparmorProfile %s: %w", p.ApparmorProfile, err)
		}
	}
	groups := make([]int, len(p.User.AdditionalGids))
	for i, g := range p.User.AdditionalGids {
		groups[i] = int(g)
	}
	// Capabilities kept across setuid(2), so that harden.Apply then sets
	// exactly the sets config.json asks for.
	if err := become(int(p.User.UID), int(p.User.GID), groups); err != nil {
		return err
	}
	if err := harden.Apply(ociHardening(p, o)); err != nil {
		return err
	}
	if pids > 0 {
		if err := cgroup.SetPids(os.NewFile(execFifoFD+1, "the cgroup's pids.max"), pids); err != nil {
			return err
		}
	}
	return reexec.Exec(p.Args)
}

// waitStart blocks until can start opens the exec fifo for reading
// (fifo(7): opening a FIFO for writing blocks until it is opened for
// reading), then writes one byte, which is start's proof that the
// container went ahead. The fifo was opened O_PATH by create, before
// pivot_root hid the state directory; reopening /proc/self/fd/N gets a real
// file from it.
func waitStart() error {
	return runPlan(func(p *sysprog.Program) error { planWaitStart(p, execFifoFD); return nil })
}

var rlimits = map[string]int{
	"RLIMIT_AS": unix.RLIMIT_AS, "RLIMIT_CORE": unix.RLIMIT_CORE, "RLIMIT_CPU": unix.RLIMIT_CPU,
	"RLIMIT_DATA": unix.RLIMIT_DATA, "RLIMIT_FSIZE": unix.RLIMIT_FSIZE, "RLIMIT_LOCKS": unix.RLIMIT_LOCKS,
	"RLIMIT_MEMLOCK": unix.RLIMIT_MEMLOCK, "RLIMIT_MSGQUEUE": unix.RLIMIT_MSGQUEUE, "RLIMIT_NICE": unix.RLIMIT_NICE,
	"RLIMIT_NOFILE": unix.RLIMIT_NOFILE, "RLIMIT_NPROC": unix.RLIMIT_NPROC, "RLIMIT_RSS": unix.RLIMIT_RSS,
	"RLIMIT_RTPRIO": unix.RLIMIT_RTPRIO, "RLIMIT_RTTIME": unix.RLIMIT_RTTIME, "RLIMIT_SIGPENDING": unix.RLIMIT_SIGPENDING,
	"RLIMIT_STACK": unix.RLIMIT_STACK,
}

// setRlimit applies one process.rlimits entry. Through syscall.Setrlimit, not
// unix's: the Go runtime raises its own RLIMIT_NOFILE at start and puts the
// old one back at execve, unless it was set through package syscall since.
func setRlimit(r specs.POSIXRlimit) error {
	res, ok := rlimits[r.Type]
	if !ok {
		return fmt.Errorf("process.rlimits: unknown type %q (RLIMIT_NOFILE, RLIMIT_NPROC, ...)", r.Type)
	}
	trace.Call("setrlimit(%s, {%d, %d})", r.Type, r.Soft, r.Hard)
	if err := syscall.Setrlimit(res, &syscall.Rlimit{Cur: r.Soft, Max: r.Hard}); err != nil {
		return fmt.Errorf("process.rlimits %s soft %d hard %d: %w (raising a hard limit takes CAP_SYS_RESOURCE)", r.Type, r.Soft, r.Hard, err)
	}
	return nil
}

// cloneName spells namespace type t as its clone flag: CLONE_NEWNET for
// "network", CLONE_NEWNS for "mount".
func cloneName(t specs.LinuxNamespaceType) string {
	switch t {
	case specs.NetworkNamespace:
		return "CLONE_NEWNET"
	case specs.MountNamespace:
		return "CLONE_NEWNS"
	}
	return "CLONE_NEW" + strings.ToUpper(string(t))
}

// setns enters the namespace at path, on this (locked) thread.
func setns(path string, t specs.LinuxNamespaceType) error {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("namespace %s: %w", t, err)
	}
	defer unix.Close(fd)
	trace.Call("setns(open(%q), %s)", path, cloneName(t))
	if err := unix.Setns(fd, nsFlags[t]); err != nil {
		return fmt.Errorf("setns %s namespace %s: %w", t, path, err)
	}
	return nil
}

// ociRoot builds the root filesystem from config.json: the mounts in their
// order, each target found inside the root (mount.InRoot), the default
// devices, then pivot_root.
func ociRoot(spec Spec, b *ociBuild) error {
	c := spec.OCI.Config
	root := c.Root.Path
	// Propagation of the host's mounts into the container: runc's default
	// is rslave (the host's new mounts show inside, never the reverse).
	prop := uintptr(unix.MS_SLAVE | unix.MS_REC)
	if c.Linux.RootfsPropagation != "" {
		f, ok := propagation[c.Linux.RootfsPropagation]
		if !ok {
			return fmt.Errorf("config.json: rootfsPropagation %q: use private, rprivate, slave, rslave, shared or rshared", c.Linux.RootfsPropagation)
		}
		prop = f
	}
	if err := mount.Mount("", "/", "", prop, ""); err != nil {
		return err
	}
	// pivot_root(2) refuses a new root, or a parent mount of it, that is
	// shared, and an unbindable mount cannot be bound onto itself: make the
	// root's parent mount private (runc's rootfsParentMountPrivate), and the
	// root too; "/" gets the propagation asked for again after the move.
	if err := mount.Mount("", mountPointOf(root), "", unix.MS_PRIVATE, ""); err != nil {
		return err
	}
	if err := mount.PrepareRoot(root); err != nil {
		return err
	}
	if err := mount.Mount("", root, "", unix.MS_PRIVATE, ""); err != nil {
		return err
	}
	userns := mount.InUserNamespace()
	devBound := false
	for _, m := range c.Mounts {
		if err := ociMount(c, root, m, userns, b); err != nil {
			return err
		}
		if filepath.Clean(m.Destination) == "/dev" && isBind(m) {
			devBound = true
		}
	}
	if !devBound {
		if err := ociDevices(root, c.Linux.Devices, userns); err != nil {
			return err
		}
	}
	if spec.NoPivot {
		return mount.Chroot(root)
	}
	if err := mount.PivotRoot(root); err != nil {
		return err
	}
	// After pivot_root, "/" is still the private bind made above; give it
	// the propagation asked for (a shared or slave root needs it here too).
	if c.Linux.RootfsPropagation != "" {
		return mount.Mount("", "/", "", prop, "")
	}
	return nil
}

// mountPointOf is the mount point of the mount that holds path: the
// longest of the mount points above it.
func mountPointOf(path string) string {
	best := "/"
	mounts, _ := threadMounts(mountinfo.ParentsFilter(path))
	for _, m := range mounts {
		if len(m.Mountpoint) > len(best) {
			best = m.Mountpoint
		}
	}
	return best
}

var propagation = map[string]uintptr{
	"private": unix.MS_PRIVATE, "rprivate": unix.MS_PRIVATE | unix.MS_REC,
	"slave": unix.MS_SLAVE, "rslave": unix.MS_SLAVE | unix.MS_REC,
	"shared": unix.MS_SHARED, "rshared": unix.MS_SHARED | unix.MS_REC,
	"unbindable": unix.MS_UNBINDABLE, "runbindable": unix.MS_UNBINDABLE | unix.MS_REC,
}

// mountFlags are mount(8)'s option names: set (true) or clear (false) a flag.
var mountFlags = map[string]struct {
	clear bool
	flag  uintptr
}{
	"ro": {false, unix.MS_RDONLY}, "rw": {true, unix.MS_RDONLY},
	"nosuid": {false, unix.MS_NOSUID}, "suid": {true, unix.MS_NOSUID},
	"nodev": {false, unix.MS_NODEV}, "dev": {true, unix.MS_NODEV},
	"noexec": {false, unix.MS_NOEXEC}, "exec": {true, unix.MS_NOEXEC},
	"sync": {false, unix.MS_SYNCHRONOUS}, "async": {true, unix.MS_SYNCHRONOUS},
	"dirsync": {false, unix.MS_DIRSYNC}, "remount": {false, unix.MS_REMOUNT},
	"mand": {false, unix.MS_MANDLOCK}, "nomand": {true, unix.MS_MANDLOCK},
	"noatime": {false, unix.MS_NOATIME}, "atime": {true, unix.MS_NOATIME},
	"nodiratime": {false, unix.MS_NODIRATIME}, "diratime": {true, unix.MS_NODIRATIME},
	"relatime": {false, unix.MS_RELATIME}, "norelatime": {true, unix.MS_RELATIME},
	"strictatime": {false, unix.MS_STRICTATIME}, "nostrictatime": {true, unix.MS_STRICTATIME},
	"bind": {false, unix.MS_BIND}, "rbind": {false, unix.MS_BIND | unix.MS_REC},
}

func isBind(m specs.Mount) bool {
	if m.Type == "bind" {
		return true
	}
	for _, o := range m.Options {
		if o == "bind" || o == "rbind" {
			return true
		}
	}
	return false
}

// parseOptions splits a mount's options into flags, propagation changes
// (each a call of its own: mount(2) takes one propagation type at a time) and
// the data string the filesystem reads (size=, mode=, ...).
func parseOptions(opts []string) (flags uintptr, prop []uintptr, data string) {
	var rest []string
	for _, o := range opts {
		if f, ok := mountFlags[o]; ok {
			if f.clear {
				flags &^= f.flag
			} else {
				flags |= f.flag
			}
			continue
		}
		if p, ok := propagation[o]; ok {
			prop = append(prop, p)
			continue
		}
		switch o {
		case "tmpcopyup", "idmap", "ridmap", "rro", "rrw", "nosymfollow", "rnosymfollow":
			continue // extensions can does not do; the mount is still made
		}
		rest = append(rest, o)
	}
	return flags, prop, strings.Join(rest, ",")
}

// ociMount makes one entry of config.json's mounts below root.
func ociMount(c *specs.Spec, root string, m specs.Mount, userns bool, b *ociBuild) error {
	flags, prop, data := parseOptions(m.Options)
	bind := isBind(m)
	dir := true
	if bind {
		fi, err := os.Stat(m.Source)
		if err != nil {
			return fmt.Errorf("mount %s on %s: source: %w", m.Source, m.Destination, errors.Unwrap(err))
		}
		dir = fi.IsDir()
	}
	target, err := mount.InRoot(root, m.Destination, dir)
	if err != nil {
		return fmt.Errorf("mount %s: %w", m.Destination, err)
	}
	err = ociMountOn(c, target.Path(), root, m, flags, data, bind, userns, b)
	target.Close()
	if err != nil || (len(prop) == 0 && !(bind && flags&^(unix.MS_BIND|unix.MS_REC) != 0)) {
		return err
	}
	// The target's handle is the directory under the new mount: what
	// follows acts on the mount, reached by a new walk from the root.
	top, err := mount.InRoot(root, m.Destination, dir)
	if err != nil {
		return err
	}
	defer top.Close()
	// A bind ignores every flag but MS_REC: they take a remount (mount(2),
	// "Creating a bind mount"), which must keep the flags the kernel
	// locked on the source (nodev, nosuid, noexec in a user namespace).
	if rest := flags &^ (unix.MS_BIND | unix.MS_REC); bind && rest != 0 {
		if err := remountBind(top.Path(), rest); err != nil {
			return fmt.Errorf("mount %s on %s: %w", m.Source, m.Destination, err)
		}
	}
	for _, p := range prop {
		if err := mount.Mount("", top.Path(), "", p, ""); err != nil {
			return err
		}
	}
	return nil
}

// ociMountOn makes mount m on path, the handle of its target.
func ociMountOn(spec *specs.Spec, path, root string, m specs.Mount, flags uintptr, data string, bind, userns bool, b *ociBuild) error {
	switch {
	case m.Type == "proc" && b != nil && b.procCtx >= 0:
		return procFromContext(b.procCtx, m.Source, path, flags, data)
	case bind:
		return mount.Mount(m.Source, path, "", unix.MS_BIND|(flags&unix.MS_REC), "")
	case m.Type == "cgroup" || m.Type == "cgroup2":
		if err := cgroupMount(root, m.Destination, path, flags, hasNamespace(spec, specs.CgroupNamespace), userns, b); err != nil {
			return fmt.Errorf("mount cgroup on %s: %w", m.Destination, err)
		}
		return nil
	case m.Type == "sysfs" && userns:
		// A user namespace that does not own the network namespace may not
		// mount sysfs: bind the host's, read-only, as mount.Sys does.
		if err := mount.Mount("/sys", path, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
			return err
		}
		top, err := mount.InRoot(root, m.Destination, true)
		if err != nil {
			return err
		}
		defer top.Close()
		return remountBind(top.Path(), unix.MS_RDONLY|unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC)
	}
	return mount.Mount(m.Source, path, m.Type, flags, data)
}

// remountBind applies flags to the bind mount at path, keeping the flags the
// mount already carries that an unprivileged remount may not drop.
func remountBind(path string, flags uintptr) error {
	var st unix.Statfs_t
	if err := unix.Statfs(path, &st); err == nil {
		for _, k := range []struct{ st, ms uintptr }{
			{unix.ST_NOSUID, unix.MS_NOSUID}, {unix.ST_NODEV, unix.MS_NODEV},
			{unix.ST_NOEXEC, unix.MS_NOEXEC}, {unix.ST_RDONLY, unix.MS_RDONLY},
		} {
			if uintptr(st.Flags)&k.st != 0 && k.ms != unix.MS_RDONLY {
				flags |= k.ms
			}
		}
	}
	return mount.Mount("", path, "", unix.MS_REMOUNT|unix.MS_BIND|flags, "")
}

// cgroupMount shows the container its own cgroups at path: each of the
// host's cgroup hierarchies, as runc lays them out (a tmpfs holding one
// directory per v1 hierarchy, named as on the host; cgroup2 alone on a v2
// host). With a cgroup namespace of its own, each is a new mount of the
// hierarchy, whose root the kernel makes the container's cgroup
// (cgroup_namespaces(7)); without, a bind of the container's own
// directory, so that it still sees its limits and not the host's tree.
func cgroupMount(root, dest, path string, flags uintptr, cgroupns, userns bool, b *ociBuild) error {
	hier, err := cgroupHierarchies(b.cgroupsOf())
	if err != nil {
		return err
	}
	flags |= unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC
	// one mounts h on target; again names the target afresh, for the
	// remount of a bind (a handle would name the directory under it).
	one := func(h hierarchy, target string, again func() (string, func(), error)) error {
		// In a user namespace the kernel refuses a new v1 mount, and a
		// cgroup2 one whose options differ from the host's (EBUSY).
		if !cgroupns || userns {
			if err := mount.Mount(filepath.Join(h.mountPoint, h.own), target, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
				return err
			}
			p, done, err := again()
			if err != nil {
				return err
			}
			defer done()
			return remountBind(p, flags&(unix.MS_RDONLY|unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC))
		}
		if h.v2 {
			return mount.Mount("cgroup2", target, "cgroup2", flags, "")
		}
		return mount.Mount("cgroup", target, "cgroup", flags, h.options)
	}
	if len(hier) == 1 && hier[0].v2 {
		return one(hier[0], path, func() (string, func(), error) {
			t, err := mount.InRoot(root, dest, true)
			if err != nil {
				return "", nil, err
			}
			return t.Path(), func() { t.Close() }, nil
		})
	}
	if err := mount.Mount("tmpfs", path, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, "mode=755"); err != nil {
		return err
	}
	// path is a handle on the directory under the new tmpfs: open it again.
	top, err := mount.InRoot(root, dest, true)
	if err != nil {
		return err
	}
	defer top.Close()
	for _, h := range hier {
		sub := filepath.Join(top.Path(), h.name)
		if err := os.MkdirAll(sub, 0o755); err != nil {
			return err
		}
		if err := one(h, sub, func() (string, func(), error) { return sub, func() {}, nil }); err != nil {
			return err
		}
	}
	if flags&unix.MS_RDONLY != 0 {
		return mount.Mount("", top.Path(), "", unix.MS_REMOUNT|unix.MS_RDONLY|unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, "mode=755")
	}
	return nil
}

// hierarchy is one cgroup hierarchy mounted on the host.
type hierarchy struct {
	name       string // its directory under /sys/fs/cgroup: cpu, memory, systemd, unified
	mountPoint string
	options    string // v1: the controllers, or name=systemd
	v2         bool
	own        string // this process's cgroup in it, from /proc/self/cgroup
}

// cgroupHierarchies lists the cgroup mounts of this thread's mountinfo (as
// the host has them: read before pivot_root), with the place of process pid
// ("self": this one) in each.
func cgroupHierarchies(pid string) ([]hierarchy, error) {
	mounts, err := threadMounts(mountinfo.FSTypeFilter("cgroup", "cgroup2"))
	if err != nil {
		return nil, err
	}
	self, err := os.ReadFile("/proc/" + pid + "/cgroup")
	if err != nil {
		return nil, err
	}
	own := map[string]string{} // "cpu", "name=systemd", "" (v2) -> path
	for _, l := range strings.Split(strings.TrimSpace(string(self)), "\n") {
		if f := strings.SplitN(l, ":", 3); len(f) == 3 {
			own[f[1]] = f[2]
		}
	}
	var out []hierarchy
	seen := map[string]bool{}
	for _, m := range mounts {
		if seen[m.Mountpoint] {
			continue
		}
		seen[m.Mountpoint] = true
		h := hierarchy{name: filepath.Base(m.Mountpoint), mountPoint: m.Mountpoint, v2: m.FSType == "cgroup2"}
		if !h.v2 {
			var opts []string
			for _, o := range strings.Split(m.VFSOptions, ",") {
				if o != "rw" && o != "ro" && !strings.HasPrefix(o, "release_agent=") {
					opts = append(opts, o)
				}
			}
			h.options = strings.Join(opts, ",")
		}
		key := h.options
		if !h.v2 {
			// /proc/self/cgroup names a hierarchy by its controllers, without
			// the other options (clone_children, xattr...).
			for k := range own {
				if k != "" && strings.Contains(","+h.options+",", ","+strings.Split(k, ",")[0]+",") {
					key = k
				}
			}
		}
		p, ok := own[key]
		if !ok {
			continue // a hierarchy this process is not in: none to show
		}
		h.own = p
		out = append(out, h)
	}
	if len(out) == 0 {
		return nil, errors.New("no cgroup hierarchy is mounted on the host")
	}
	return out, nil
}

// ociDevices gives /dev the nodes every OCI container has (the spec's
// "Default Devices") and those config.json lists, with the usual links.
func ociDevices(root string, extra []specs.LinuxDevice, userns bool) error {
	top, err := mount.InRoot(root, "/dev", true)
	if err != nil {
		return err
	}
	defer top.Close()
	dev := top.Path()
	for _, d := range mount.Devices {
		if err := makeDevice(dev, "/dev/"+d.Name, unix.S_IFCHR|0o666, d.Major, d.Minor, nil, nil, userns); err != nil {
			return err
		}
	}
	for _, d := range extra {
		mode := uint32(0o666)
		if d.FileMode != nil {
			mode = uint32(*d.FileMode) & 0o7777
		}
		switch d.Type {
		case "c", "u":
			mode |= unix.S_IFCHR
		case "b":
			mode |= unix.S_IFBLK
		case "p":
			mode |= unix.S_IFIFO
		default:
			return fmt.Errorf("config.json: device %s: type %q: use c, b, u or p", d.Path, d.Type)
		}
		if !strings.HasPrefix(d.Path, "/dev/") {
			return fmt.Errorf("config.json: device %s: must be below /dev", d.Path)
		}
		if err := makeDevice(dev, d.Path, mode, uint32(d.Major), uint32(d.Minor), d.UID, d.GID, userns); err != nil {
			return err
		}
	}
	for _, l := range [][2]string{
		{"ptmx", "pts/ptmx"}, {"fd", "/proc/self/fd"}, {"core", "/proc/kcore"},
		{"stdin", "/proc/self/fd/0"}, {"stdout", "/proc/self/fd/1"}, {"stderr", "/proc/self/fd/2"},
	} {
		p := filepath.Join(dev, l[0])
		if _, err := os.Lstat(p); err == nil {
			if l[0] != "ptmx" {
				continue
			}
			os.Remove(p) // a ptmx node: the link to the container's devpts wins
		}
		if err := mount.Symlink(l[1], p); err != nil {
			return err
		}
	}
	return nil
}

// makeDevice makes the node name (a path below /dev) in dev; in a user
// namespace, where mknod(2) of a device is refused, it binds the host's.
func makeDevice(dev, name string, mode, major, minor uint32, uid, gid *uint32, userns bool) error {
	path := filepath.Join(dev, strings.TrimPrefix(name, "/dev/"))
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	os.Remove(path) // config.json's entry replaces a default one
	if userns {
		if err := mount.Mknod(path, unix.S_IFREG|0o666, 0, 0); err != nil {
			return err
		}
		return mount.Mount(name, path, "", unix.MS_BIND, "")
	}
	if err := mount.Mknod(path, mode, major, minor); err != nil {
		return err
	}
	// mknod(2) applies the umask; the config's mode is meant exactly.
	if err := os.Chmod(path, os.FileMode(mode&0o777)); err != nil {
		return err
	}
	if uid != nil || gid != nil {
		u, g := -1, -1
		if uid != nil {
			u = int(*uid)
		}
		if gid != nil {
			g = int(*gid)
		}
		return os.Lchown(path, u, g)
	}
	return nil
}
