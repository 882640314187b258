package container

import (
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"

	"github.com/vishvananda/netlink"

	"tincan.dev/pkg/cgroup"
	"tincan.dev/pkg/harden"
	"tincan.dev/pkg/network"
	"tincan.dev/pkg/owner"
	"tincan.dev/pkg/reexec"
)

// newCgroup makes the container's cgroup. As root every container gets one,
// limits or not: it holds the device allowlist (cgroup.DefaultDevices), which
// keeps root inside, who has CAP_MKNOD, from opening the host's disks and
// devices through a node it makes. --privileged lifts that, as Docker does.
//
// Without root there is no cgroup unless a limit is asked for, and then New
// fails and can says so: a requested limit is never ignored. Devices are safe
// there without one: in a user namespace the kernel refuses mknod(2) of a
// device (it takes CAP_MKNOD in the initial user namespace), and every
// filesystem mounted there is implicitly nodev, so only the host's own
// nodes that pkg/mount.Dev binds in can be opened, with the host's
// permissions.
func newCgroup(spec Spec) (*cgroup.Cgroup, error) {
	l := spec.Limits
	if l.Devices == nil && !spec.Privileged && os.Geteuid() == 0 {
		l.Devices = cgroup.DefaultDevices
	}
	if !l.Resources() && l.Devices == nil {
		return nil, nil
	}
	// tincan/<uid>-<id> for a user other than root (pkg/owner): whose a
	// cgroup is shows in its name, and one user's cleanup leaves the
	// others' alone.
	return cgroup.New(owner.Prefix()+spec.ID, l) // Spec.check validated spec.Limits
}

// childCommand is can executed again as the container's child ("can init",
// Child), with its Spec (config, as JSON) and state directory in its
// environment, the extra files from fd 5 on, and born in cg when the kernel
// allows it (cgroupFiles). closeFiles closes our copies once it has started.
func childCommand(config []byte, stateDir string, cg *cgroup.Cgroup, extra ...*os.File) (cmd *reexec.Cmd, closeFiles func(), err error) {
	cmd = reexec.Command("can", "init")
	cmd.ExtraFiles = extra
	closeFiles = func() {}
	if cg != nil {
		if closeFiles, err = cgroupFiles(cg, cmd); err != nil {
			return nil, nil, err
		}
	}
	cmd.Env = append(os.Environ(), stateEnv+"="+stateDir, configEnv+"="+string(config))
	// A session of its own: CMD must not share the caller's terminal, where
	// ioctl(TIOCSTI) would let it type into the user's shell (pkg/tty).
	cmd.SysProcAttr.Setsid = true
	return cmd, closeFiles, nil
}

// cgroupFiles prepares cmd to start in cg. On cgroup2 the child is born in
// it (clone3 with CLONE_INTO_CGROUP): no move, no RCU wait; without cgroup2
// Join does it all. With a pids limit, the child gets pids.max as fd 5, to
// write the limit right before it execs CMD (cgroup.PidsLater says why).
func cgroupFiles(cg *cgroup.Cgroup, cmd *reexec.Cmd) (closeAll func(), err error) {
	var files []*os.File
	closeAll = func() {
		for _, f := range files {
			f.Close()
		}
	}
	if f, err := cg.CloneInto(cmd.SysProcAttr); err == nil {
		files = append(files, f)
	}
	pids, err := cg.PidsLater()
	if err != nil {
		closeAll()
		return nil, err
	}
	if pids != nil {
		cmd.ExtraFiles = append(cmd.ExtraFiles, pids) // fd 5: pidsFD
		files = append(files, pids)
	}
	return closeAll, nil
}

// destroyCgroup removes the cgroup of a container whose can died. Its
// processes are dying with it (Pdeathsig killed PID 1, and the kernel the
// rest of its PID namespace); Destroy kills any that are not, and waits
// while the last ones leave.
func destroyCgroup(id string) error {
	cg, err := cgroup.Open(owner.Prefix() + id)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	return cg.Destroy()
}

// attachNetwork plugs a --net bridge container into the bridge while it
// waits, publishes its ports, and writes the /etc/hosts and /etc/resolv.conf
// the child will bind-mount into its root.
func attachNetwork(spec Spec, pid int, stateDir string) (*network.Attachment, error) {
	host := spec.hostname()
	if spec.Net.Mode != "bridge" {
		return nil, nil
	}
	var b network.Bridge
	if spec.Net.Subnet != "" {
		_, subnet, err := net.ParseCIDR(spec.Net.Subnet)
		if err != nil {
			return nil, fmt.Errorf("--subnet %q: give a CIDR such as 10.77.0.0/16", spec.Net.Subnet)
		}
		b.Subnet = subnet
	}
	var want net.IP
	if spec.Net.IP != "" {
		if want = net.ParseIP(spec.Net.IP).To4(); want == nil {
			return nil, fmt.Errorf("--ip %q: give an IPv4 address in the bridge's subnet", spec.Net.IP)
		}
	}
	var ports []network.Port
	for _, p := range spec.Net.Ports {
		port, err := network.ParsePort(p)
		if err != nil {
			return nil, err
		}
		ports = append(ports, port)
	}
	a, err := b.Attach(spec.ID, pid, want)
	if err != nil {
		return nil, err
	}
	if err := a.Publish(ports); err != nil {
		a.Detach()
		return nil, err
	}
	if err := b.CheckForward(); err != nil {
		fmt.Fprintf(os.Stderr, "can: warning: %v\n", err)
	}
	if err := writeNetFiles(stateDir, host, a.IP.IP); err != nil {
		a.Detach()
		return nil, err
	}
	return a, nil
}

// writeNetFiles writes hosts and resolv.conf into the state directory.
func writeNetFiles(dir, host string, ip net.IP) error {
	resolv, err := network.ContainerResolvConf()
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "hosts"), network.HostsFile(host, ip), 0o644); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "resolv.conf"), resolv, 0o644)
}

// cleanupShared removes the bridge, its table and allocations (cleanup --all).
// The allocator's directory goes whether or not a bridge is left: a bridge
// removed by hand, or with the network namespace it was made in, leaves its
// lock and its last address behind, and --all is for all allocations.
func cleanupShared() error {
	var err error
	if _, lerr := netlink.LinkByName(network.OwnBridge()); lerr == nil {
		err = network.Bridge{}.Cleanup()
	}
	err = errors.Join(err, os.RemoveAll(network.OwnStateDir()))
	os.Remove(StateRoot())
	return err
}

// applyHardening applies Docker's defaults. --privileged keeps every
// capability and installs no filter, but still empties the inheritable set
// (CVE-2022-24769: capabilities must not ride through execve by inheritance).
func applyHardening(spec Spec) error { return harden.Apply(hardening(spec)) }

func hardening(spec Spec) harden.Config {
	if spec.Privileged {
		return harden.Config{Privileged: true}
	}
	return harden.Default()
}
