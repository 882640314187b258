package container

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"tincan.dev/pkg/cgroup"
	"tincan.dev/pkg/harden"
)

// The OCI runtime spec (https://github.com/opencontainers/runtime-spec) is
// what containerd, podman and Docker hand a low-level runtime: a bundle
// directory with a config.json and a root filesystem. This file is the one
// place that reads it: FromOCI turns config.json into the Spec that can's own
// command line fills too, so both drive the same runtime. What has an
// equivalent in can's flags (args, env, cwd, hostname, root, limits) goes into
// the Spec's own fields; the rest (the mount list, capabilities, seccomp
// profile, hooks...) is carried in Spec.OCI and read by the child's ociRoot
// and ociProcess.

// OCIState is what can create records beside state.json for the engine.
type OCIState struct {
	Bundle      string            `json:"bundle"`
	Created     time.Time         `json:"created"`
	InitTime    uint64            `json:"init_time"` // the init's start time, against PID reuse
	CgroupsPath string            `json:"cgroups_path,omitempty"`
	CgroupMade  []string          `json:"cgroup_made,omitempty"` // parents NewAt made
	Annotations map[string]string `json:"annotations,omitempty"`
	// Hooks says whether config.json has poststart or poststop hooks: start
	// and delete then read it again (oci.json), and only then, for reading
	// the whole runtime spec costs each process milliseconds.
	Hooks bool `json:"hooks,omitempty"`
}

// OCI is the part of config.json that only an OCI container has.
type OCI struct {
	Config *specs.Spec
	// Filter is the process's seccomp profile, compiled by the parent so that
	// a bad profile fails create rather than start.
	Filter      []unix.SockFilter `json:",omitempty"`
	FilterFlags uint              `json:",omitempty"`
	// JoinNS are the namespaces to enter by path (type -> path), in the child.
	JoinNS map[specs.LinuxNamespaceType]string `json:",omitempty"`
	// Exec is the process of can exec, run in the container's namespaces.
	Exec *specs.Process `json:",omitempty"`
}

// ociVersions accepted: 1.0.0 to 1.3.x, the versions whose fields can knows.
func checkOCIVersion(v string) error {
	parts := strings.SplitN(v, ".", 3)
	if len(parts) >= 2 {
		major, err1 := strconv.Atoi(parts[0])
		minor, err2 := strconv.Atoi(parts[1])
		if err1 == nil && err2 == nil && major == 1 && minor <= 3 {
			return nil
		}
	}
	return fmt.Errorf("config.json: ociVersion %q: can reads versions 1.0.0 to 1.3.x of the runtime spec", v)
}

// LoadBundle reads bundle/config.json.
func LoadBundle(bundle string) (*specs.Spec, error) {
	b, err := os.ReadFile(filepath.Join(bundle, "config.json"))
	if err != nil {
		return nil, fmt.Errorf("bundle %s: config.json: %w (make one with can spec)", bundle, errors.Unwrap(err))
	}
	var c specs.Spec
	if err := json.Unmarshal(b, &c); err != nil {
		return nil, fmt.Errorf("bundle %s: config.json: %w", bundle, err)
	}
	return &c, nil
}

// FromOCI translates an OCI config into a Spec: the one place where the
// runtime spec meets can.
func FromOCI(id, bundle string, c *specs.Spec) (Spec, error) {
	s := Spec{ID: id}
	if err := checkOCIVersion(c.Version); err != nil {
		return s, err
	}
	if err := checkID(id); err != nil {
		return s, err
	}
	if c.Process == nil || len(c.Process.Args) == 0 {
		return s, errors.New("config.json: process.args is empty: name the program to run")
	}
	if c.Root == nil || c.Root.Path == "" {
		return s, errors.New("config.json: root.path is empty: name the root filesystem")
	}
	if c.Linux == nil {
		return s, errors.New("config.json: no linux section: can runs Linux containers only")
	}
	root := c.Root.Path
	if !filepath.IsAbs(root) {
		root = filepath.Join(bundle, root)
	}
	if fi, err := os.Stat(root); err != nil || !fi.IsDir() {
		return s, fmt.Errorf("config.json: root.path %s: not a directory", root)
	}
	c.Root.Path = root
	if c.Hooks == nil {
		c.Hooks = &specs.Hooks{}
	}
	p := c.Process
	if p.Cwd == "" || !filepath.IsAbs(p.Cwd) {
		return s, fmt.Errorf("config.json: process.cwd %q: must be an absolute path", p.Cwd)
	}
	s.Args, s.Env, s.Cwd = p.Args, p.Env, p.Cwd
	s.Hostname, s.Rootfs, s.ReadOnly, s.Terminal = c.Hostname, root, c.Root.Readonly, p.Terminal
	o := &OCI{Config: c}
	s.OCI = o

	hasNS := map[specs.LinuxNamespaceType]bool{}
	for _, n := range c.Linux.Namespaces {
		if hasNS[n.Type] {
			return s, fmt.Errorf("config.json: namespace %s is listed twice", n.Type)
		}
		hasNS[n.Type] = true
		if n.Path == "" {
			continue
		}
		if err := checkNSPath(n); err != nil {
			return s, err
		}
		if o.JoinNS == nil {
			o.JoinNS = map[specs.LinuxNamespaceType]string{}
		}
		o.JoinNS[n.Type] = n.Path
	}
	if !hasNS[specs.MountNamespace] {
		return s, errors.New("config.json: linux.namespaces has no mount namespace: can builds the root filesystem with pivot_root, which needs one of its own")
	}
	if c.Hostname != "" && !hasNS[specs.UTSNamespace] {
		return s, errors.New("config.json: hostname is set but the container has no UTS namespace: setting it would rename the host")
	}
	if (len(c.Linux.UIDMappings) > 0) != hasNS[specs.UserNamespace] {
		return s, errors.New("config.json: uidMappings and gidMappings go with a user namespace, and a user namespace needs them")
	}
	if len(c.Linux.Sysctl) > 0 {
		for k := range c.Linux.Sysctl {
			if err := checkSysctl(k, hasNS, o.JoinNS); err != nil {
				return s, err
			}
		}
	}
	if p.ApparmorProfile != "" && !appArmorEnabled() {
		// runc refuses too: a confinement asked for is never dropped.
		return s, fmt.Errorf("config.json: process.apparmorProfile %q: AppArmor is not enabled on this host (/sys/module/apparmor/parameters/enabled): remove it, or enable AppArmor", p.ApparmorProfile)
	}
	if (p.SelinuxLabel != "" || c.Linux.MountLabel != "") && selinuxEnabled() {
		return s, fmt.Errorf("config.json: SELinux labels: can does not apply SELinux labels, and SELinux is enabled here: use runc or crun")
	}
	// With SELinux off the labels mean nothing, and are ignored, as runc's
	// go-selinux does.
	if c.Linux.Seccomp != nil {
		prog, err := harden.SeccompProgram(c.Linux.Seccomp)
		if err != nil {
			return s, fmt.Errorf("config.json: linux.seccomp: %w", err)
		}
		flags, err := harden.SeccompFlags(c.Linux.Seccomp)
		if err != nil {
			return s, fmt.Errorf("config.json: linux.seccomp: %w", err)
		}
		o.Filter, o.FilterFlags = prog, flags
	}
	if p.Capabilities != nil {
		for _, set := range [][]string{p.Capabilities.Bounding, p.Capabilities.Effective, p.Capabilities.Permitted, p.Capabilities.Inheritable, p.Capabilities.Ambient} {
			if _, err := harden.CapMask(set); err != nil {
				return s, fmt.Errorf("config.json: process.capabilities: %w", err)
			}
		}
	}
	for _, m := range c.Mounts {
		if !filepath.IsAbs(m.Destination) {
			return s, fmt.Errorf("config.json: mount destination %q: must be an absolute path", m.Destination)
		}
		if slices.Contains(strings.Split(m.Destination, "/"), "..") {
			return s, fmt.Errorf("config.json: mount destination %q: \"..\" is refused", m.Destination)
		}
	}
	if cgroup.KernelMemoryIgnored(c.Linux.Resources) {
		fmt.Fprintln(os.Stderr, "can: warning: linux.resources.memory.kernel and kernelTCP are ignored: Linux 6.1 removed kernel memory limits")
	}
	var err error
	if s.Limits, err = cgroup.FromOCI(c.Linux.Resources); err != nil {
		return s, fmt.Errorf("config.json: linux.resources: %w", err)
	}
	return s, nil
}

func appArmorEnabled() bool {
	b, err := os.ReadFile("/sys/module/apparmor/parameters/enabled")
	return err == nil && strings.HasPrefix(string(b), "Y")
}

func selinuxEnabled() bool {
	_, err := os.Stat("/sys/fs/selinux/enforce")
	return err == nil
}

// checkID refuses an ID that cannot name a directory: runc allows letters,
// digits and "_+-.", nothing that could walk out of the state root.
func checkID(id string) error {
	if id == "" || id == "." || id == ".." || len(id) > 1024 {
		//lint:ignore ST1005 the sentence ends with the characters allowed
		return fmt.Errorf("container id %q: give a name of letters, digits and _+-.", id)
	}
	for _, r := range id {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("_+-.", r)) {
			//lint:ignore ST1005 the sentence ends with the characters allowed
			return fmt.Errorf("container id %q: give a name of letters, digits and _+-.", id)
		}
	}
	return nil
}

// checkSysctl allows only the sysctls that belong to a namespace the
// container has of its own, as runc does: any other would change the host.
func checkSysctl(key string, has map[specs.LinuxNamespaceType]bool, joined map[specs.LinuxNamespaceType]string) error {
	own := func(t specs.LinuxNamespaceType) bool { return has[t] }
	switch {
	case strings.HasPrefix(key, "kernel.msg") || strings.HasPrefix(key, "kernel.sem") || strings.HasPrefix(key, "kernel.shm") || strings.HasPrefix(key, "fs.mqueue."):
		if own(specs.IPCNamespace) {
			return nil
		}
		return fmt.Errorf("config.json: sysctl %s belongs to the IPC namespace, and the container has none of its own", key)
	case strings.HasPrefix(key, "net."):
		if own(specs.NetworkNamespace) {
			return nil
		}
		return fmt.Errorf("config.json: sysctl %s belongs to the network namespace, and the container has none of its own", key)
	case key == "kernel.hostname" || key == "kernel.domainname":
		if own(specs.UTSNamespace) {
			return nil
		}
		return fmt.Errorf("config.json: sysctl %s belongs to the UTS namespace, and the container has none of its own", key)
	}
	return fmt.Errorf("config.json: sysctl %s is not namespaced: setting it would change the host", key)
}

// nsFlags are the clone flags of each namespace type.
var nsFlags = map[specs.LinuxNamespaceType]int{
	specs.PIDNamespace: unix.CLONE_NEWPID, specs.NetworkNamespace: unix.CLONE_NEWNET,
	specs.MountNamespace: unix.CLONE_NEWNS, specs.IPCNamespace: unix.CLONE_NEWIPC,
	specs.UTSNamespace: unix.CLONE_NEWUTS, specs.UserNamespace: unix.CLONE_NEWUSER,
	specs.CgroupNamespace: unix.CLONE_NEWCGROUP, specs.TimeNamespace: unix.CLONE_NEWTIME,
}

// checkNSPath makes sure a namespace to join is one, of the type it is
// listed as: the NS_GET_NSTYPE ioctl (ioctl_ns(2)) answers with its clone flag.
func checkNSPath(n specs.LinuxNamespace) error {
	fd, err := unix.Open(n.Path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("config.json: namespace %s path %s: %w", n.Type, n.Path, err)
	}
	defer unix.Close(fd)
	t, err := unix.IoctlRetInt(fd, unix.NS_GET_NSTYPE)
	if err != nil {
		return fmt.Errorf("config.json: namespace %s path %s: not a namespace (%w)", n.Type, n.Path, err)
	}
	if want, ok := nsFlags[n.Type]; !ok || t != want {
		return fmt.Errorf("config.json: namespace %s path %s: that is a namespace of another type", n.Type, n.Path)
	}
	return nil
}

// ociCloneflags are the namespaces the config asks can to make (those with
// no path).
func ociCloneflags(c *specs.Spec) uintptr {
	var f uintptr
	for _, n := range c.Linux.Namespaces {
		if n.Path != "" {
			continue
		}
		switch n.Type {
		case specs.PIDNamespace:
			f |= unix.CLONE_NEWPID
		case specs.NetworkNamespace:
			f |= unix.CLONE_NEWNET
		case specs.MountNamespace:
			f |= unix.CLONE_NEWNS
		case specs.IPCNamespace:
			f |= unix.CLONE_NEWIPC
		case specs.UTSNamespace:
			f |= unix.CLONE_NEWUTS
		case specs.UserNamespace:
			f |= unix.CLONE_NEWUSER
		}
		// cgroup and time namespaces are made by the child with unshare(2),
		// after the parent has put it in its cgroup (ociSetup).
	}
	return f
}

func hasNamespace(c *specs.Spec, t specs.LinuxNamespaceType) bool {
	for _, n := range c.Linux.Namespaces {
		if n.Type == t {
			return true
		}
	}
	return false
}
