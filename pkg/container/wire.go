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
)

// newCgroup makes the container's cgroup when a limit is asked for. Without
// root (and without a delegated cgroup v2 subtree) that fails, and can says
// so: a requested limit is never ignored.
func newCgroup(id string, l cgroup.Limits) (*cgroup.Cgroup, error) {
	if l == (cgroup.Limits{}) {
		return nil, nil
	}
	if err := l.Validate(); err != nil {
		return nil, err
	}
	return cgroup.New(id, l)
}

// destroyCgroup removes the cgroup of a container whose can died. Its
// processes are dying with it (Pdeathsig killed PID 1, and the kernel the
// rest of its PID namespace); Destroy kills any that are not, and waits
// while the last ones leave.
func destroyCgroup(id string) error {
	cg, err := cgroup.Open(id)
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
func cleanupShared() error {
	var err error
	if _, lerr := netlink.LinkByName(network.DefaultBridge); lerr == nil {
		err = network.Bridge{}.Cleanup()
	}
	os.Remove(network.DefaultStateDir) // when empty: no allocation left
	os.Remove(StateRoot())
	return err
}

// applyHardening applies Docker's defaults. --privileged keeps every
// capability and installs no filter, but still empties the inheritable set
// (CVE-2022-24769: capabilities must not ride through execve by inheritance).
func applyHardening(spec Spec) error {
	if spec.Privileged {
		return harden.Apply(harden.Config{Privileged: true})
	}
	return harden.Apply(harden.Default())
}
