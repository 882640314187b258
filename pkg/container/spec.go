// Package container turns a Spec into a running container and back into
// nothing: the whole container's life of docs/ARCHITECTURE.md, used by can (09-full).
//
//	parent (Run)                              child (Child, re-executed)
//	check the spec, state dir /run/tincan/ID
//	lock the layers, cgroup + limits
//	clone(NEWNS|NEWPID|NEWUTS|NEWIPC|NEWNET)  waits for "go"
//	put the child in the cgroup, network
//	"go" -----------------------------------> make / private, join netns,
//	                                          new cgroup namespace, overlay,
//	                                          /proc /sys /dev tmpfs, pivot_root,
//	                                          hostname, masked and read-only paths,
//	                                          caps, no_new_privs, seccomp, execve
//	wait, forward signals, report OOM
//	teardown: network, cgroup, work dir, state
//
// The Spec is kept simple to fill from an OCI config.json later: it names
// namespaces, mounts, process, resources, masked and read-only paths.
package container

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"time"

	"tincan.dev/pkg/cgroup"
)

// Spec is everything can was asked for.
type Spec struct {
	ID       string
	Args     []string // CMD and its arguments
	Env      []string // KEY=VALUE added to the container's environment
	Cwd      string   // working directory inside ("" = /)
	User     string   // "" (root), or USER[:GROUP], names or numbers (see user.go)
	Hostname string   // "" = the container's ID

	Rootfs   string // root filesystem, or the mount point of Layers; "" = the host's
	Layers   string // --fs DIR: overlay layers in DIR/image/N, DIR/config, DIR/container
	NoPivot  bool   // chroot(2) instead of pivot_root(2), for a rootfs on ramfs
	ReadOnly bool   // read-only root
	Tmpfs    []Tmpfs

	Net    Net
	UserNS bool // a user namespace even as root (rootless always has one)

	Limits     cgroup.Limits
	Privileged bool // no capability, seccomp or masked-path hardening
	Init       bool // a tiny PID 1 that reaps zombies and forwards signals
	Terminal   bool // a pty of its own for CMD, relayed to can's stdin and stdout

	// OCI is what an OCI config.json asks beyond can's flags (oci.go); nil
	// for can's own command line.
	OCI *OCI `json:",omitempty"`

	// StopTimeout is how long the container has to exit after can passes
	// it SIGTERM, SIGINT or SIGHUP, before SIGKILL (0: docker stop's 10 seconds).
	StopTimeout time.Duration
}

// Tmpfs is one --tmpfs PATH[:OPTIONS] mount.
type Tmpfs struct {
	Path    string
	Options string // tmpfs(5) options, e.g. size=64m,mode=1777
}

// ParseTmpfs reads PATH[:OPTIONS]; Run checks that PATH is absolute.
func ParseTmpfs(s string) Tmpfs {
	path, opts, _ := strings.Cut(s, ":")
	return Tmpfs{Path: path, Options: opts}
}

// Net is the container's network.
type Net struct {
	Mode   string // "none" (own namespace, lo only), "host", "netns" (join NetNS), "bridge"
	NetNS  string // name under /run/netns, for Mode "netns"
	IP     string // bridge: requested address
	Subnet string // bridge: subnet (default: the bridge's, or the first of network.Pools no route uses)
	Ports  []string
}

// hostname is the container's hostname: the one asked for, or its ID.
func (s Spec) hostname() string {
	if s.Hostname != "" {
		return s.Hostname
	}
	return s.ID
}

// NewID returns a random container ID: 12 hex digits, like Docker's short
// IDs. An ID names things, it guards nothing: math/rand/v2, seeded by the
// runtime, is enough, and spares can the start-up cost of crypto/rand.
func NewID() string {
	return fmt.Sprintf("%012x", rand.Uint64()&(1<<48-1))
}
