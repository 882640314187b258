package container

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"tincan.dev/pkg/cgroup"
	"tincan.dev/pkg/layers"
	"tincan.dev/pkg/network"
	"tincan.dev/pkg/ns"
	"tincan.dev/pkg/reexec"
	"tincan.dev/pkg/sysprog"
	"tincan.dev/pkg/tty"
	"tincan.dev/pkg/userns"
)

// stateEnv tells the re-executed child where its config.json is.
const stateEnv = "_TINCAN_STATE"

// DefaultStopTimeout is docker stop's: 10 seconds from SIGTERM to SIGKILL.
const DefaultStopTimeout = 10 * time.Second

// Run runs the container described by spec to its end and tears everything
// down, on every path: CMD's exit, a setup failure half way, a signal to can.
// It returns CMD's exit code in the shell's convention.
func Run(spec Spec) (code int, err error) {
	// From here until teardown is done, signals are ours to handle, not
	// fatal: caught from before anything exists, so none is lost, and
	// forwarded to the container from one place, reexec's Wait.
	sigs := reexec.Notify()
	defer signal.Stop(sigs)
	if err := spec.check(); err != nil {
		return 0, err
	}

	// The state directory comes first, with all that cleanup needs to know
	// (docs/ARCHITECTURE.md, rule 16): from here on, a SIGKILL at any instant leaves
	// only what can cleanup finds, by this record or by the container's ID.
	var l layers.Layers
	var workDir string
	if spec.Layers != "" {
		l = layers.Layers{Dir: spec.Layers}
		workDir = l.WorkPath(spec.ID)
	}
	st, err := newState("", spec.ID, workDir, nil)
	if err != nil {
		return 0, err
	}
	var undo []func() error
	defer func() {
		for i := len(undo) - 1; i >= 0; i-- {
			if uerr := undo[i](); uerr != nil && err == nil {
				err = fmt.Errorf("teardown: %w", uerr)
			}
		}
	}()
	undo = append(undo, st.remove)

	if spec.Layers != "" {
		lock, err := l.Lock(false)
		if err != nil {
			return 0, err
		}
		undo = append(undo, lock.Close)
		if _, err := l.Upper(); err != nil {
			return 0, fmt.Errorf("--fs %s: container layer: %w", spec.Layers, err)
		}
		if err := l.MakeWorkDir(workDir); err != nil {
			return 0, err
		}
		undo = append(undo, func() error { return os.RemoveAll(workDir) })
		if spec.Rootfs == "" {
			// A mount point of our own; the overlay is mounted on it inside
			// the container's mount namespace, so the host never sees it.
			spec.Rootfs = filepath.Join(st.dir, "rootfs")
			if err := os.Mkdir(spec.Rootfs, 0o755); err != nil {
				return 0, err
			}
		}
	}
	// The re-executed child reads its Spec as JSON, from its environment.
	var config []byte
	if !spec.oneStart() {
		if config, err = json.Marshal(spec); err != nil {
			return 0, err
		}
	}

	// Found by the container's ID if can dies half way through making it.
	cg, err := newCgroup(spec)
	if err != nil {
		return 0, err
	}
	if cg != nil {
		undo = append(undo, cg.Destroy)
	}
	cmd, att, err := startChild(spec, config, st.dir, cg, sigs)
	if att != nil {
		// Release, not Detach: by teardown the child is reaped, and the
		// kernel deletes the veth with its network namespace. Deleting it
		// ourselves would wait for RCU, tens of milliseconds.
		undo = append(undo, att.Release)
	}
	if err != nil {
		return 0, err
	}
	// From here to Continue a re-executed child starts its Go runtime
	// again, a few milliseconds in which it needs nothing from us (PID 1
	// cloned from a thread runs on already): what does not have to come
	// before the clone is done now, in that shadow, rather than on the
	// start's path.
	// The PID is for people reading state.json: cleanup needs only what
	// newState wrote, and save replaces that file by rename(2), so a failed
	// save (a full /run) leaves it whole. The container may run on.
	st.Pid = cmd.Pid
	_ = st.save()
	switch {
	case att != nil: // attached while a thread built the container
	case spec.Net.Mode == "bridge":
		if att, err = sweepAndAttach(spec, cmd.Pid, st.dir); err != nil {
			cmd.Abort()
			return 0, err
		}
		undo = append(undo, att.Release)
	default:
		sweep(spec.ID)
	}
	// Asked to stop while we were setting up: CMD never starts. Unless PID 1
	// went on by itself (Proceed): then CMD may be running already, and the
	// signal is its own, for Wait to pass on, under the stop timeout.
	if !cmd.Proceed {
		select {
		case s := <-sigs:
			cmd.Abort()
			return 128 + int(s.(unix.Signal)), nil
		default:
		}
	}
	if err := cmd.Continue(); err != nil {
		cmd.Wait()
		return 0, err
	}
	// config.json is for people: what the container was started with. No
	// part of can reads it back, so it is written while CMD starts, and
	// its failure, like the PID's save above, stops nothing.
	_ = writeConfig(st.dir, spec, config)
	// A signal that came while the child was setting up, or since, is CMD's
	// now: Wait passes it on. (There is no telling which of the two it was:
	// CMD may already have run for a while, as a server that handles
	// SIGTERM.) A PID 1 without a handler for it ignores it, as under
	// docker stop, and the stop timeout ends it; --init handles them all.
	if spec.Terminal {
		relay, err := relayTerminal(cmd)
		if err != nil {
			cmd.Signal(unix.SIGKILL)
			cmd.Wait()
			return 0, err
		}
		defer func() {
			if rerr := relay.Close(); rerr != nil && err == nil {
				err = fmt.Errorf("restore the terminal: %w", rerr)
			}
		}()
	}
	code, err = cmd.Wait()
	// Only a memory limit of its own can OOM-kill a container for its
	// cgroup to count; without one, Result's files are not worth reading.
	if err == nil && cg != nil && spec.Limits.Memory > 0 {
		if stats, serr := cg.Result(); serr == nil && stats.OOMKilled {
			fmt.Fprintf(os.Stderr, "can: killed by the OOM killer: memory limit %s reached\n", cgroup.FormatSize(spec.Limits.Memory))
		}
	}
	return code, err
}

// startChild starts the container's child, waiting for Continue, with sigs
// to forward: PID 1 cloned from a thread that built the container, when
// spec allows (oneStart), or can re-executed ("can init", Child).
//
// A --net bridge container built on a thread is attached to the bridge
// while it is built, through that thread (its network namespace is the
// container's): att is then not nil, and PID 1 needs no "go".
func startChild(spec Spec, config []byte, stateDir string, cg *cgroup.Cgroup, sigs chan os.Signal) (cmd *reexec.Cmd, att *network.Attachment, err error) {
	stop := spec.StopTimeout
	if stop <= 0 {
		stop = DefaultStopTimeout
	}
	if spec.oneStart() {
		cmd = reexec.Command()
		cmd.Signals, cmd.StopTimeout = sigs, stop
		// A session of its own, as childCommand's: CMD must not share
		// the caller's terminal (pkg/tty).
		cmd.SysProcAttr.Setsid = true
		// PID 1 joins its cgroup itself, and its network is ready before
		// the clone: it needs nothing from us between the clone and execve.
		cmd.Proceed = true
		var handTID func(int) // nil: no network to plug in
		var tids chan int
		var attached chan error
		if spec.Net.Mode == "bridge" {
			// The thread names its network namespace by its thread ID;
			// we attach it while the thread goes on with the mounts.
			tids, attached = make(chan int, 1), make(chan error, 1)
			handTID = func(tid int) { tids <- tid }
			cmd.Meanwhile = func() {
				if tid, ok := <-tids; ok {
					var aerr error
					att, aerr = sweepAndAttach(spec, tid, stateDir)
					attached <- aerr
				}
			}
		}
		var terminal *os.File
		err = cmd.StartProgram(func(p *sysprog.Program) error {
			err := buildOne(p, spec, stateDir, cg, &terminal, handTID)
			if tids != nil {
				close(tids) // Meanwhile stops waiting, if no ID came
				if err == nil {
					err = <-attached // the network, before PID 1 runs
				}
			}
			return err
		})
		switch {
		case err != nil && terminal != nil:
			terminal.Close()
		case terminal != nil:
			cmd.Pass(terminal)
		}
		return cmd, att, err
	}
	cmd, closeFiles, err := childCommand(config, stateDir, cg)
	if err != nil {
		return nil, nil, err
	}
	defer closeFiles()
	cmd.SysProcAttr.Cloneflags = spec.cloneflags()
	cmd.Rootless = true // a user namespace when not root (pkg/userns)
	cmd.Signals, cmd.StopTimeout = sigs, stop
	if spec.UserNS && os.Geteuid() == 0 {
		// Root inside is uid and gid 100000 outside, with 65536 ids: what
		// root makes inside belongs to 100000 on the host.
		userns.Explicit(userns.Maps{{Inside: 0, Outside: 100000, Count: 65536}}).Configure(cmd.SysProcAttr)
	}
	if err := cmd.Start(); err != nil {
		return nil, nil, err
	}
	if cg != nil {
		if err := cg.Join(cmd.Pid); err != nil {
			cmd.Abort()
			return nil, nil, err
		}
	}
	return cmd, nil, nil
}

// sweep removes whatever earlier cans killed by SIGKILL left behind.
func sweep(id string) {
	if err := sweepDead(id); err != nil {
		fmt.Fprintf(os.Stderr, "can: cleanup of earlier containers: %v\n", err)
	}
}

// sweepAndAttach sweeps, then plugs the network namespace of pid (a
// process, or the thread building the container) into the bridge: the
// sweep first, so that an address a dead container held is free again.
func sweepAndAttach(spec Spec, pid int, stateDir string) (*network.Attachment, error) {
	sweep(spec.ID)
	return attachNetwork(spec, pid, stateDir)
}

// relayTerminal receives the container's pty master, which the child sent
// during setup, and relays it to can's own terminal until the container ends.
func relayTerminal(cmd *reexec.Cmd) (*tty.Relay, error) {
	master, err := cmd.ReceiveFile()
	if err != nil {
		return nil, err
	}
	relay, err := tty.Start(master, os.Stdin, os.Stdout)
	if err != nil {
		master.Close()
		return nil, err
	}
	return relay, nil
}

// check refuses a bad spec before anything is made.
func (s *Spec) check() error {
	if s.ID == "" {
		s.ID = NewID()
	}
	if len(s.Args) == 0 {
		s.Args = []string{"/bin/sh"}
	}
	if err := s.Limits.Validate(); err != nil {
		return err
	}
	if s.Hostname != "" {
		if err := ns.CheckHostname(s.Hostname); err != nil {
			return err
		}
	}
	if s.Rootfs != "" && s.Layers == "" {
		if err := checkRootfs(s.Rootfs, s.Args[0]); err != nil {
			return err
		}
	}
	if s.Layers != "" {
		if _, err := (layers.Layers{Dir: s.Layers}).LowerDir(); err != nil {
			return err
		}
		if s.Rootfs != "" {
			if fi, err := os.Stat(s.Rootfs); err != nil || !fi.IsDir() {
				return fmt.Errorf("--chroot %s: not a directory to mount the layers on: mkdir -p %s", s.Rootfs, s.Rootfs)
			}
		}
	}
	switch s.Net.Mode {
	case "", "none":
		s.Net.Mode = "none"
	case "host":
	case "netns":
		if strings.ContainsRune(s.Net.NetNS, '/') || s.Net.NetNS == "" {
			return fmt.Errorf("--netns %q: give the name of a namespace made by ip netns add NAME", s.Net.NetNS)
		}
		if _, err := os.Stat(netnsPath(s.Net.NetNS)); err != nil {
			return fmt.Errorf("--netns %s: unknown network namespace (no %s): create it with ip netns add %s", s.Net.NetNS, netnsPath(s.Net.NetNS), s.Net.NetNS)
		}
	case "bridge":
	default:
		return fmt.Errorf("--net %q: use none, host or bridge (or --netns NAME)", s.Net.Mode)
	}
	if os.Geteuid() != 0 {
		switch {
		case s.Net.Mode == "netns":
			return errors.New("--netns: joining a named network namespace needs root (it belongs to the host's user namespace)")
		case s.Net.Mode == "bridge":
			return errors.New("--net bridge: creating a bridge and NAT rules on the host needs root (rootless runtimes use slirp4netns or pasta instead)")
		}
	}
	for _, t := range s.Tmpfs {
		if !strings.HasPrefix(t.Path, "/") {
			return fmt.Errorf("--tmpfs %s: the path must be absolute, as seen inside the container (e.g. /tmp:size=64m)", t.Path)
		}
		if slices.Contains(strings.Split(t.Path, "/"), "..") {
			return fmt.Errorf("--tmpfs %s: \"..\" is refused: name the directory itself (e.g. /tmp)", t.Path)
		}
	}
	return nil
}

// checkRootfs refuses a root filesystem that cannot run CMD.
func checkRootfs(root, cmd string) error {
	fi, err := os.Stat(root)
	switch {
	case err != nil:
		return fmt.Errorf("--chroot %s: %w: build one with make rootfs", root, errors.Unwrap(err))
	case !fi.IsDir():
		return fmt.Errorf("--chroot %s: not a directory", root)
	}
	if !hasEntries(root) {
		return fmt.Errorf("--chroot %s: the directory is empty: build a root filesystem there with make rootfs", root)
	}
	if cmd == "/bin/sh" {
		if _, err := os.Lstat(filepath.Join(root, "bin/sh")); err != nil {
			return fmt.Errorf("--chroot %s: no /bin/sh inside to run by default: give a CMD, or use a root filesystem with a shell", root)
		}
	}
	return nil
}

// hasEntries reports whether dir lists anything: one name is enough, where
// os.ReadDir would read and sort them all.
func hasEntries(dir string) bool {
	f, err := os.Open(dir)
	if err != nil {
		return false
	}
	defer f.Close()
	names, _ := f.Readdirnames(1)
	return len(names) > 0
}

func netnsPath(name string) string { return filepath.Join("/run/netns", name) }

func (s *Spec) cloneflags() uintptr {
	f := uintptr(unix.CLONE_NEWNS | unix.CLONE_NEWPID | unix.CLONE_NEWUTS | unix.CLONE_NEWIPC)
	if s.Net.Mode == "none" || s.Net.Mode == "bridge" {
		f |= unix.CLONE_NEWNET
	}
	return f
}
