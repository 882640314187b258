// Package reexec starts this same program again, as a child in new namespaces,
// and lets parent and child take turns while the container is being built.
//
// Why re-execute? A Go program cannot call clone(2) with namespace flags and keep
// running Go code in the child: the runtime's threads are not copied. So a Go
// runtime (runc, Docker's libcontainer, every lesson here) starts
// /proc/self/exe with SysProcAttr.Cloneflags, and the new process, already inside
// its namespaces, sets itself up and finally execve(2)s the user's command.
//
// The turn-taking is a socket pair and a pipe, the way runc does it:
//
//	parent                                   child (fd 3 = sync, fd 4 = errors)
//	Start: clone(CLONE_NEW...)  ------------> closes every other inherited fd,
//	                                          blocks reading fd 3
//	setup that needs the child's PID
//	  (uid maps, cgroup, veth in its netns)
//	Continue: write "go"  ------------------> setup inside (mounts, hostname);
//	                                          may pass a file back on fd 3
//	                                          (SendFile: a terminal's master)
//	  read fd 4 until EOF   <---------------- execve(CMD): fds 3 and 4 are
//	                                          close-on-exec, so EOF means
//	                                          "CMD is running"; or an error
//	                                          line, then exit 125..127
//	Wait: forward signals, reap, exit status
//
// fd 3 is a unix socket rather than a pipe so that it can carry a file
// descriptor (SCM_RIGHTS, unix(7)) as well as bytes.
//
// Two traps this package closes. File descriptors: execve(2) keeps every fd
// not marked close-on-exec, so an fd the caller of the program left open (a
// shell's exec 7</) would reach the container, and /proc/self/fd/7 would be
// a door to the host's filesystem (runc's CVE-2024-21626). Start passes only
// 0, 1, 2, 3 and 4, and the child closes anything else it finds. Signals: a
// signal that arrives before anyone listens is lost, or kills the parent
// before it tears down; Notify catches them from before the child exists, and
// Wait forwards them through a pidfd, which names this child for good, never a
// later process that reused its PID (pidfd_open(2)).
//
// StartProgram (program.go) is the other way to make the child: not this
// program again, but a clone of one of its threads, which runs a list of
// system calls prepared in Go (pkg/sysprog) and keeps the same protocol.
package reexec

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"tincan.dev/pkg/sysprog"
	"tincan.dev/pkg/trace"
	"tincan.dev/pkg/userns"
)

// childEnv marks the re-executed process. Its value is the inode number of
// the child's end of the sync socket, which IsChild checks against fd 3: a
// stray _TINCAN_CHILD in the caller's environment does not make a child.
// Start removes any such stray value; RunChild removes the variable for CMD.
const childEnv = "_TINCAN_CHILD"

// filesEnv tells the child how many ExtraFiles follow fd 4: those are the
// parent's, the only fds above 4 that the child keeps (closeInherited).
const filesEnv = "_TINCAN_FILES"

// procsEnv marks a GOMAXPROCS=1 that Start gave the child, for RunChild to
// take back before CMD could inherit it.
const procsEnv = "_TINCAN_GOMAXPROCS"

// The child's ends of its channels to the parent, as numbered by
// exec.Cmd.ExtraFiles.
const (
	syncFD = 3
	errFD  = 4
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

// IsChild reports whether this process is the re-executed child: the marker
// is in its environment and names the socket it holds as fd 3.
func IsChild() bool {
	v := os.Getenv(childEnv)
	return strings.HasPrefix(v, "socket:") && v == Inode(syncFD)
}

// Inode names the open file fd as "socket:INODE" (or "pipe:", "file:"), the
// way /proc/self/fd spells it, or "" when fd is not open: a mark a process
// can check against the fd it was handed, which a stray environment
// variable cannot fake.
func Inode(fd int) string {
	var st unix.Stat_t
	if unix.Fstat(fd, &st) != nil {
		return ""
	}
	kind := "file"
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFSOCK:
		kind = "socket"
	case unix.S_IFIFO:
		kind = "pipe"
	}
	return kind + ":" + strconv.FormatUint(st.Ino, 10)
}

// Signals are the signals a parent catches and passes on to its child: the
// ones a user or a supervisor sends to ask a program to stop.
var Signals = []os.Signal{unix.SIGINT, unix.SIGTERM, unix.SIGHUP, unix.SIGQUIT}

// Notify starts catching Signals now, so that none is lost, nor kills this
// process, between here and Wait, which forwards what was caught. Call it
// before anything a signal must not interrupt half way, and give the channel
// to the Cmd (Cmd.Signals); Start calls it when nobody has.
func Notify() chan os.Signal {
	sigs := make(chan os.Signal, 16)
	signal.Notify(sigs, Signals...)
	catchSIGPIPE()
	return sigs
}

// catchSIGPIPE keeps a reader that went away (can -v ... | head) from ending
// the parent before its teardown: Go kills a program whose write to
// os.Stdout or os.Stderr fails with EPIPE, unless it catches SIGPIPE
// (os/signal, "SIGPIPE"); then the write just fails. Caught, not ignored:
// an ignored signal would stay ignored across execve(2), in CMD. (The
// child, which may not afford the thread os/signal starts, traces with
// write(2) instead: pkg/trace.)
//
// Only a pipe or a socket fails a write with EPIPE: with stdout and stderr
// on neither (a terminal, a file), nothing is caught. Each signal os/signal
// catches costs a round trip to a thread of its own that changes its signal
// mask (ensureSigM in runtime/signal_unix.go), a few hundred microseconds
// on a small VM.
func catchSIGPIPE() {
	if mayBreak(1) || mayBreak(2) {
		signal.Notify(make(chan os.Signal, 1), unix.SIGPIPE)
	}
}

// mayBreak reports whether fd is a pipe or a socket, or cannot be told.
func mayBreak(fd int) bool {
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return err != unix.EBADF // closed: nothing to break
	}
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFIFO, unix.S_IFSOCK:
		return true
	}
	return false
}

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
	// Wrap, when set, is a program and its arguments that starts in the
	// child's place and ends by executing the child's program, named last
	// in Wrap (can exec: nsenter, then can itself from a memfd).
	Wrap []string
	// Signals, from Notify, are forwarded to the child by Wait. A parent
	// that has its own work to protect from signals (a teardown) calls Notify
	// itself, early, and sets this; they are still caught after Wait.
	Signals chan os.Signal
	// StopTimeout, when set, is how long the child has after a forwarded
	// SIGTERM, SIGINT or SIGHUP before Wait kills it (docker stop's rule).
	StopTimeout time.Duration
	// Pid is the child's PID as the parent sees it, set by Start.
	Pid int
	// Meanwhile, when set, is work StartProgram does on the calling
	// goroutine while the container is being built on another thread.
	Meanwhile func()
	// Proceed, for StartProgram, lets the child go on at once instead of
	// waiting for Continue's "go": its program needs nothing from the
	// parent. Continue then only waits for its execve.
	Proceed bool
	// AfterClone, when set, makes StartProgram clone the child as soon as
	// the build has written its program, and then run AfterClone on the
	// same thread while the child runs the program's first calls: for a
	// container whose PID 1 must exist before its build is done (an OCI
	// /proc mounted in its turn, container.buildOCI). The program then
	// waits for "go" where it says (PlanGo), not first; PlanSend gives
	// AfterClone what the child found. If AfterClone fails, the child is
	// killed.
	AfterClone func(pid, pidfd, sync int) error
	// Go, when set, is what Continue sends in place of "go": a message for
	// the program's PlanGo buffer.
	Go []byte

	args  []string
	sync  *os.File // parent's end of the sync socket
	errR  *os.File // parent's end of the error pipe
	pidfd int      // the child, for signals; -1 where pidfd_open is missing

	ownSignals bool // Start called Notify, and release undoes it

	// For a child started by StartProgram: its reports' reader, and the
	// channel that lets the thread it was cloned from end.
	explain   func([]byte) error
	reaped    chan struct{}
	passed    *os.File
	childSync int // the child's end of the sync socket, for PlanGo and PlanSend
	childErrs int // the child's end of the error pipe, for PlanDetach
}

// Command prepares argv (usually os.Args) to run again as the child.
func Command(argv ...string) *Cmd {
	return &Cmd{
		SysProcAttr: &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL},
		args:        argv,
		pidfd:       -1,
	}
}

// Start clones the child. It runs up to its first instruction of setup and
// waits there for Continue, so the parent can act on it while it is paused.
func (c *Cmd) Start() error {
	if c.Signals == nil {
		c.Signals, c.ownSignals = Notify(), true
	}
	if c.Rootless && os.Geteuid() != 0 && c.SysProcAttr.Cloneflags&unix.CLONE_NEWUSER == 0 {
		userns.MapCallerToRoot(c.SysProcAttr)
		if c.RootlessNote != "" {
			fmt.Fprintln(os.Stderr, c.RootlessNote)
		}
	}
	// Go opens every file close-on-exec, but fds inherited from our own
	// caller are not: mark them, so the clone below passes on only 0, 1, 2
	// and ExtraFiles.
	if err := closeFromFD(3); err != nil {
		return err
	}
	pair, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("socketpair: %w", err)
	}
	sync, childSync := os.NewFile(uintptr(pair[0]), "sync"), os.NewFile(uintptr(pair[1]), "sync")
	errR, errW, err := os.Pipe()
	if err != nil {
		sync.Close()
		childSync.Close()
		return err
	}
	path, argv := "/proc/self/exe", c.args
	if len(c.Wrap) > 0 {
		argv = append(append([]string{}, c.Wrap...), c.args[1:]...)
		if path, err = exec.LookPath(c.Wrap[0]); err != nil {
			sync.Close()
			childSync.Close()
			errR.Close()
			errW.Close()
			return err
		}
	}
	// fds 0, 1 and 2 are ours, then 3 and 4, then ExtraFiles as 5, 6...
	files := []uintptr{0, 1, 2, childSync.Fd(), errW.Fd()}
	for _, f := range c.ExtraFiles {
		files = append(files, f.Fd())
	}
	env := c.Env
	if env == nil {
		env = os.Environ()
	}
	env = append(without(env, childEnv, filesEnv, procsEnv), childEnv+"="+Inode(int(childSync.Fd())))
	// The child runs one goroutine at a time: its setup, then CMD. A Go
	// runtime started with a P per CPU gives each P its own caches of
	// memory spans and may wake a thread per P, all of it page faults on
	// an otherwise empty process (some 40 fewer with one P, a tenth of
	// its CPU here). Not when the caller chose a GOMAXPROCS: CMD inherits
	// that one.
	if !slices.ContainsFunc(env, func(kv string) bool { return strings.HasPrefix(kv, "GOMAXPROCS=") }) {
		env = append(env, "GOMAXPROCS=1", procsEnv+"=1")
	}
	if len(c.ExtraFiles) > 0 {
		env = append(env, filesEnv+"="+strconv.Itoa(len(c.ExtraFiles)))
	}
	pid, pidfd, err := forkExec(path, argv, env, files, c.SysProcAttr)
	runtime.KeepAlive(c.ExtraFiles) // their fds were in use until here
	childSync.Close()               // the child holds its own copies now
	errW.Close()
	flags := trace.Flags(c.SysProcAttr.Cloneflags, trace.CloneFlags)
	if err != nil {
		sync.Close()
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
	trace.Call("clone(%sSIGCHLD) = %d", flags, pid)
	if c.SysProcAttr.Setsid {
		trace.Call("setsid() (in the child, before execve)")
	}
	userns.TraceClone(pid, c.SysProcAttr)
	c.sync, c.errR, c.Pid, c.pidfd = sync, errR, pid, pidfd
	return nil
}

// forkExec clones and executes the child, and returns its PID and a pidfd
// for it, or -1 where the kernel has none (before Linux 5.2).
//
// syscall.ForkExec rather than os/exec: the child gets its pidfd from
// clone itself (CLONE_PIDFD), where os.StartProcess first forks a
// throwaway process, once per program, to find out whether pidfds work,
// and every container's start would pay for that fork.
func forkExec(path string, argv, env []string, files []uintptr, sys *syscall.SysProcAttr) (pid, pidfd int, err error) {
	attr := *sys // a copy: PidFD is ours to set
	pidfd = -1
	attr.PidFD = &pidfd
	pid, err = syscall.ForkExec(path, argv, &syscall.ProcAttr{Env: env, Files: files, Sys: &attr})
	if err == unix.EINVAL || err == unix.ENOSYS { // no CLONE_PIDFD: none, then
		attr.PidFD, pidfd = nil, -1
		pid, err = syscall.ForkExec(path, argv, &syscall.ProcAttr{Env: env, Files: files, Sys: &attr})
	}
	if err != nil {
		return 0, -1, err
	}
	if pidfd == 0 { // a kernel that ignored the flag
		pidfd = -1
	}
	return pid, pidfd, nil
}

// Continue lets the child go on with its setup and waits until it has either
// exec'd CMD (nil) or failed (its error, carrying its exit code).
func (c *Cmd) Continue() error {
	var werr error
	if !c.Proceed {
		msg := c.Go
		if msg == nil {
			msg = []byte("go")
		}
		_, werr = c.sync.Write(msg)
	}
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
	if c.explain != nil {
		if err := c.explain(msg); err != nil {
			code := CodeFailed
			var pe *sysprog.Error
			if errors.As(err, &pe) {
				code = pe.Code
			}
			return &Error{Code: code, Err: err}
		}
	}
	code, text, _ := strings.Cut(string(msg), " ")
	n, err := strconv.Atoi(code)
	if err != nil {
		n = CodeFailed
	}
	return &Error{Code: n, Err: errors.New(strings.TrimSpace(text))}
}

// ReceiveFile returns the file the child passed with SendFile during its
// setup. Call it after Continue succeeded.
func (c *Cmd) ReceiveFile() (*os.File, error) {
	if c.passed != nil {
		return c.passed, nil
	}
	f, err := recvFile(c.sync)
	if err != nil {
		return nil, fmt.Errorf("receive a file from the container's setup: %w", err)
	}
	return f, nil
}

// Release lets the child live on without this process, for an OCI create
// whose caller (a shim, conmon) reaps the container: it closes the parent's
// ends of the channels and the pidfd, and kills nothing. The command must be
// made with Pdeathsig 0, or the child dies when this process exits.
func (c *Cmd) Release() {
	c.errR.Close()
	c.release()
}

// Abort ends a child that was started but will not be continued (the parent's
// setup failed): closing the sync socket makes it exit, and Abort reaps it.
func (c *Cmd) Abort() {
	c.sync.Close()
	c.errR.Close()
	c.Signal(unix.SIGKILL)
	c.wait()
	c.release()
}

// Signal sends sig to the child, through its pidfd when the kernel has
// pidfd_open (Linux 5.3): once the child is reaped that fails with ESRCH
// rather than hitting whatever process got the PID next.
func (c *Cmd) Signal(sig os.Signal) error {
	s := sig.(unix.Signal)
	if c.pidfd == released {
		return os.ErrProcessDone
	}
	if c.pidfd < 0 {
		trace.Call("kill(%d, %s)", c.Pid, unix.SignalName(s))
		return unix.Kill(c.Pid, s)
	}
	trace.Call("pidfd_send_signal(pidfd(%d), %s, NULL, 0)", c.Pid, unix.SignalName(s))
	return unix.PidfdSendSignal(c.pidfd, s, nil, 0)
}

// release closes the parent's last handles on the child.
func (c *Cmd) release() {
	if c.ownSignals {
		signal.Stop(c.Signals)
	}
	c.sync.Close()
	if c.pidfd >= 0 {
		unix.Close(c.pidfd)
	}
	if c.reaped != nil && c.pidfd != released {
		close(c.reaped)
	}
	c.pidfd = released
}

// released marks a Cmd whose child is reaped: nothing to signal any more.
const released = -2

// Wait forwards the caught Signals to the child until it exits, kills it
// StopTimeout after the first SIGTERM, SIGINT or SIGHUP, and returns its exit
// code in the shell's convention: the status it passed to exit(2), or 128+N
// when signal N killed it.
func (c *Cmd) Wait() (int, error) {
	done, forwarded := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(forwarded)
		var kill <-chan time.Time
		for {
			select {
			case s := <-c.Signals:
				c.Signal(s)
				stop := s == unix.SIGTERM || s == unix.SIGINT || s == unix.SIGHUP
				if stop && kill == nil && c.StopTimeout > 0 {
					kill = time.After(c.StopTimeout)
				}
			case <-kill:
				c.Signal(unix.SIGKILL)
			case <-done:
				return
			}
		}
	}()
	ws, err := c.wait()
	close(done)
	<-forwarded // no signal in flight when the pidfd is closed
	c.release()
	if err != nil {
		return 0, err
	}
	return exitCode(ws), nil
}

// wait reaps the child. Its PID names it until then: only wait4 frees it.
func (c *Cmd) wait() (unix.WaitStatus, error) {
	var ws unix.WaitStatus
	for {
		_, err := unix.Wait4(c.Pid, &ws, 0, nil)
		if err != unix.EINTR {
			if err != nil {
				return ws, fmt.Errorf("wait4(%d): %w", c.Pid, err)
			}
			return ws, nil
		}
	}
}

// ExitCode turns a process state into a shell exit code (128+N for signal N).
func ExitCode(ps *os.ProcessState) int {
	return exitCode(unix.WaitStatus(ps.Sys().(syscall.WaitStatus)))
}

func exitCode(ws unix.WaitStatus) int {
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

// The child's ends, as files: closed through the *os.File, never by number,
// or the File's finalizer could later close whatever reused the number.
var toParent, errs *os.File

// RunChild is the child's side. It waits for the parent's "go", runs setup
// (which ends by calling Exec), and if setup fails, reports the error to the
// parent on fd 4 and exits with the error's code. It never returns.
func RunChild(setup func() error) {
	// Before anything can chdir or open a path: an fd inherited from whoever
	// started our parent could lead out of the container. Close-on-exec is
	// not enough, /proc/self/fd/N works until execve.
	extra, _ := strconv.Atoi(os.Getenv(filesEnv))
	os.Unsetenv(filesEnv)
	closeInherited(errFD + extra)
	// The "go" and error channels must not reach CMD either.
	unix.CloseOnExec(syncFD)
	unix.CloseOnExec(errFD)
	toParent, errs = os.NewFile(syncFD, "sync"), os.NewFile(errFD, "errors")
	os.Unsetenv(childEnv)
	if os.Getenv(procsEnv) != "" {
		os.Unsetenv("GOMAXPROCS") // Start's, not the caller's: not for CMD
		os.Unsetenv(procsEnv)
	}
	// Until "go" arrives the parent may still be writing our uid maps, putting
	// us in a cgroup or creating our network interface.
	if _, err := bufio.NewReader(toParent).Peek(2); err != nil {
		os.Exit(CodeFailed) // the parent gave up on us: it reports why
	}
	err := setup()
	if err == nil {
		err = errors.New("setup returned without exec")
	}
	// In a user namespace that AppArmor left without capabilities, the first
	// privileged step fails: name the setting rather than a bare EPERM.
	err = userns.ExplainInside(err)
	code := Code(err)
	if ready {
		// The parent has gone (an OCI create returned): the container's
		// own stderr is the only one left to tell.
		fmt.Fprintf(os.Stderr, "can: %v\n", err)
	} else {
		fmt.Fprintf(errs, "%d %v", code, err)
	}
	os.Exit(code)
}

// ready is set once Ready has told the parent that setup succeeded.
var ready bool

// Ready tells the parent that the container is built, before CMD is
// executed: it closes the error pipe, which the parent's Continue reads as
// success, and the sync socket. An OCI "create" uses it: the container then
// waits, built, for "start" (runc's exec fifo), while can itself exits.
// Errors from here on can only go to the container's stderr.
func Ready() {
	ready = true
	Detach()
}

// closeInherited closes every fd above last (the error pipe, or the last of
// the parent's ExtraFiles) that came through execve(2): those are the ones
// not marked close-on-exec, as the Go runtime marks all of its own.
func closeInherited(last int) {
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil { // no /proc: mark them all, the best there is
		unix.CloseRange(uint(last+1), ^uint(0), unix.CLOSE_RANGE_CLOEXEC)
		return
	}
	for _, e := range ents {
		fd, err := strconv.Atoi(e.Name())
		if err != nil || fd <= last {
			continue
		}
		if flags, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0); err == nil && flags&unix.FD_CLOEXEC == 0 {
			unix.Close(fd)
		}
	}
}

// SendFile passes f to the parent (ReceiveFile) over the sync socket, as
// SCM_RIGHTS: the parent gets its own fd for the same open file.
func SendFile(f *os.File) error {
	trace.Call("sendmsg(%d, {SCM_RIGHTS, [%d]})", syncFD, f.Fd())
	if err := unix.Sendmsg(syncFD, []byte{0}, unix.UnixRights(int(f.Fd())), nil, 0); err != nil {
		return fmt.Errorf("send %s to the parent: %w", f.Name(), err)
	}
	return nil
}

// recvFile reads one fd sent with SendFile from the socket s.
func recvFile(s *os.File) (*os.File, error) {
	buf, oob := make([]byte, 1), make([]byte, unix.CmsgSpace(4))
	n, oobn, _, _, err := unix.Recvmsg(int(s.Fd()), buf, oob, unix.MSG_CMSG_CLOEXEC)
	if err != nil {
		return nil, err
	}
	if n == 0 {
		return nil, errors.New("the child sent nothing")
	}
	msgs, err := unix.ParseSocketControlMessage(oob[:oobn])
	if err != nil || len(msgs) != 1 {
		return nil, fmt.Errorf("no file in the message (%v)", err)
	}
	fds, err := unix.ParseUnixRights(&msgs[0])
	if err != nil || len(fds) != 1 {
		return nil, fmt.Errorf("no file in the message (%v)", err)
	}
	return os.NewFile(uintptr(fds[0]), "received"), nil
}

// ErrorPipe is the child's end of the error pipe, for a child that starts
// CMD as a process of its own (an init): give it to that process, then call
// Detach.
func ErrorPipe() *os.File { return errs }

// Detach closes the child's ends of its channels to the parent, for a child
// that lives on beside CMD; Exec's execve closes them otherwise.
func Detach() {
	toParent.Close()
	errs.Close()
}

// Exec replaces the child with CMD, looked up in $PATH as a shell would. Every
// file descriptor above 2 is marked close-on-exec first, so nothing of the
// runtime leaks into the container (the runc CVE-2024-21626 class of bug), and
// fd 4 closing tells the parent that CMD is running.
func Exec(args []string) error {
	path, err := LookPath(args[0], nil)
	if err != nil {
		return err
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

// LookPath finds the program file names, as a shell would: in the
// directories of env's PATH (nil: this process's environment) unless it
// has a slash. Its errors carry the shell's exit codes, 127 and 126.
func LookPath(file string, env []string) (string, error) {
	path := os.Getenv("PATH")
	if env != nil {
		path = ""
		for _, kv := range env {
			if v, ok := strings.CutPrefix(kv, "PATH="); ok {
				path = v
			}
		}
	}
	found, err := lookPath(file, path)
	if err != nil {
		if errors.Is(err, exec.ErrNotFound) || errors.Is(err, os.ErrNotExist) {
			return "", &Error{CodeNotFound, fmt.Errorf("exec %q: executable file not found in $PATH", file)}
		}
		return "", &Error{CodeNotExecutable, fmt.Errorf("exec %q: %w", file, errors.Unwrap(err))}
	}
	return found, nil
}

// lookPath is exec.LookPath with PATH given, not read from the environment:
// a thread that builds a container may not change the process's.
func lookPath(file, path string) (string, error) {
	if strings.Contains(file, "/") {
		return file, executable(file)
	}
	for _, dir := range filepath.SplitList(path) {
		if dir == "" {
			dir = "."
		}
		p := filepath.Join(dir, file)
		if err := executable(p); err == nil {
			return p, nil
		}
	}
	return "", &exec.Error{Name: file, Err: exec.ErrNotFound}
}

// executable is nil for a regular file with an execute bit, as exec.LookPath
// has it.
func executable(file string) error {
	fi, err := os.Stat(file)
	if err != nil {
		return &exec.Error{Name: file, Err: err}
	}
	if m := fi.Mode(); m.IsDir() || m&0o111 == 0 {
		return &exec.Error{Name: file, Err: fs.ErrPermission}
	}
	return nil
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

// without is env without the variables named keys.
func without(env []string, keys ...string) []string {
	out := env[:0:0]
	for _, kv := range env {
		if k, _, _ := strings.Cut(kv, "="); !slices.Contains(keys, k) {
			out = append(out, kv)
		}
	}
	return out
}
