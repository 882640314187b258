package container

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"runtime"

	"golang.org/x/sys/unix"

	"tincan.dev/pkg/layers"
	"tincan.dev/pkg/mount"
	"tincan.dev/pkg/network"
	"tincan.dev/pkg/ns"
	"tincan.dev/pkg/reexec"
	"tincan.dev/pkg/trace"
)

// configEnv carries the Spec to the child, as JSON. An environment
// variable rather than the config.json beside it: with --user-ns the child is
// uid 100000 on the host, and may not read can's state directory.
const configEnv = "_TINCAN_CONFIG"

// writeConfig keeps the Spec in dir/config.json, for people and for
// can cleanup, and returns it as JSON for the child's environment.
func writeConfig(dir string, spec Spec) ([]byte, error) {
	b, err := json.Marshal(spec)
	if err != nil {
		return nil, err
	}
	// 0600: the -e values may be secrets.
	return b, os.WriteFile(filepath.Join(dir, "config.json"), b, 0o600)
}

// stateDir is the container's state directory on the host, as the child
// knows it until pivot_root.
var stateDir string

func readConfig() (Spec, error) {
	var spec Spec
	stateDir = os.Getenv(stateEnv)
	err := json.Unmarshal([]byte(os.Getenv(configEnv)), &spec)
	os.Unsetenv(stateEnv)
	os.Unsetenv(configEnv)
	if err != nil {
		return spec, fmt.Errorf("read the container's config: %w", err)
	}
	return spec, nil
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
	reexec.RunChild(func() error {
		spec, err := readConfig()
		if err != nil {
			return err
		}
		return setup(spec)
	})
}

func setup(spec Spec) error {
	// Some of what follows is per thread (setns, capabilities, seccomp): keep
	// every step, and the final execve, on this one thread.
	runtime.LockOSThread()
	if spec.Net.Mode == "netns" {
		if err := joinNetns(spec.Net.NetNS); err != nil {
			return err
		}
	}
	if spec.Net.Mode == "none" {
		if err := network.LoopbackUp(); err != nil {
			return err
		}
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
	} else if err := newRoot(spec, userns); err != nil {
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
	cwd := spec.Cwd
	if cwd == "" {
		cwd = "/"
	}
	if spec.Rootfs != "" || spec.Cwd != "" {
		trace.Call("chdir(%q)", cwd)
		if err := os.Chdir(cwd); err != nil {
			return fmt.Errorf("-w %s: %w", cwd, err)
		}
	}
	env := containerEnv(spec, host)
	if spec.Init {
		return runInit(spec, env)
	}
	return execHardened(spec, spec.Args, env, pidsFD)
}

// hostRoot is the seed's default: the host's filesystem, with /proc mounted
// again for the new PID namespace, and the tmpfs mounts.
func hostRoot(spec Spec) error {
	if err := mount.Proc("/proc"); err != nil {
		return err
	}
	return tmpfsMounts("", spec.Tmpfs)
}

// newRoot builds the container's root filesystem under spec.Rootfs and
// enters it, in runc's order (libcontainer/rootfs_linux.go).
func newRoot(spec Spec, userns bool) error {
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
		if err := mount.Overlay(root, lower, upper, l.WorkPath(spec.ID)); err != nil {
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
	err = mount.Proc(proc.Path())
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

// joinNetns moves this thread into the named network namespace. setns(2)
// changes only the calling thread's namespace, which is enough: this thread,
// locked, is the one that will execve CMD.
func joinNetns(name string) error {
	fd, err := unix.Open(netnsPath(name), unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("--netns %s: %w", name, err)
	}
	defer unix.Close(fd)
	trace.Call("setns(open(%q), CLONE_NEWNET)", netnsPath(name))
	if err := unix.Setns(fd, unix.CLONE_NEWNET); err != nil {
		return fmt.Errorf("setns %s: %w", netnsPath(name), err)
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
