package container

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"tincan.dev/pkg/cgroup"
	"tincan.dev/pkg/reexec"
	"tincan.dev/pkg/userns"
)

// The OCI lifecycle (runtime spec, "Lifecycle"), as runc's command line
// speaks it:
//
//	create   build the container; its init waits, built, before execve
//	start    release it: the init opens the exec fifo and runs the program
//	state    answer ociVersion, id, status, pid, bundle, annotations
//	kill     signal the init (or, with --all, every process in its cgroup)
//	delete   remove what create made, once the container has stopped
//
// The container's processes outlive the can that created them: the engine's
// shim (containerd-shim, conmon) is a child subreaper (PR_SET_CHILD_SUBREAPER)
// and becomes the init's parent when can exits, to reap it and read its exit
// status. So create never waits; everything later is found again by the ID,
// in the state directory under --root.

// CreateOpts are create's flags.
type CreateOpts struct {
	Root          string // --root: the state root ("" is StateRoot())
	Bundle        string
	PidFile       string
	ConsoleSocket string // a unix socket to send the terminal's master to
	NoPivot       bool
	// Foreground is can run: the container stays can's child, and its
	// terminal, without --console-socket, is relayed to can's own.
	Foreground bool
}

// Container is a container found by its ID.
type Container struct {
	st *State
}

// Create builds the container described by spec (from FromOCI) and leaves it
// waiting for Start. With opts.Foreground it returns the running child for
// RunOCI; otherwise nil, and the container is its engine's.
func Create(spec Spec, opts CreateOpts) (_ *reexec.Cmd, terminal *os.File, err error) {
	c := spec.OCI.Config
	if c.Process.Terminal && opts.ConsoleSocket == "" && !opts.Foreground {
		return nil, nil, errors.New("process.terminal is true but no --console-socket was given: can exits after create, so it cannot hold the terminal")
	}
	spec.NoPivot = opts.NoPivot
	bundle, _ := filepath.Abs(opts.Bundle)
	oci := &OCIState{Bundle: bundle, Created: time.Now().UTC(), CgroupsPath: c.Linux.CgroupsPath, Annotations: c.Annotations,
		Hooks: len(c.Hooks.Poststart)+len(c.Hooks.Poststop) > 0}
	st, err := newState(opts.Root, spec.ID, "", oci)
	if err != nil {
		return nil, nil, err
	}
	var undo []func() error
	defer func() {
		if err == nil {
			return
		}
		for i := len(undo) - 1; i >= 0; i-- {
			undo[i]()
		}
	}()
	undo = append(undo, st.remove)
	// config.json as create read it: later commands (exec, delete's hooks)
	// must see what the container was made with, not a bundle edited since.
	if err := writeOCIConfig(st.dir, c); err != nil {
		return nil, nil, err
	}

	limits := spec.Limits
	if os.Geteuid() == 0 {
		limits.Devices = append(limits.Devices, ociDeviceRules(c)...)
		limits.Account = true
	}
	var cg *cgroup.Cgroup
	if os.Geteuid() == 0 || limits.Resources() {
		if cg, err = cgroup.NewAt(c.Linux.CgroupsPath, spec.ID, limits); err != nil {
			return nil, nil, err
		}
		undo = append(undo, cg.Destroy)
		oci.CgroupMade = cg.Made // for delete: the parents it may remove
	}

	fifo := filepath.Join(st.dir, "exec.fifo")
	if err := unix.Mkfifo(fifo, 0o622); err != nil {
		return nil, nil, fmt.Errorf("mkfifo %s: %w", fifo, err)
	}
	// The init opens it as the container's root, which in a user namespace
	// is someone else on the host: the fifo is theirs, and mkfifo's mode
	// went through the umask.
	if err := os.Chmod(fifo, 0o622); err != nil {
		return nil, nil, err
	}
	if c.Linux.UIDMappings != nil {
		uid, _ := idMaps(c.Linux.UIDMappings).Outside(0)
		gid, _ := idMaps(c.Linux.GIDMappings).Outside(0)
		if err := os.Chown(fifo, int(uid), int(gid)); err != nil {
			return nil, nil, err
		}
	}
	// O_PATH: a handle that does not open the fifo, so nothing blocks; the
	// child reopens it for writing through /proc/self/fd (waitStart).
	fifoFD, err := unix.Open(fifo, unix.O_PATH|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, nil, fmt.Errorf("open %s: %w", fifo, err)
	}
	fifoFile := os.NewFile(uintptr(fifoFD), "exec.fifo")
	defer fifoFile.Close()

	one := spec.oneStartOCI()
	var cmd *reexec.Cmd
	if one {
		cmd, err = startOCIOne(spec, cg, fifoFile, opts.Foreground)
	} else {
		cmd, err = startOCIChild(spec, st.dir, cg, fifoFile, opts.Foreground)
	}
	if err != nil {
		return nil, nil, err
	}
	undo = append(undo, func() error { cmd.Abort(); return nil })
	st.Pid = cmd.Pid
	oci.InitTime, _ = startTime(cmd.Pid)
	if err := st.save(); err != nil {
		return nil, nil, err
	}
	if cg != nil && !one { // PID 1 of one start joins its cgroups itself
		if err := cg.Join(cmd.Pid); err != nil {
			return nil, nil, err
		}
	}
	state := st.ociState(spec.ID, specs.StateCreating)
	//lint:ignore SA1019 a runtime still runs the deprecated prestart hooks, as runc does
	for _, hooks := range [][]specs.Hook{c.Hooks.Prestart, c.Hooks.CreateRuntime, c.Hooks.CreateContainer} {
		if err := runHooks(hooks, state); err != nil {
			return nil, nil, err
		}
	}
	if err := cmd.Continue(); err != nil {
		return nil, nil, err
	}
	if c.Process.Terminal {
		master, err := cmd.ReceiveFile()
		if err != nil {
			return nil, nil, err
		}
		if opts.ConsoleSocket != "" {
			err = sendConsole(opts.ConsoleSocket, master)
			master.Close()
			if err != nil {
				return nil, nil, err
			}
		} else {
			terminal = master
		}
	}
	if opts.PidFile != "" {
		if err := writePidFile(opts.PidFile, cmd.Pid); err != nil {
			return nil, nil, err
		}
	}
	if opts.Foreground {
		return cmd, terminal, nil
	}
	cmd.Release()
	return nil, nil, nil
}

// startOCIChild starts create's child as can re-executed ("can init"),
// waiting for Continue.
func startOCIChild(spec Spec, stateDir string, cg *cgroup.Cgroup, fifo *os.File, foreground bool) (*reexec.Cmd, error) {
	c := spec.OCI.Config
	config, err := json.Marshal(spec)
	if err != nil {
		return nil, err
	}
	cmd, closeFiles, err := childCommand(config, stateDir, cg, fifo) // fd 5: execFifoFD
	if err != nil {
		return nil, err
	}
	defer closeFiles()
	if wrap, self, err := joinByNsenter(spec.OCI.JoinNS, 5+len(cmd.ExtraFiles)); err != nil {
		return nil, err
	} else if self != nil {
		defer self.Close()
		cmd.Wrap, cmd.ExtraFiles = wrap, append(cmd.ExtraFiles, self)
	}
	cmd.SysProcAttr.Cloneflags = ociCloneflags(c)
	if !foreground {
		// The container outlives can: no signal when can exits.
		cmd.SysProcAttr.Pdeathsig = 0
	}
	if cmd.SysProcAttr.Cloneflags&unix.CLONE_NEWUSER != 0 {
		userns.Mapping{UID: idMaps(c.Linux.UIDMappings), GID: idMaps(c.Linux.GIDMappings)}.Configure(cmd.SysProcAttr)
	}
	// The child joins the others itself (ociSetup); a PID namespace must be
	// entered before it exists.
	err = startIn(cmd, map[specs.LinuxNamespaceType]string{specs.PIDNamespace: spec.OCI.JoinNS[specs.PIDNamespace]})
	return cmd, err
}

// writeOCIConfig keeps config.json in the state directory.
func writeOCIConfig(dir string, c *specs.Spec) error {
	b, err := json.Marshal(c)
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "oci.json"), b, 0o600)
}

func idMaps(m []specs.LinuxIDMapping) userns.Maps {
	out := make(userns.Maps, len(m))
	for i, e := range m {
		out[i] = userns.Map{Inside: e.ContainerID, Outside: e.HostID, Count: e.Size}
	}
	return out
}

// ociDeviceRules are the devices an OCI container must be able to use,
// whatever linux.resources.devices says before them (runc appends them the
// same way): the default devices and those of linux.devices. A list that
// starts with no rule of the config's own denies every other device.
func ociDeviceRules(c *specs.Spec) []cgroup.DeviceRule {
	rules := append([]cgroup.DeviceRule(nil), cgroup.DefaultDevices...)
	for _, d := range c.Linux.Devices {
		t := byte('c')
		if d.Type == "b" {
			t = 'b'
		}
		rules = append(rules, cgroup.DeviceRule{Type: rune(t), Major: d.Major, Minor: d.Minor, Access: "rwm", Allow: true})
	}
	return rules
}

// joinByNsenter prepares, for a config that names a mount or user
// namespace to join, the nsenter(1) that enters them before can's init
// runs (Exec explains why a Go program cannot): its command line, and the
// sealed copy of can it executes, which the child will have as fd.
func joinByNsenter(join map[specs.LinuxNamespaceType]string, fd int) ([]string, *os.File, error) {
	user, mnt := join[specs.UserNamespace], join[specs.MountNamespace]
	if user == "" && mnt == "" {
		return nil, nil, nil
	}
	nsenter, err := exec.LookPath("nsenter")
	if err != nil {
		return nil, nil, errors.New("joining a mount or user namespace by path needs nsenter(1), from util-linux: apt-get install util-linux")
	}
	wrap := []string{nsenter}
	if user != "" {
		wrap = append(wrap, "--user="+user)
	}
	if mnt != "" {
		wrap = append(wrap, "--mount="+mnt)
	}
	self, err := sealedSelf()
	if err != nil {
		return nil, nil, err
	}
	return append(wrap, "--", "/proc/self/fd/"+strconv.Itoa(fd)), self, nil
}

// threadNS are the namespaces a thread can enter for the children it
// forks, and the name of its own in /proc/thread-self/ns: a PID and a time
// namespace apply only to children (pid_for_children, time_for_children);
// network, UTS, IPC and cgroup ones to the thread itself, and a fork copies
// them. Mount and user namespaces refuse a multithreaded caller (Exec).
var threadNS = []struct {
	t    specs.LinuxNamespaceType
	self string
}{
	{specs.PIDNamespace, "pid_for_children"}, {specs.TimeNamespace, "time_for_children"},
	{specs.NetworkNamespace, "net"}, {specs.UTSNamespace, "uts"},
	{specs.IPCNamespace, "ipc"}, {specs.CgroupNamespace, "cgroup"},
}

// startIn starts cmd in the namespaces of join that a thread can enter (see
// threadNS): os/exec forks from the calling thread, so a locked thread that
// entered them forks the child there. Then the thread goes back to its own.
func startIn(cmd *reexec.Cmd, join map[specs.LinuxNamespaceType]string) error {
	var todo []int
	for i, n := range threadNS {
		if join[n.t] != "" {
			todo = append(todo, i)
		}
	}
	if len(todo) == 0 {
		return cmd.Start()
	}
	if join[specs.PIDNamespace] != "" {
		// No Pdeathsig: Go's fork checks that getppid(2) still returns the
		// parent it started from, and kills the child if not; seen from
		// another PID namespace the parent is not there (getppid returns 0).
		cmd.SysProcAttr.Pdeathsig = 0
	}
	runtime.LockOSThread()
	var back []int // our own namespaces, to return to
	defer func() {
		for _, fd := range back {
			unix.Close(fd)
		}
	}()
	var err error
	for _, i := range todo {
		var fd int
		if fd, err = unix.Open("/proc/thread-self/ns/"+threadNS[i].self, unix.O_RDONLY|unix.O_CLOEXEC, 0); err != nil {
			break
		}
		back = append(back, fd)
		if err = setns(join[threadNS[i].t], threadNS[i].t); err != nil {
			break
		}
	}
	if err == nil {
		err = cmd.Start()
	}
	for i := len(back) - 1; i >= 0; i-- {
		if rerr := unix.Setns(back[i], 0); rerr != nil {
			// Stuck in a container's namespace: this thread must serve no
			// other goroutine. Left locked, the runtime ends it with ours.
			if err == nil {
				err = fmt.Errorf("setns back to our own namespace: %w", rerr)
			}
			return err
		}
	}
	runtime.UnlockOSThread()
	return err
}

// sendConsole passes the pty's master to the engine over the unix socket
// at path (SCM_RIGHTS, unix(7)), as runc's --console-socket does.
func sendConsole(path string, master *os.File) error {
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	if err := unix.Connect(fd, &unix.SockaddrUnix{Name: path}); err != nil {
		return fmt.Errorf("--console-socket %s: %w", path, err)
	}
	if err := unix.Sendmsg(fd, []byte("/dev/ptmx"), unix.UnixRights(int(master.Fd())), nil, 0); err != nil {
		return fmt.Errorf("--console-socket %s: send the terminal: %w", path, err)
	}
	return nil
}

// writePidFile writes the init's PID, atomically: engines poll for the file.
func writePidFile(path string, pid int) error {
	tmp := filepath.Join(filepath.Dir(path), "."+filepath.Base(path))
	if err := os.WriteFile(tmp, []byte(strconv.Itoa(pid)), 0o644); err != nil {
		return fmt.Errorf("--pid-file %s: %w", path, err)
	}
	return os.Rename(tmp, path)
}

// ociState is the spec's state of the container.
func (st *State) ociState(id string, status specs.ContainerState) *specs.State {
	s := &specs.State{Version: specs.Version, ID: id, Status: status, Pid: st.Pid}
	if st.OCI != nil {
		s.Bundle, s.Annotations = st.OCI.Bundle, st.OCI.Annotations
	}
	return s
}

// runHooks runs each hook with the container's state on its stdin, as the
// runtime spec's "POSIX-platform Hooks" says; the first failure stops them.
func runHooks(hooks []specs.Hook, state *specs.State) error {
	return runHooksThen(hooks, state, false)
}

// warnHooks runs poststart and poststop hooks, whose failures the runtime
// spec wants logged as warnings, with the remaining hooks run all the same.
func warnHooks(name string, hooks []specs.Hook, state *specs.State) {
	if err := runHooksThen(hooks, state, true); err != nil {
		fmt.Fprintf(os.Stderr, "can: warning: %s %v\n", name, err)
	}
}

func runHooksThen(hooks []specs.Hook, state *specs.State, keepGoing bool) error {
	var errs []error
	var in []byte
	if state != nil {
		in, _ = json.Marshal(state)
	}
	for _, h := range hooks {
		ctx := context.Background()
		if h.Timeout != nil {
			var cancel context.CancelFunc
			ctx, cancel = context.WithTimeout(ctx, time.Duration(*h.Timeout)*time.Second)
			defer cancel()
		}
		cmd := exec.CommandContext(ctx, h.Path)
		if len(h.Args) > 0 {
			cmd.Args = h.Args
		}
		cmd.Env = h.Env
		cmd.Stdin = bytes.NewReader(in)
		var stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stderr, &stderr
		if err := cmd.Run(); err != nil {
			errs = append(errs, fmt.Errorf("hook %s: %w: %s", h.Path, err, strings.TrimSpace(stderr.String())))
			if !keepGoing {
				break
			}
		}
	}
	return errors.Join(errs...)
}

// Load finds the container id under root.
func Load(root, id string) (*Container, error) {
	if err := checkID(id); err != nil {
		return nil, err
	}
	dir, err := stateRoot(root, false)
	if err != nil {
		return nil, err
	}
	st, err := loadState(filepath.Join(dir, id))
	if dir == "" || errors.Is(err, fs.ErrNotExist) {
		return nil, &reexec.Error{Code: 1, Err: fmt.Errorf("container %s does not exist", id)}
	}
	if err != nil {
		return nil, err
	}
	if st.OCI == nil {
		return nil, fmt.Errorf("container %s was started by can's own command line, not by can create: it ends with its can", id)
	}
	return &Container{st: st}, nil
}

// Config is the config.json the container was created with.
func (c *Container) Config() (*specs.Spec, error) {
	b, err := os.ReadFile(filepath.Join(c.st.dir, "oci.json"))
	if err != nil {
		return nil, err
	}
	var s specs.Spec
	return &s, json.Unmarshal(b, &s)
}

// Status is the container's status: stopped once its init is gone (or a
// zombie its parent has not reaped yet), created while the exec fifo waits,
// paused while frozen, else running.
func (c *Container) Status() specs.ContainerState {
	if !c.initAlive() {
		return specs.StateStopped
	}
	if _, err := os.Stat(filepath.Join(c.st.dir, "exec.fifo")); err == nil {
		return specs.StateCreated
	}
	if cg, err := c.cgroup(); err == nil {
		if frozen, err := cg.State(); err == nil && frozen {
			return "paused"
		}
	}
	return specs.StateRunning
}

func (c *Container) initAlive() bool {
	if c.st.Pid == 0 || !alive(c.st.Pid, c.st.OCI.InitTime) {
		return false
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", c.st.Pid))
	if err != nil {
		return false
	}
	i := bytes.LastIndexByte(b, ')')
	return i < 0 || i+2 >= len(b) || (b[i+2] != 'Z' && b[i+2] != 'X')
}

// State is the runtime spec's state.
func (c *Container) State() *specs.State {
	s := c.st.ociState(c.st.ID, c.Status())
	if s.Status == specs.StateStopped {
		s.Pid = 0
	}
	return s
}

// StateJSON is state as runc prints it: the spec's fields, and created.
func (c *Container) StateJSON() ([]byte, error) {
	s := c.State()
	return json.MarshalIndent(struct {
		*specs.State
		Created time.Time `json:"created"`
	}{s, c.st.OCI.Created}, "", "  ")
}

func (c *Container) cgroup() (*cgroup.Cgroup, error) {
	cg, err := cgroup.OpenAt(c.cgroupPath())
	if err == nil {
		cg.Made = c.st.OCI.CgroupMade
	}
	return cg, err
}

func (c *Container) cgroupPath() string {
	if c.st.OCI.CgroupsPath != "" {
		return c.st.OCI.CgroupsPath
	}
	return "/tincan/" + c.st.ID
}

// Start releases a created container: opening the exec fifo for reading
// unblocks the init's open for writing; its byte says it went ahead.
func (c *Container) Start() error {
	switch s := c.Status(); s {
	case specs.StateCreated:
	case specs.StateStopped:
		return fmt.Errorf("container %s has stopped: it cannot be started again; delete it", c.st.ID)
	default:
		return fmt.Errorf("container %s is %s, not created: only a created container can be started", c.st.ID, s)
	}
	// The pidfd first: opening the fifo lets the init go, and a CMD as
	// short as echo may have run, ended and been reaped before a pidfd
	// taken after it could name the init.
	pidfd, err := unix.PidfdOpen(c.st.Pid, 0)
	if err != nil {
		return fmt.Errorf("container %s: its init is gone: %w", c.st.ID, err)
	}
	defer unix.Close(pidfd)
	fifo := filepath.Join(c.st.dir, "exec.fifo")
	fd, err := unix.Open(fifo, unix.O_RDONLY|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open %s: %w", fifo, err)
	}
	defer unix.Close(fd)
	// Wait for the byte, or for the init to die first (its pidfd becomes
	// readable): never block for good on a container that is gone.
	for {
		fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}, {Fd: int32(pidfd), Events: unix.POLLIN}}
		if _, err := unix.Poll(fds, -1); err != nil {
			if errors.Is(err, unix.EINTR) {
				continue
			}
			return err
		}
		if fds[0].Revents&unix.POLLIN != 0 {
			var b [1]byte
			if n, _ := unix.Read(fd, b[:]); n == 1 {
				break
			}
		}
		if fds[1].Revents != 0 {
			return fmt.Errorf("container %s: its init exited before it could start", c.st.ID)
		}
		if fds[0].Revents&unix.POLLHUP != 0 {
			time.Sleep(time.Millisecond) // no writer yet: the init is still opening
		}
	}
	os.Remove(fifo)
	if c.st.OCI.Hooks {
		if cfg, err := c.Config(); err == nil && cfg.Hooks != nil {
			warnHooks("poststart", cfg.Hooks.Poststart, c.State())
		}
	}
	return nil
}

// Kill sends sig to the init, or with all to every process in the cgroup.
func (c *Container) Kill(sig unix.Signal, all bool) error {
	status := c.Status()
	if status == specs.StateStopped && !all {
		return fmt.Errorf("container %s is not running", c.st.ID)
	}
	if all {
		if cg, err := c.cgroup(); err == nil {
			pids, err := cg.Procs()
			if err == nil {
				for _, pid := range pids {
					unix.Kill(pid, sig)
				}
				if sig == unix.SIGKILL || sig == unix.SIGTERM {
					cg.Thaw() // a frozen process cannot die
				}
				return nil
			}
		}
	}
	pidfd, err := unix.PidfdOpen(c.st.Pid, 0)
	if err != nil {
		return fmt.Errorf("container %s is not running: %w", c.st.ID, err)
	}
	defer unix.Close(pidfd)
	if !c.initAlive() { // the PID was reused between Status and here
		return fmt.Errorf("container %s is not running", c.st.ID)
	}
	if err := unix.PidfdSendSignal(pidfd, sig, nil, 0); err != nil {
		return fmt.Errorf("kill container %s: %w", c.st.ID, err)
	}
	return nil
}

// Delete removes a stopped container; force kills it first.
func (c *Container) Delete(force bool) error {
	status := c.Status()
	switch {
	case status == specs.StateStopped:
	case force:
		c.Kill(unix.SIGKILL, true)
		c.waitGone(10 * time.Second)
	default:
		// The runtime spec: deleting a container that is not stopped MUST
		// fail, and leave it alone; a created one too.
		return fmt.Errorf("container %s is %s: stop it first, or delete --force", c.st.ID, status)
	}
	var errs []error
	if cg, err := c.cgroup(); err == nil {
		errs = append(errs, cg.Destroy())
	}
	if c.st.OCI.Hooks {
		if cfg, err := c.Config(); err == nil && cfg.Hooks != nil {
			warnHooks("poststop", cfg.Hooks.Poststop, c.st.ociState(c.st.ID, specs.StateStopped))
		}
	}
	errs = append(errs, c.st.remove())
	return errors.Join(errs...)
}

// waitGone waits while the init exits. It is not ours to reap (its parent is
// the engine, or init), so no wait(2): its pidfd polls readable once it has
// exited (pidfd_open(2)), whoever reaps it.
func (c *Container) waitGone(limit time.Duration) {
	pidfd, err := unix.PidfdOpen(c.st.Pid, 0)
	if err != nil {
		return // gone already
	}
	defer unix.Close(pidfd)
	if !c.initAlive() { // exited, or the PID is someone else's now
		return
	}
	deadline := time.Now().Add(limit)
	for {
		fds := []unix.PollFd{{Fd: int32(pidfd), Events: unix.POLLIN}}
		left := time.Until(deadline)
		if _, err := unix.Poll(fds, int(left.Milliseconds())+1); !errors.Is(err, unix.EINTR) || left <= 0 {
			return
		}
	}
}

// Pause freezes every process of the container; Resume thaws them.
func (c *Container) Pause() error {
	if s := c.Status(); s != specs.StateRunning && s != specs.StateCreated {
		return fmt.Errorf("container %s is %s, not running", c.st.ID, s)
	}
	cg, err := c.cgroup()
	if err != nil {
		return err
	}
	return cg.Freeze()
}

func (c *Container) Resume() error {
	if s := c.Status(); s != "paused" {
		return fmt.Errorf("container %s is %s, not paused", c.st.ID, s)
	}
	cg, err := c.cgroup()
	if err != nil {
		return err
	}
	return cg.Thaw()
}

// Pids lists the container's processes, as host PIDs.
func (c *Container) Pids() ([]int, error) {
	cg, err := c.cgroup()
	if err != nil {
		return nil, err
	}
	pids, err := cg.Procs()
	sort.Ints(pids)
	return pids, err
}

// ID and Pid name the container and its init.
func (c *Container) ID() string { return c.st.ID }
func (c *Container) Pid() int   { return c.st.Pid }

// Created is when can create made it.
func (c *Container) Created() time.Time { return c.st.OCI.Created }

// Bundle is the bundle it was created from.
func (c *Container) Bundle() string { return c.st.OCI.Bundle }

// List returns the OCI containers under root.
func List(root string) ([]*Container, error) {
	dir, err := stateRoot(root, false)
	if err != nil || dir == "" {
		return nil, err
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var out []*Container
	for _, e := range ents {
		st, err := loadState(filepath.Join(dir, e.Name()))
		if err == nil && st.OCI != nil {
			out = append(out, &Container{st: st})
		}
	}
	return out, nil
}
