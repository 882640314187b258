// Command can runs a command in a container: everything the lessons taught,
// in one small runtime (a thin command line over pkg/container).
//
//	can [flags] [--] [CMD [ARG...]]     run CMD (default /bin/sh)
//	can commit --fs DIR                 the container layer becomes an image layer
//	can pull REF --fs DIR               an image from a registry, as DIR's layers
//	can import FILE --fs DIR            the same from docker save or an OCI archive
//	can cleanup [--all]                 remove what killed containers left
//
// Without flags CMD runs in new PID, mount, UTS, IPC, cgroup and network
// namespaces, on the host's filesystem with /proc mounted again (soulwing/can's
// default), hardened like a Docker container.

// can's parent waits, as long as its container runs, and does next to
// nothing: the runtime's goroutine that reads the cgroup's CPU limit again
// every second, to resize GOMAXPROCS, is a start-up cost and a wake-up for
// nothing.
//
//go:debug updatemaxprocs=0
package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"

	"golang.org/x/sys/unix"

	"tincan.dev/pkg/cgroup"
	"tincan.dev/pkg/container"
	"tincan.dev/pkg/layers"
	"tincan.dev/pkg/network"
	"tincan.dev/pkg/owner"
	"tincan.dev/pkg/reexec"
	"tincan.dev/pkg/step"
	"tincan.dev/pkg/trace"
	"tincan.dev/pkg/tty"
)

func main() {
	reexec.GrowStack()
	if container.IsChild() {
		container.Child() // inside the new namespaces; never returns
	}
	// -v before a subcommand (can -v cleanup) traces it; before run flags it
	// stays for parse, which also turns the trace on.
	if len(os.Args) > 2 && (os.Args[1] == "-v" || os.Args[1] == "--v") && isSubcommand(os.Args[2]) {
		trace.Enable()
		os.Args = append(os.Args[:1], os.Args[2:]...)
	}
	// runc's command line, for the engines (oci.go).
	ociMain(os.Args[1:])
	if len(os.Args) > 1 {
		switch os.Args[1] {
		case "commit":
			exit(0, commit(os.Args[2:]))
		case "cleanup":
			exit(0, cleanup(os.Args[2:]))
		case "pull", "import":
			exit(0, imageTool(os.Args[1:]))
		}
	}
	spec, err := parse(os.Args[1:])
	if err == nil {
		spec, err = withImage(spec)
	}
	if err != nil {
		exit(0, err)
	}
	exit(container.Run(spec))
}

func parse(args []string) (container.Spec, error) {
	var (
		spec               container.Spec
		tmpfs, env, ports  step.List
		memory, cpus, pids string
		netMode, netns     string
		verbose            bool
	)
	fs := flag.NewFlagSet("can", flag.ContinueOnError)
	fs.StringVar(&spec.Rootfs, "chroot", "", "root filesystem `DIR` (entered with pivot_root), or the mount point for --fs")
	fs.BoolVar(&spec.NoPivot, "no-pivot", false, "enter --chroot with chroot(2), for a root on ramfs")
	fs.StringVar(&spec.Layers, "fs", "", "layered root in `DIR`: image/0, image/1, ... (top last), config, container (writable)")
	fs.Var(&tmpfs, "tmpfs", "mount a tmpfs on `PATH[:OPTIONS]`, e.g. /tmp:size=64m,mode=1777 (repeatable)")
	fs.StringVar(&spec.Hostname, "hostname", "", "the container's hostname (default: its ID)")
	fs.StringVar(&netMode, "net", "none", "network: none (own namespace, lo only), host, bridge")
	fs.StringVar(&netns, "netns", "", "join the network namespace `NAME` made by ip netns add NAME")
	fs.StringVar(&spec.Net.IP, "ip", "", "--net bridge: the container's address")
	fs.StringVar(&spec.Net.Subnet, "subnet", "", "--net bridge: the bridge's subnet (default: the first of 10.77.0.0/16 to 10.87.0.0/16 no host route uses)")
	fs.Var(&ports, "p", "--net bridge: publish `[HOSTIP:]HOSTPORT:PORT[/tcp|/udp]` (repeatable)")
	fs.Var(&env, "e", "set `KEY=VALUE` in the container's environment (repeatable)")
	fs.StringVar(&spec.Cwd, "w", "", "working `DIR` inside the container")
	fs.StringVar(&spec.User, "user", "", "run CMD as `USER[:GROUP]`, names or numbers, looked up in the container's /etc/passwd and /etc/group")
	fs.Var(&entrypoint, "entrypoint", "run `CMD` instead of the image's Entrypoint (and drop its Cmd)")
	fs.BoolVar(&spec.ReadOnly, "read-only", false, "mount the root filesystem read-only")
	fs.StringVar(&memory, "memory", "", "memory limit, e.g. 64M, 1g")
	fs.StringVar(&cpus, "cpus", "", "CPU limit in CPUs, e.g. 0.5")
	fs.StringVar(&pids, "pids", "", "limit on processes and threads")
	fs.BoolVar(&spec.UserNS, "user-ns", false, "a user namespace even as root: root inside is uid 100000 outside")
	fs.BoolVar(&spec.Privileged, "privileged", false, "no hardening: all capabilities, no seccomp, no masked paths")
	fs.BoolVar(&spec.Init, "init", false, "run a tiny init as PID 1 that reaps zombies and forwards signals")
	fs.DurationVar(&spec.StopTimeout, "stop-timeout", container.DefaultStopTimeout, "after SIGTERM, SIGINT or SIGHUP, time to exit before SIGKILL")
	fs.BoolVar(&verbose, "v", false, "trace each kernel call (same as TINCAN_TRACE=1)")
	if err := parseFlags(fs, args, "can [flags] [--] [CMD [ARG...]]\n       can commit --fs DIR\n       can pull REF --fs DIR\n       can import FILE --fs DIR\n       can cleanup [--all]"); err != nil {
		return spec, err
	}
	if spec.StopTimeout < 0 {
		return spec, fmt.Errorf("--stop-timeout %v: give a duration of 0 or more, such as 10s", spec.StopTimeout)
	}
	if verbose {
		trace.Enable()
	}
	spec.Args, spec.Env = fs.Args(), env
	// On a terminal, CMD gets a pty of its own, relayed (pkg/tty).
	spec.Terminal = tty.IsTerminal(os.Stdin.Fd())
	for _, kv := range env {
		if k, _, ok := strings.Cut(kv, "="); !ok || k == "" {
			return spec, fmt.Errorf("-e %q: give KEY=VALUE", kv)
		}
	}
	for _, t := range tmpfs {
		m := container.ParseTmpfs(t)
		if filepath.Clean(m.Path) == "/" {
			// A tmpfs on / would hide the whole root filesystem, CMD included.
			return spec, fmt.Errorf("--tmpfs %s: cannot hide the container's root: give a directory in it, such as /tmp (or --read-only for a root that cannot be written)", t)
		}
		spec.Tmpfs = append(spec.Tmpfs, m)
	}
	spec.Net.Mode, spec.Net.Ports = netMode, ports
	if netns != "" {
		if netMode != "none" {
			return spec, fmt.Errorf("--netns %s and --net %s: choose one", netns, netMode)
		}
		spec.Net.Mode, spec.Net.NetNS = "netns", netns
	}
	if spec.Net.Mode != "bridge" && (spec.Net.IP != "" || len(ports) > 0 || spec.Net.Subnet != "") {
		return spec, errors.New("--ip, -p and --subnet need --net bridge")
	}
	var err error
	spec.Limits, err = cgroup.ParseLimits(memory, cpus, pids)
	if err != nil {
		return spec, err
	}
	return spec, nil
}

func commit(args []string) error {
	fs := flag.NewFlagSet("can commit", flag.ContinueOnError)
	dir := fs.String("fs", "", "the layered root `DIR` to commit")
	if err := parseFlags(fs, args, "can commit --fs DIR"); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("commit: unexpected argument %q: usage: can commit --fs DIR", fs.Arg(0))
	}
	if *dir == "" {
		return errors.New("commit: give --fs DIR")
	}
	var layer string
	var err error
	// exercise: commit is soulwing/can's "mv container image/N+1", made safe: an exclusive flock(2) on DIR refuses it while a container runs, and rename(2) keeps overlay's whiteouts (pkg/layers)
	layer, err = layers.Layers{Dir: *dir}.Commit()
	// end exercise
	if err != nil {
		return err
	}
	if layer == "" {
		return errors.New("commit: nothing was committed")
	}
	rel, _ := filepath.Rel(*dir, layer)
	fmt.Printf("committed: the container layer is now %s\n", rel)
	return nil
}

func cleanup(args []string) error {
	fs := flag.NewFlagSet("can cleanup", flag.ContinueOnError)
	all := fs.Bool("all", false, "also remove the bridge, the nft table and all address allocations")
	if err := parseFlags(fs, args, "can cleanup [--all]"); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("cleanup: unexpected argument %q: usage: can cleanup [--all]", fs.Arg(0))
	}
	before := leftovers()
	err := container.Cleanup(*all)
	after := leftovers()
	for _, what := range before {
		switch {
		case !slices.Contains(after, what):
			fmt.Println("removed " + what)
		case strings.HasPrefix(what, "bridge"):
			fmt.Println("kept " + what + ": containers share it (can cleanup --all removes it)")
		default:
			fmt.Println("kept " + what + ": in use (its can is alive, or it is under a minute old)")
		}
	}
	if len(before) == 0 {
		fmt.Println("nothing to clean up")
	}
	return err
}

// usersCgroup reports whether id is a cgroup can made for a user other than
// root: <uid>-<ID> (pkg/owner; container.IsCanID). A function, not a regexp: a
// package-level regexp is compiled at every start of can, the container's
// child included.
func usersCgroup(id string) bool {
	uid, rest, ok := strings.Cut(id, "-")
	if !ok || uid == "" || !container.IsCanID(rest) {
		return false
	}
	for _, c := range uid {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// leftovers names what can cleanup may remove, one line each: containers by
// their state directories, cgroups under tincan/, the shared bridge and its
// address allocations.
func leftovers() []string {
	var found []string
	ents, _ := os.ReadDir(container.StateRoot())
	for _, e := range ents {
		if e.IsDir() && filepath.Join(container.StateRoot(), e.Name()) != network.OwnStateDir() {
			found = append(found, "container "+e.Name())
		}
	}
	if os.Geteuid() != 0 {
		return found // rootless cans make no cgroup and no bridge
	}
	cgs, _ := cgroup.List()
	for _, c := range cgs {
		if _, ours := strings.CutPrefix(c.ID, owner.Prefix()); !ours || (owner.Prefix() == "" && usersCgroup(c.ID)) {
			continue // another user's (tincan/<uid>-<id>, pkg/owner)
		}
		if what := "cgroup tincan/" + c.ID; !slices.Contains(found, what) {
			found = append(found, what)
		}
	}
	if _, err := net.InterfaceByName(network.OwnBridge()); err == nil {
		found = append(found, "bridge "+network.OwnBridge())
	}
	if _, err := os.Stat(network.OwnStateDir()); err == nil {
		found = append(found, "bridge addresses "+network.OwnStateDir())
	}
	return found
}

// isSubcommand reports whether arg names one of can's subcommands.
func isSubcommand(arg string) bool {
	switch arg {
	case "commit", "cleanup", "pull", "import":
		return true
	}
	return false
}

// parseFlags parses the flags of can or of a subcommand. A mistyped flag
// gets one line naming it, not the whole usage: the flag package would print
// both to its output, so that goes nowhere; the error comes back as one
// line, the usage only for --help, to stdout.
func parseFlags(fs *flag.FlagSet, args []string, usage string) error {
	fs.SetOutput(io.Discard)
	err := fs.Parse(args)
	if errors.Is(err, flag.ErrHelp) {
		fmt.Println("usage: " + usage)
		fs.SetOutput(os.Stdout)
		fs.PrintDefaults()
		os.Exit(0)
	}
	if err != nil {
		return fmt.Errorf("%w (see %s --help)", err, fs.Name())
	}
	return nil
}

// imageTool runs can-image (pkg/image/cmd/can-image), the program beside
// can that pulls and imports images, in can's place. A program of its own:
// can starts twice for each container (the command, then the child it
// re-executes), and every package linked into a Go program runs its init at
// each start. The registry client (HTTP, TLS, x509, the image formats) would
// double can's size and add milliseconds to every container, for a
// command run once per image (09-full/README.md measures it).
func imageTool(args []string) error {
	path := "can-image"
	if self, err := os.Executable(); err == nil {
		path = filepath.Join(filepath.Dir(self), "can-image")
	}
	if _, err := os.Stat(path); err != nil {
		if path, err = exec.LookPath("can-image"); err != nil {
			return fmt.Errorf("can %s needs can-image, beside can or in $PATH: make builds bin/can-image", args[0])
		}
	}
	return unix.Exec(path, append([]string{"can-image"}, args...), os.Environ())
}

// entrypoint is --entrypoint. It knows whether it was given: --entrypoint ""
// (run no entrypoint) is not the same as no --entrypoint (the image's).
var entrypoint optional

type optional struct {
	value string
	set   bool
}

func (o *optional) String() string     { return o.value }
func (o *optional) Set(s string) error { o.value, o.set = s, true; return nil }

// withImage fills in what the flags left open from the image pulled into
// --fs DIR (DIR/image.json, the image's config as can pull found it), as
// docker run does: the image's Env comes first, so -e overrides it; CMD
// replaces the image's Cmd; --entrypoint replaces its Entrypoint and drops
// its Cmd; -w and --user win over WorkingDir and User. What runs is the
// Entrypoint followed by the Cmd.
func withImage(spec container.Spec) (container.Spec, error) {
	var img struct {
		Config struct {
			Env, Entrypoint, Cmd []string
			WorkingDir, User     string
		} `json:"config"`
	}
	if spec.Layers != "" {
		b, err := os.ReadFile(filepath.Join(spec.Layers, "image.json"))
		if err == nil {
			err = json.Unmarshal(b, &img)
		}
		// No image.json: layers made by hand, as in soulwing/can.
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			return spec, fmt.Errorf("--fs %s: image.json: %w: pull the image again", spec.Layers, err)
		}
	}
	cfg := img.Config
	entry, cmd := cfg.Entrypoint, cfg.Cmd
	if entrypoint.set {
		entry, cmd = nil, nil
		if entrypoint.value != "" {
			entry = []string{entrypoint.value}
		}
	}
	if len(spec.Args) > 0 {
		cmd = spec.Args
	}
	spec.Args = append(append([]string{}, entry...), cmd...)
	spec.Env = append(append([]string{}, cfg.Env...), spec.Env...)
	if spec.Cwd == "" {
		spec.Cwd = cfg.WorkingDir
	}
	if spec.User == "" {
		spec.User = cfg.User
	}
	return spec, nil
}

func exit(code int, err error) {
	if err != nil {
		fmt.Fprintf(os.Stderr, "can: %v\n", err)
		os.Exit(reexec.Code(err))
	}
	os.Exit(code)
}
