package container

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"runtime"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"tincan.dev/pkg/layers"
	"tincan.dev/pkg/mount"
	"tincan.dev/pkg/network"
	"tincan.dev/pkg/ns"
	"tincan.dev/pkg/reexec"
	"tincan.dev/pkg/sysprog"
	"tincan.dev/pkg/trace"
	"tincan.dev/pkg/tty"
)

// configEnv carries the Spec to the child, as JSON. An environment
// variable rather than the config.json beside it: with --user-ns the child is
// uid 100000 on the host, and may not read can's state directory.
const configEnv = "_TINCAN_CONFIG"

// writeConfig keeps the Spec, as JSON, in dir/config.json, for people:
// config, if not nil, is spec marshaled already.
func writeConfig(dir string, spec Spec, config []byte) error {
	if config == nil {
		var err error
		if config, err = json.Marshal(spec); err != nil {
			return err
		}
	}
	// 0600: the -e values may be secrets.
	return os.WriteFile(filepath.Join(dir, "config.json"), config, 0o600)
}

// readConfig reads the Spec, and stateDir, the container's state directory
// on the host, as the child knows it until pivot_root.
func readConfig() (spec Spec, stateDir string, err error) {
	stateDir = os.Getenv(stateEnv)
	err = json.Unmarshal([]byte(os.Getenv(configEnv)), &spec)
	os.Unsetenv(stateEnv)
	os.Unsetenv(configEnv)
	if err != nil {
		return spec, "", fmt.Errorf("read the container's config: %w", err)
	}
	return spec, stateDir, nil
}

// IsChild reports whether this process is a container's child, to be run by
// calling Child.
func IsChild() bool { return reexec.IsChild() || isStage2() }

// Child is the container's side: it runs inside the new namespaces, builds
// the container's view of the world, and becomes CMD. It never returns.
func Child() {
	if isStage2() {
		stage2()
	}
	// A stray one from can's caller: not for CMD.
	os.Unsetenv(stage2Env)
	os.Unsetenv(stage2Mark)
	// Decoded now, while the parent still makes the cgroup and the network:
	// encoding/json's first use costs a Go process a millisecond or two,
	// and here it overlaps the parent's work instead of following it.
	spec, stateDir, err := readConfig()
	reexec.RunChild(func() error {
		if err != nil {
			return err
		}
		if spec.OCI != nil {
			runtime.LockOSThread()
			if p := spec.OCI.Exec; p != nil {
				return ociProcess(p, spec.OCI, -1)
			}
			return ociSetup(spec)
		}
		return setup(spec, stateDir)
	})
}

func setup(spec Spec, stateDir string) error {
	// Some of what follows is per thread (setns, capabilities, seccomp): keep
	// every step, and the final execve, on this one thread.
	runtime.LockOSThread()
	if err := enterNetwork(spec); err != nil {
		return err
	}
	// A cgroup namespace made now, after the parent put us in our cgroup,
	// has that cgroup as its root: /proc/self/cgroup inside reads "0::/".
	trace.Call("unshare(CLONE_NEWCGROUP)")
	if err := unix.Unshare(unix.CLONE_NEWCGROUP); err != nil {
		return fmt.Errorf("unshare(CLONE_NEWCGROUP): %w", err)
	}
	if err := mount.MakePrivate("/"); err != nil {
		return err
	}
	userns := mount.InUserNamespace()
	if spec.Rootfs == "" {
		if err := hostRoot(spec); err != nil {
			return err
		}
	} else if err := newRoot(spec, userns, stateDir, false); err != nil {
		return err
	}
	host := spec.hostname()
	if err := ns.Sethostname(host); err != nil {
		return err
	}
	if !spec.Privileged {
		if err := mount.Mask(mount.MaskedPaths); err != nil {
			return err
		}
		if err := mount.ReadOnly(mount.ReadonlyPaths); err != nil {
			return err
		}
	}
	if spec.ReadOnly && spec.Rootfs != "" {
		if err := mount.RemountReadOnly("/"); err != nil {
			return err
		}
	}
	if spec.Terminal {
		if err := ownTerminal(spec.Init); err != nil {
			return err
		}
	}
	if err := enterCwd(spec); err != nil {
		return err
	}
	env := containerEnv(spec, host)
	if spec.Init {
		return runInit(spec, env)
	}
	return execHardened(spec, spec.Args, env, pidsFD)
}

// enterCwd changes to -w's directory, "/" on a root filesystem of the
// container's own; on the host's, without -w, it stays where can was.
func enterCwd(spec Spec) error {
	if spec.Rootfs == "" && spec.Cwd == "" {
		return nil
	}
	cwd := spec.Cwd
	if cwd == "" {
		cwd = "/"
	}
	trace.Call("chdir(%q)", cwd)
	if err := os.Chdir(cwd); err != nil {
		return fmt.Errorf("-w %s: %w", cwd, err)
	}
	if spec.Rootfs == "" {
		return nil
	}
	return checkCwd(cwd)
}

// checkCwd refuses a working directory outside the container's root, as
// runc does since CVE-2024-21626: -w /proc/self/fd/N, with N a directory fd
// of the host's that reached us, would chdir out of the new root. getcwd(2)
// then answers "(unreachable)/..." rather than a path from "/" (unix.Getwd
// turns that into ENOENT). RunChild closed every inherited fd already; this
// also covers fds 0, 1 and 2, which the caller may have opened on a directory.
func checkCwd(cwd string) error {
	trace.Call("getcwd()")
	if _, err := unix.Getwd(); err != nil {
		return fmt.Errorf("-w %s: the working directory is outside the container's root (%w): refusing to run there", cwd, err)
	}
	return nil
}

// ownTerminal gives CMD a terminal of its own (pkg/tty explains why): a new
// pty from the container's /dev/ptmx. Its master goes to can, which relays it
// to the user's terminal; its slave becomes our stdin, stdout and stderr,
// so nothing in the container keeps the user's terminal open, and the
// controlling terminal of our session (setsid(2) was done at clone). With
// --init, stage 2 takes it as CMD's, in a session of CMD's own, so that the
// SIGINT of a ^C goes to CMD only, not also to PID 1, which would pass it on.
func ownTerminal(init bool) error {
	p := sysprog.New()
	defer p.CloseHanded() // the slave, once the program has dup'ed it
	master, err := planTerminal(p, !init)
	if err != nil {
		return err
	}
	err = reexec.SendFile(master)
	master.Close()
	if err != nil {
		return err
	}
	return p.Run()
}

// planTerminal opens the pty from the container's /dev/ptmx, gives it the
// size of the user's terminal (fd 0 still is it), and adds to p the calls
// that make its slave stdin, stdout and stderr, and with ctty the
// controlling terminal; p holds the slave (Hand). It returns the master.
func planTerminal(p *sysprog.Program, ctty bool) (master *os.File, err error) {
	master, slave, err := tty.Open("/dev/ptmx")
	if err != nil {
		return nil, err
	}
	tty.CopySize(slave.Fd(), 0)
	p.Hand(slave)
	for fd := 0; fd <= 2; fd++ {
		p.Add(fmt.Sprintf("dup3(%d, %d, 0)", slave.Fd(), fd), "", unix.SYS_DUP3, slave.Fd(), uintptr(fd), 0)
	}
	if ctty {
		// Our session has none yet (setsid(2) was done first).
		p.Add("ioctl(0, TIOCSCTTY, 0)", "", unix.SYS_IOCTL, 0, unix.TIOCSCTTY, 0)
	}
	return master, nil
}

// hostRoot is soulwing/can's default: the host's filesystem, with /proc mounted
// again for the new PID namespace, and the tmpfs mounts.
func hostRoot(spec Spec) error {
	if err := mount.Proc("/proc"); err != nil {
		return err
	}
	return tmpfsMounts("", spec.Tmpfs)
}

// newRoot builds the container's root filesystem under spec.Rootfs and
// enters it, in runc's order (libcontainer/rootfs_linux.go). stateDir, the
// state directory on the host, holds the hosts and resolv.conf of --net bridge.
// With procLater, /proc is only made ready: PID 1 mounts it (buildOne).
func newRoot(spec Spec, userns bool, stateDir string, procLater bool) error {
	root := spec.Rootfs
	if spec.Layers != "" {
		l := layers.Layers{Dir: spec.Layers}
		lower, err := l.LowerDir()
		if err != nil {
			return err
		}
		upper, err := l.Upper()
		if err != nil {
			return err
		}
		// Rootless (a user namespace can did not ask for as root): the
		// layers' marks are user.overlay.* ones.
		rootless := userns && !spec.UserNS
		if err := mount.Overlay(root, lower, upper, l.WorkPath(spec.ID), rootless); err != nil {
			return err
		}
	}
	if err := mount.PrepareRoot(root); err != nil {
		return err
	}
	// From here every path is the image's: resolved inside root (mount.InRoot).
	proc, err := mount.InRoot(root, "/proc", true)
	if err != nil {
		return err
	}
	if !procLater {
		err = mount.Proc(proc.Path())
	}
	proc.Close()
	if err != nil {
		return err
	}
	if err := mount.Sys(root, userns); err != nil {
		return err
	}
	if err := mount.Dev(root, userns); err != nil {
		return err
	}
	if err := mount.Mqueue(root); err != nil {
		return err
	}
	if err := tmpfsMounts(root, spec.Tmpfs); err != nil {
		return err
	}
	if spec.Net.Mode == "bridge" {
		// can configured this network, so it writes the files that describe
		// it, and binds them in as Docker does, leaving the image alone.
		for _, f := range []string{"hosts", "resolv.conf"} {
			if err := bindFile(filepath.Join(stateDir, f), root, "/etc/"+f); err != nil {
				return err
			}
		}
	}
	if spec.NoPivot {
		return mount.Chroot(root)
	}
	return mount.PivotRoot(root)
}

// bindFile bind-mounts the host's file src onto name inside root, creating
// it (empty) if needed.
func bindFile(src, root, name string) error {
	dst, err := mount.InRoot(root, name, false)
	if err != nil {
		return err
	}
	defer dst.Close()
	return mount.Bind(src, dst.Path())
}

// tmpfsMounts mounts the --tmpfs list below root ("" is the host's "/"),
// each directory found or made inside root.
func tmpfsMounts(root string, list []Tmpfs) error {
	if root == "" {
		root = "/"
	}
	for _, t := range list {
		target, err := mount.InRoot(root, t.Path, true)
		if err != nil {
			return fmt.Errorf("--tmpfs %s: %w", t.Path, err)
		}
		err = mount.Tmpfs(target.Path(), t.Options)
		target.Close()
		if err != nil {
			return err
		}
	}
	return nil
}

// enterNetwork joins --netns's namespace, or brings up lo in a new one
// (--net none), on this thread.
func enterNetwork(spec Spec) error {
	switch spec.Net.Mode {
	case "netns":
		return joinNetns(spec.Net.NetNS)
	case "none":
		return network.LoopbackUp()
	}
	return nil
}

// joinNetns moves this thread into the named network namespace. setns(2)
// changes only the calling thread's namespace, which is enough: this thread,
// locked, is the one that will execve CMD.
func joinNetns(name string) error {
	if err := setns(netnsPath(name), specs.NetworkNamespace); err != nil {
		return fmt.Errorf("--netns %s: %w", name, err)
	}
	return nil
}

// containerEnv is CMD's environment: on a root filesystem of its own, a
// clean one (as Docker: PATH, HOSTNAME, HOME, TERM); on the host's, the
// caller's. Then the -e variables.
func containerEnv(spec Spec, host string) []string {
	var env []string
	if spec.Rootfs == "" {
		env = os.Environ()
	} else {
		env = []string{
			"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
			"HOSTNAME=" + host,
			"HOME=/root",
		}
		if t := os.Getenv("TERM"); t != "" {
			env = append(env, "TERM="+t)
		}
	}
	return append(env, spec.Env...)
}

// ociJSON is OCI without its methods, for encoding/json.
type ociJSON OCI

// MarshalJSON encodes o as its fields are. It exists for the cost of the
// other containers: encoding/json prepares an encoder for every type a
// struct can reach, even through a nil pointer, and for Spec, decoding
// prepares them too. Through OCI that is the whole runtime-spec, some 2 ms
// of a container's start, twice (can's parent, then its child). A type
// with its own MarshalJSON is a leaf: that work is done only for a Spec
// that has an OCI part.
func (o *OCI) MarshalJSON() ([]byte, error) { return json.Marshal((*ociJSON)(o)) }

// UnmarshalJSON is MarshalJSON's reverse.
func (o *OCI) UnmarshalJSON(b []byte) error { return json.Unmarshal(b, (*ociJSON)(o)) }
