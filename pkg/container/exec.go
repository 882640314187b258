package container

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"tincan.dev/pkg/harden"
	"tincan.dev/pkg/mount"
	"tincan.dev/pkg/reexec"
	"tincan.dev/pkg/tty"
)

// ExecOpts are can exec's flags.
type ExecOpts struct {
	Detach        bool
	PidFile       string
	ConsoleSocket string
}

// Exec runs process p in the running container, as runc exec: in its
// namespaces and cgroup, with p's identity, capabilities and the
// container's seccomp profile. It returns p's exit code, or 0 with Detach.
//
// Entering a container is setns(2) for each of its namespaces, and two of
// them refuse a multithreaded caller: "A process may not be reassociated
// with a new mount namespace if it is multithreaded", and the same for a
// user namespace. Every Go program is multithreaded from its first
// instruction, so runc enters them in C code that runs before the Go runtime
// starts (libcontainer/nsenter). can enters the others on a locked thread
// before the fork (startIn: the PID namespace, too, applies to the children
// of the thread that enters it, so the child's PID is the process's), and
// borrows for the mount and user namespaces a C program that is single
// threaded, nsenter(1), which enters them and executes can again inside,
// which sets up the process and executes it.
func (c *Container) Exec(p *specs.Process, opts ExecOpts) (int, error) {
	if s := c.Status(); s != specs.StateRunning {
		return 0, fmt.Errorf("container %s is %s: exec needs it running", c.st.ID, s)
	}
	if len(p.Args) == 0 {
		return 0, fmt.Errorf("exec: give the program to run")
	}
	if p.Terminal && opts.ConsoleSocket == "" && opts.Detach {
		return 0, fmt.Errorf("exec --tty --detach needs --console-socket: can exits, so it cannot hold the terminal")
	}
	nsenter, err := exec.LookPath("nsenter")
	if err != nil {
		return 0, fmt.Errorf("exec needs nsenter(1), from util-linux: apt-get install util-linux")
	}
	cfg, err := c.Config()
	if err != nil {
		return 0, err
	}
	spec, err := FromOCI(c.st.ID, c.st.OCI.Bundle, cfg)
	if err != nil {
		return 0, err
	}
	spec.OCI.Exec = p
	self, err := sealedSelf()
	if err != nil {
		return 0, err
	}
	defer self.Close()

	// The namespaces a thread can enter are entered here, before the
	// fork (startIn); nsenter does the mount and user ones (and only those
	// it must: busybox's nsenter knows no others, util-linux's all).
	pid := strconv.Itoa(c.st.Pid)
	join := map[specs.LinuxNamespaceType]string{}
	for _, n := range threadNS {
		name := strings.TrimSuffix(n.self, "_for_children")
		if !sameNS(name, c.st.Pid) {
			join[n.t] = "/proc/" + pid + "/ns/" + name
		}
	}
	wrap := []string{nsenter}
	if !sameNS("user", c.st.Pid) {
		wrap = append(wrap, "--user=/proc/"+pid+"/ns/user")
	}
	if !sameNS("mnt", c.st.Pid) {
		wrap = append(wrap, "--mount=/proc/"+pid+"/ns/mnt")
	}
	wrap = append(wrap, "--", "/proc/self/fd/5") // self, as the child's fd 5
	cmd := reexec.Command("can", "exec")
	cmd.Wrap = wrap
	cmd.ExtraFiles = []*os.File{self}
	config, err := json.Marshal(spec)
	if err != nil {
		return 0, err
	}
	cmd.Env = append(os.Environ(), configEnv+"="+string(config))
	cmd.SysProcAttr.Setsid = true
	if opts.Detach {
		cmd.SysProcAttr.Pdeathsig = 0
	}
	if err := startIn(cmd, join); err != nil {
		return 0, err
	}
	if cg, err := c.cgroup(); err == nil {
		if err := cg.Join(cmd.Pid); err != nil {
			cmd.Abort()
			return 0, err
		}
	}
	if err := cmd.Continue(); err != nil {
		cmd.Wait()
		return 0, err
	}
	var relay *tty.Relay
	if p.Terminal {
		master, err := cmd.ReceiveFile()
		if err != nil {
			cmd.Signal(unix.SIGKILL)
			cmd.Wait()
			return 0, err
		}
		if opts.ConsoleSocket != "" {
			err = sendConsole(opts.ConsoleSocket, master)
			master.Close()
		} else {
			relay, err = tty.Start(master, os.Stdin, os.Stdout)
		}
		if err != nil {
			cmd.Signal(unix.SIGKILL)
			cmd.Wait()
			return 0, err
		}
	}
	if opts.PidFile != "" {
		if err := writePidFile(opts.PidFile, cmd.Pid); err != nil {
			return 0, err
		}
	}
	if opts.Detach {
		cmd.Release()
		return 0, nil
	}
	code, err := cmd.Wait()
	if relay != nil {
		relay.Close()
	}
	return code, err
}

// sameNS reports whether process pid shares this process's namespace name.
func sameNS(name string, pid int) bool {
	a, err1 := os.Readlink("/proc/self/ns/" + name)
	b, err2 := os.Readlink(fmt.Sprintf("/proc/%d/ns/%s", pid, name))
	return err1 != nil || err2 != nil || a == b
}

// sealedSelf is a copy of can's own binary in a sealed memfd, for the
// process that runs inside a container that already has processes. Run
// from the host's file, it would be open to CVE-2019-5736: a process in the
// container opens /proc/PID/exe of can while can runs in its PID
// namespace, and writes the host's binary through it once can has exited.
// A sealed memfd (memfd_create(2), F_SEAL_WRITE) cannot be written by anyone.
func sealedSelf() (*os.File, error) {
	fd, err := unix.MemfdCreate("can", unix.MFD_CLOEXEC|unix.MFD_ALLOW_SEALING)
	if err != nil {
		return nil, fmt.Errorf("memfd_create: %w", err)
	}
	mem := os.NewFile(uintptr(fd), "can (memfd)")
	exe, err := os.Open("/proc/self/exe")
	if err != nil {
		mem.Close()
		return nil, err
	}
	defer exe.Close()
	if _, err := io.Copy(mem, exe); err != nil {
		mem.Close()
		return nil, fmt.Errorf("copy can into a memfd: %w", err)
	}
	seals := unix.F_SEAL_SEAL | unix.F_SEAL_SHRINK | unix.F_SEAL_GROW | unix.F_SEAL_WRITE
	if _, err := unix.FcntlInt(mem.Fd(), unix.F_ADD_SEALS, seals); err != nil {
		mem.Close()
		return nil, fmt.Errorf("seal the memfd: %w", err)
	}
	return mem, nil
}

// DefaultOCI is the config.json can spec writes: runc's default, a shell
// in ./rootfs with Docker's capabilities, masked and read-only paths.
func DefaultOCI(rootless bool) *specs.Spec {
	caps := []string{"CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"}
	s := &specs.Spec{
		Version: specs.Version,
		Root:    &specs.Root{Path: "rootfs", Readonly: true},
		Process: &specs.Process{
			Terminal: true,
			Args:     []string{"sh"},
			Env:      []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "TERM=xterm"},
			Cwd:      "/",
			Capabilities: &specs.LinuxCapabilities{
				Bounding: caps, Effective: caps, Permitted: caps,
			},
			Rlimits:         []specs.POSIXRlimit{{Type: "RLIMIT_NOFILE", Hard: 1024, Soft: 1024}},
			NoNewPrivileges: true,
		},
		Hostname: "can",
		Mounts: []specs.Mount{
			{Destination: "/proc", Type: "proc", Source: "proc"},
			{Destination: "/dev", Type: "tmpfs", Source: "tmpfs", Options: []string{"nosuid", "strictatime", "mode=755", "size=65536k"}},
			{Destination: "/dev/pts", Type: "devpts", Source: "devpts", Options: []string{"nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"}},
			{Destination: "/dev/shm", Type: "tmpfs", Source: "shm", Options: []string{"nosuid", "noexec", "nodev", "mode=1777", "size=65536k"}},
			{Destination: "/dev/mqueue", Type: "mqueue", Source: "mqueue", Options: []string{"nosuid", "noexec", "nodev"}},
			{Destination: "/sys", Type: "sysfs", Source: "sysfs", Options: []string{"nosuid", "noexec", "nodev", "ro"}},
			{Destination: "/sys/fs/cgroup", Type: "cgroup", Source: "cgroup", Options: []string{"nosuid", "noexec", "nodev", "relatime", "ro"}},
		},
		Linux: &specs.Linux{
			Resources: &specs.LinuxResources{Devices: []specs.LinuxDeviceCgroup{{Allow: false, Access: "rwm"}}},
			Namespaces: []specs.LinuxNamespace{
				{Type: specs.PIDNamespace}, {Type: specs.NetworkNamespace}, {Type: specs.IPCNamespace},
				{Type: specs.UTSNamespace}, {Type: specs.MountNamespace}, {Type: specs.CgroupNamespace},
			},
			// can's own lists, which runc spec's are a part of.
			MaskedPaths:   slices.Clone(mount.MaskedPaths),
			ReadonlyPaths: slices.Clone(mount.ReadonlyPaths),
		},
	}
	if rootless {
		uid, gid := uint32(os.Geteuid()), uint32(os.Getegid())
		s.Linux.Resources = nil
		s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: specs.UserNamespace})
		s.Linux.UIDMappings = []specs.LinuxIDMapping{{ContainerID: 0, HostID: uid, Size: 1}}
		s.Linux.GIDMappings = []specs.LinuxIDMapping{{ContainerID: 0, HostID: gid, Size: 1}}
		for i, m := range s.Mounts {
			if m.Destination == "/dev/pts" {
				s.Mounts[i].Options = []string{"nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620"}
			}
		}
	}
	return s
}

// Features is what can features answers (the runtime spec's features.md):
// what an engine may ask of can.
func Features() map[string]any {
	caps := harden.CapNames()
	return map[string]any{
		"ociVersionMin": "1.0.0",
		"ociVersionMax": "1.3.0",
		"hooks":         []string{"prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop"},
		"mountOptions":  mountOptionNames(),
		"linux": map[string]any{
			"namespaces":   []string{"cgroup", "ipc", "mount", "network", "pid", "time", "user", "uts"},
			"capabilities": caps,
			"cgroup":       map[string]any{"v1": true, "v2": true, "systemd": false, "systemdUser": false},
			"seccomp": map[string]any{
				"enabled":   true,
				"actions":   []string{"SCMP_ACT_ALLOW", "SCMP_ACT_ERRNO", "SCMP_ACT_KILL", "SCMP_ACT_KILL_PROCESS", "SCMP_ACT_KILL_THREAD", "SCMP_ACT_LOG", "SCMP_ACT_TRACE", "SCMP_ACT_TRAP"},
				"operators": []string{"SCMP_CMP_EQ", "SCMP_CMP_GE", "SCMP_CMP_GT", "SCMP_CMP_LE", "SCMP_CMP_LT", "SCMP_CMP_MASKED_EQ", "SCMP_CMP_NE"},
			},
			"apparmor": map[string]any{"enabled": false},
			"selinux":  map[string]any{"enabled": false},
		},
	}
}

func mountOptionNames() []string {
	var out []string
	for k := range mountFlags {
		out = append(out, k)
	}
	for k := range propagation {
		out = append(out, k)
	}
	return out
}
