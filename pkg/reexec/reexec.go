// Package reexec starts this same program again, as a child in new namespaces,
// and lets parent and child take turns while the container is being built.
//
// Why re-execute? A Go program cannot call clone(2) with namespace flags and keep
// running Go code in the child: the runtime's threads are not copied. So a Go
// runtime (runc, Docker's libcontainer, every lesson here) starts
// /proc/self/exe with SysProcAttr.Cloneflags, and the new process, already inside
// its namespaces, sets itself up and finally execve(2)s the user's command.
//
// The turn-taking is two pipes, the way runc does it:
//
//	parent                                   child (fd 3 = go, fd 4 = errors)
//	Start: clone(CLONE_NEW...)  ------------> blocks reading fd 3
//	setup that needs the child's PID
//	  (uid maps, cgroup, veth in its netns)
//	Continue: write "go", close ----------> setup inside (mounts, hostname)
//	  read fd 4 until EOF   <---------------- execve(CMD): fd 4 is close-on-exec,
//	                                          so EOF means "CMD is running";
//	                                          or an error line, then exit 125..127
//	Wait: forward signals, reap, exit status
package reexec

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"

	"tincan.dev/pkg/trace"
	"tincan.dev/pkg/userns"
)

// childEnv marks the re-executed process; Exec removes it before CMD runs.
const childEnv = "_TINCAN_CHILD"

// The child's ends of the pipes, as numbered by exec.Cmd.ExtraFiles.
const (
	goFD  = 3
	errFD = 4
)

// Exit codes, as Docker uses them (docker run --help, "Exit Status").
const (
	CodeFailed        = 125 // the runtime itself failed: bad flag, setup error
	CodeNotExecutable = 126 // CMD exists but cannot be executed
	CodeNotFound      = 127 // CMD not found
)

// Error is a failure with the exit code the program should end with.
type Error struct {
	Code int
	Err  error
}

func (e *Error) Error() string { return e.Err.Error() }
func (e *Error) Unwrap() error { return e.Err }

// Code is the exit code err calls for: its own when it is an *Error, else 125.
func Code(err error) int {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return CodeFailed
}

// IsChild reports whether this process is the re-executed child.
func IsChild() bool { return os.Getenv(childEnv) == "1" }

// Cmd is this program started again as a child in new namespaces.
type Cmd struct {
	// SysProcAttr carries the clone flags (Cloneflags) and, for a user
	// namespace, the id maps. Pdeathsig is SIGKILL: if the parent dies, so does
	// the container, rather than living on with nobody to reap it. The trap
	// (prctl(2), PR_SET_PDEATHSIG): the signal comes when the *thread* that
	// forked the child ends, not the process. Go keeps its threads unless a
	// goroutine ends while locked to one (runtime.LockOSThread), which the
	// parent side of a container must therefore never do.
	SysProcAttr *syscall.SysProcAttr
	// Rootless asks Start to add a user namespace mapping the caller to root
	// when the caller is not root and the clone flags ask for no user
	// namespace yet (see pkg/userns). Start then prints RootlessNote, if set,
	// on stderr.
	Rootless     bool
	RootlessNote string
	// Env is the child's environment (default: this process's).
	Env []string
	// ExtraFiles are more open files for the child, as fd 5, 6...
	ExtraFiles []*os.File
	// Pid is the child's PID as the parent sees it, set by Start.
	Pid int

	args []string
	cmd  *exec.Cmd
	goW  *os.File // parent's end of the "go" pipe
	errR *os.File // parent's end of the error pipe
}

// Command prepares argv (usually os.Args) to run again as the child.
func Command(argv ...string) *Cmd {
	return &Cmd{
		SysProcAttr: &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL},
		args:        argv,
	}
}

var cloneNames = []trace.Flag{
	{Bit: unix.CLONE_NEWCGROUP, Name: "CLONE_NEWCGROUP"},
	{Bit: unix.CLONE_NEWIPC, Name: "CLONE_NEWIPC"},
	{Bit: unix.CLONE_NEWNET, Name: "CLONE_NEWNET"},
	{Bit: unix.CLONE_NEWNS, Name: "CLONE_NEWNS"},
	{Bit: unix.CLONE_NEWPID, Name: "CLONE_NEWPID"},
	{Bit: unix.CLONE_NEWUSER, Name: "CLONE_NEWUSER"},
	{Bit: unix.CLONE_NEWUTS, Name: "CLONE_NEWUTS"},
}

// Start clones the child. It runs up to its first instruction of setup and
// waits there for Continue, so the parent can act on it while it is paused.
func (c *Cmd) Start() error {
	if c.Rootless && os.Geteuid() != 0 && c.SysProcAttr.Cloneflags&unix.CLONE_NEWUSER == 0 {
		userns.MapCallerToRoot(c.SysProcAttr)
		if c.RootlessNote != "" {
			fmt.Fprintln(os.Stderr, c.RootlessNote)
		}
	}
	goR, goW, err := os.Pipe()
	if err != nil {
		return err
	}
	errR, errW, err := os.Pipe()
	if err != nil {
		goR.Close()
		goW.Close()
		return err
	}
	cmd := exec.Command("/proc/self/exe", c.args[1:]...)
	cmd.Args[0] = c.args[0]
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	cmd.ExtraFiles = append([]*os.File{goR, errW}, c.ExtraFiles...) // fd 3 and fd 4 in the child
	env := c.Env
	if env == nil {
		env = os.Environ()
	}
	cmd.Env = append(env, childEnv+"=1")
	cmd.SysProcAttr = c.SysProcAttr
	err = cmd.Start()
	goR.Close() // the child holds its own copies now
	errW.Close()
	flags := trace.Flags(c.SysProcAttr.Cloneflags, cloneNames)
	var pathErr *os.PathError // "fork/exec /proc/self/exe: ...": the errno says it all
	if errors.As(err, &pathErr) {
		err = pathErr.Err
	}
	if err != nil {
		goW.Close()
		errR.Close()
		if c.SysProcAttr.Cloneflags&unix.CLONE_NEWUSER != 0 {
			return userns.Explain(fmt.Errorf("clone(%s): %w", flags, err))
		}
		return fmt.Errorf("clone(%s): %w", flags, err)
	}
	if c.SysProcAttr.Cloneflags != 0 {
		flags += "|"
	} else {
		flags = ""
	}
	trace.Call("clone(%sSIGCHLD) = %d", flags, cmd.Process.Pid)
	userns.TraceClone(cmd.Process.Pid, c.SysProcAttr)
	c.cmd, c.goW, c.errR, c.Pid = cmd, goW, errR, cmd.Process.Pid
	return nil
}

// Continue lets the child go on with its setup and waits until it has either
// exec'd CMD (nil) or failed (its error, carrying its exit code).
func (c *Cmd) Continue() error {
	_, werr := c.goW.Write([]byte("go"))
	c.goW.Close()
	msg, err := io.ReadAll(c.errR)
	c.errR.Close()
	if err != nil {
		return err
	}
	if len(msg) == 0 {
		if werr != nil { // the child was gone before it could hear us
			return fmt.Errorf("child exited before setup: %w", werr)
		}
		return nil
	}
	code, text, _ := strings.Cut(string(msg), " ")
	n, err := strconv.Atoi(code)
	if err != nil {
		n = CodeFailed
	}
	return &Error{Code: n, Err: errors.New(strings.TrimSpace(text))}
}

// Abort ends a child that was started but will not be continued (the parent's
// setup failed): closing the "go" pipe makes it exit, and Abort reaps it.
func (c *Cmd) Abort() {
	c.goW.Close()
	c.errR.Close()
	c.cmd.Process.Kill()
	c.cmd.Wait()
}

// Wait forwards SIGINT, SIGTERM, SIGHUP and SIGQUIT to the child until it
// exits, and returns its exit code in the shell's convention: the status it
// passed to exit(2), or 128+N when signal N killed it.
func (c *Cmd) Wait() (int, error) {
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, unix.SIGINT, unix.SIGTERM, unix.SIGHUP, unix.SIGQUIT)
	defer signal.Stop(sigs)
	done := make(chan struct{})
	defer close(done)
	go func() {
		for {
			select {
			case s := <-sigs:
				c.cmd.Process.Signal(s)
			case <-done:
				return
			}
		}
	}()
	err := c.cmd.Wait()
	var exitErr *exec.ExitError
	if err != nil && !errors.As(err, &exitErr) {
		return 0, err
	}
	return ExitCode(c.cmd.ProcessState), nil
}

// ExitCode turns a process state into a shell exit code (128+N for signal N).
func ExitCode(ps *os.ProcessState) int {
	ws := ps.Sys().(syscall.WaitStatus)
	if ws.Signaled() {
		return 128 + int(ws.Signal())
	}
	return ws.ExitStatus()
}

// Run is Start, Continue and Wait, for a parent with nothing to do in between.
func (c *Cmd) Run() (int, error) {
	if err := c.Start(); err != nil {
		return 0, err
	}
	return c.ContinueAndWait()
}

// ContinueAndWait is Continue then Wait; a setup error from the child is
// returned after the child has been reaped.
func (c *Cmd) ContinueAndWait() (int, error) {
	if err := c.Continue(); err != nil {
		c.Wait()
		return 0, err
	}
	return c.Wait()
}

// RunChild is the child's side. It waits for the parent's "go", runs setup
// (which ends by calling Exec), and if setup fails, reports the error to the
// parent on fd 4 and exits with the error's code. It never returns.
func RunChild(setup func() error) {
	// Until "go" arrives the parent may still be writing our uid maps, putting
	// us in a cgroup or creating our network interface.
	r := bufio.NewReader(os.NewFile(goFD, "go"))
	if _, err := r.Peek(2); err != nil {
		os.Exit(CodeFailed) // the parent gave up on us: it reports why
	}
	unix.Close(goFD)
	unix.CloseOnExec(errFD)
	err := setup()
	if err == nil {
		err = errors.New("setup returned without exec")
	}
	// In a user namespace that AppArmor left without capabilities, the first
	// privileged step fails: name the setting rather than a bare EPERM.
	err = userns.ExplainInside(err)
	code := Code(err)
	fmt.Fprintf(os.NewFile(errFD, "errors"), "%d %v", code, err)
	os.Exit(code)
}

// Exec replaces the child with CMD, looked up in $PATH as a shell would. Every
// file descriptor above 2 is marked close-on-exec first, so nothing of the
// runtime leaks into the container (the runc CVE-2024-21626 class of bug), and
// fd 4 closing tells the parent that CMD is running.
func Exec(args []string) error {
	path, err := exec.LookPath(args[0])
	if err != nil {
		if errors.Is(err, exec.ErrNotFound) || errors.Is(err, os.ErrNotExist) {
			return &Error{CodeNotFound, fmt.Errorf("exec %q: executable file not found in $PATH", args[0])}
		}
		return &Error{CodeNotExecutable, fmt.Errorf("exec %q: %w", args[0], errors.Unwrap(err))}
	}
	if err := closeFromFD(3); err != nil {
		return err
	}
	env := without(os.Environ(), childEnv)
	trace.Call("execve(%q, %s, envp)", path, trace.Argv(args))
	err = unix.Exec(path, args, env)
	if errors.Is(err, unix.ENOENT) {
		return &Error{CodeNotFound, fmt.Errorf("exec %q: %w", path, err)}
	}
	return &Error{CodeNotExecutable, fmt.Errorf("exec %q: %w", path, err)}
}

// closeFromFD marks every open fd >= from close-on-exec. Marking, not closing:
// the Go runtime itself owns some of them (epoll, timers) until execve.
// close_range(2) does it in one call (Linux 5.11); older kernels walk /proc.
func closeFromFD(from int) error {
	if unix.CloseRange(uint(from), ^uint(0), unix.CLOSE_RANGE_CLOEXEC) == nil {
		return nil
	}
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return fmt.Errorf("list open fds: %w (is /proc mounted?)", err)
	}
	for _, e := range ents {
		if fd, err := strconv.Atoi(e.Name()); err == nil && fd >= from {
			unix.CloseOnExec(fd)
		}
	}
	return nil
}

func without(env []string, key string) []string {
	out := env[:0:0]
	for _, kv := range env {
		if !strings.HasPrefix(kv, key+"=") {
			out = append(out, kv)
		}
	}
	return out
}
