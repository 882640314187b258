package sysprog

import (
	"fmt"
	"runtime"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"

	"tincan.dev/pkg/trace"
)

// Start clones the calling thread into a new process that runs p, and
// returns its PID and a pidfd for it (CLONE_PIDFD; -1 on a kernel without
// it). flags are clone(2)'s, beside SIGCHLD.
//
// When a call fails, the child writes a report to fd errs (Explain reads
// it) and exits with the call's code. p ends with Exec, whose execve closes
// errs if it is close-on-exec: that EOF tells the parent the command runs.
//
// The calling goroutine must be locked to its thread. If p asks for
// PR_SET_PDEATHSIG, the thread must also outlive the child: the parent whose
// death the child hears of is the thread that cloned it (prctl(2)).
//
// The child shares this process's memory (CLONE_VM): a copy (a fork) costs
// far more than the clone itself, for the kernel copies the page tables
// and makes every page copy-on-write, and each page either process writes
// next traps and is copied, some 20 µs each on this VM, hundreds of them
// per start. Unless one of p's calls Waits, the calling thread sleeps until
// the child's execve (CLONE_VFORK), as posix_spawn and Go's own
// os.StartProcess do, and the child runs on its stack. A child that waits
// for this process runs beside it instead, on a stack of its own: then p
// must stay reachable until the child's execve, or this process's exit,
// which leaves the memory to the child.
func Start(p *Program, flags uintptr, errs int) (pid, pidfd int, err error) {
	// No Go signal handler may run in the child, whose runtime is not
	// there: every signal is blocked from before the clone, in the parent
	// for an instant, in the child until Exec's last calls unblock them.
	all, old := ^uint64(0), uint64(0)
	syscall.RawSyscall6(unix.SYS_RT_SIGPROCMASK, unix.SIG_SETMASK, uintptr(unsafe.Pointer(&all)), uintptr(unsafe.Pointer(&old)), 8, 0, 0)
	var fd int32 = -1
	r, e, how := uintptr(0), syscall.ENOSYS, ""
	// CLONE_CLEAR_SIGHAND: a child that shares the memory must not run
	// Go's handlers once Exec unblocks the signals, even for the instant
	// before execve resets them.
	args := cloneArgs{
		flags:      uint64(flags | unix.CLONE_VM | unix.CLONE_PIDFD | unix.CLONE_CLEAR_SIGHAND),
		pidfd:      uint64(uintptr(unsafe.Pointer(&fd))),
		exitSignal: uint64(unix.SIGCHLD),
	}
	switch {
	case canVfork && !p.waits:
		args.flags |= unix.CLONE_VFORK
		r, e = vforkClone(&args, p.calls, uintptr(errs), p.trace)
		how = "clone3(CLONE_VM|CLONE_VFORK|CLONE_CLEAR_SIGHAND, SIGCHLD)"
	case canVfork:
		// A child that waits runs beside this thread, on a stack of its
		// own, never unmapped: it may outlive this process (can create).
		stack, err := unix.Mmap(-1, 0, childStack, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS|unix.MAP_STACK)
		if err != nil {
			break
		}
		args.stack, args.stackSize = uint64(uintptr(unsafe.Pointer(&stack[0]))), uint64(len(stack))
		a := &childArgs{calls: p.calls, errs: uintptr(errs), trace: p.trace}
		p.keep = append(p.keep, a)
		r, e = cloneOnStack(&args, a)
		how = "clone3(CLONE_VM|CLONE_CLEAR_SIGHAND, stack of its own, SIGCHLD)"
	}
	if e == syscall.ENOSYS || e == syscall.EINVAL { // no clone3 (Linux 5.3), no CLONE_CLEAR_SIGHAND (5.5), or a seccomp filter says so
		how = "clone(SIGCHLD)"
		r, e = rawClone(flags|unix.CLONE_PIDFD, &fd, p.calls, uintptr(errs), p.trace)
	}
	if e == syscall.EINVAL { // before Linux 5.2: no pidfd
		fd = -1
		r, e = rawClone(flags, &fd, p.calls, uintptr(errs), p.trace)
	}
	syscall.RawSyscall6(unix.SYS_RT_SIGPROCMASK, unix.SIG_SETMASK, uintptr(unsafe.Pointer(&old)), 0, 8, 0, 0)
	runtime.KeepAlive(p)
	p.CloseHanded()
	if e != 0 {
		return 0, -1, e
	}
	trace.Call("%s = %d, from this thread", how, r)
	return int(r), int(fd), nil
}

// cloneArgs is clone3(2)'s struct clone_args as Linux 5.3 has it
// (CLONE_ARGS_SIZE_VER0, 64 bytes), the fields Start leaves 0 unnamed.
type cloneArgs struct {
	flags, pidfd     uint64
	_                [2]uint64 // child_tid, parent_tid
	exitSignal       uint64
	stack, stackSize uint64 // none with CLONE_VFORK: the parent's
	_                uint64 // tls
}

// childStack is the size of the stack of a child that runs beside its
// parent: the loop over the calls, all of it //go:nosplit, needs little.
const childStack = 64 << 10

// childArgs is what a child on a stack of its own loops over.
type childArgs struct {
	calls []Call
	errs  uintptr
	trace bool
}

// cloneOnStack is cloneOn, and its result as an errno.
//
//go:nosplit
//go:norace
func cloneOnStack(args *cloneArgs, a *childArgs) (uintptr, syscall.Errno) {
	return rawResult(cloneOn(args, unsafe.Sizeof(*args), a))
}

// rawResult splits what a system call leaves in its return register: -4095
// to -1 is an errno, negated (the libc wrappers turn it into -1 and errno),
// anything else the result. The assembly of vfork3 and cloneOn leaves it
// to this, once.
//
//go:nosplit
//go:norace
func rawResult(r uintptr) (uintptr, syscall.Errno) {
	if r > ^uintptr(4095) {
		return ^uintptr(0), syscall.Errno(-r)
	}
	return r, 0
}

// childMain is where the child of cloneOn starts, on its own stack.
//
//lint:ignore U1000 called from cloneOn, in assembly
//go:nosplit
//go:norace
func childMain(a *childArgs) {
	child(a.calls, a.errs, a.trace)
}

// vforkClone is clone3(2) with CLONE_VM|CLONE_VFORK: the child runs the
// program on this thread's stack, below this frame, while this thread
// sleeps. Nothing the child writes there is read by the parent after it
// wakes, but the results vfork3 writes for it again. In the child it never
// returns.
//
//go:nosplit
//go:norace
func vforkClone(args *cloneArgs, calls []Call, errs uintptr, trace bool) (uintptr, syscall.Errno) {
	r, e := rawResult(vfork3(args, unsafe.Sizeof(*args)))
	if e != 0 || r != 0 {
		return r, e
	}
	child(calls, errs, trace)
	return 0, 0 // not reached
}

// rawClone is clone(2) without CLONE_VM: the child gets a copy of this
// process's memory, and this thread only. In the child it never returns.
//
//go:nosplit
//go:norace
func rawClone(flags uintptr, pidfd *int32, calls []Call, errs uintptr, trace bool) (uintptr, syscall.Errno) {
	// clone's third argument is where CLONE_PIDFD stores the pidfd, on
	// every architecture Go runs Linux on.
	r, _, e := syscall.RawSyscall6(unix.SYS_CLONE, flags|uintptr(unix.SIGCHLD), 0, uintptr(unsafe.Pointer(pidfd)), 0, 0, 0)
	if e != 0 || r != 0 {
		return r, e
	}
	child(calls, errs, trace)
	return 0, 0 // not reached
}

// child is the new process until execve: raw calls only, no allocation, no
// stack growth, no Go scheduler.
//
//go:nosplit
//go:norace
func child(calls []Call, errs uintptr, trace bool) {
	for i := 0; i < len(calls); i++ {
		c := &calls[i]
		if trace && len(c.line) > 0 {
			syscall.RawSyscall(unix.SYS_WRITE, 2, uintptr(unsafe.Pointer(&c.line[0])), uintptr(len(c.line)))
		}
		if e := c.do(); e != 0 {
			r := report{0, byte(i), byte(i >> 8), byte(e), byte(e >> 8)}
			syscall.RawSyscall(unix.SYS_WRITE, errs, uintptr(unsafe.Pointer(&r[0])), uintptr(len(r)))
			syscall.RawSyscall(unix.SYS_EXIT_GROUP, uintptr(c.exitCode(e)), 0, 0)
		}
	}
	syscall.RawSyscall(unix.SYS_EXIT_GROUP, 125, 0, 0) // a program that did not end in execve
}

// Exec ends the program: it unblocks the signals Start blocked, and
// executes path. An execve that fails exits 127 when the file is missing,
// 126 otherwise, the shell's codes.
func (p *Program) Exec(path string, argv, env []string) {
	p.execve(p.Str(path), fmt.Sprintf("%q", path), argv, env)
}

// ExecFrom is Exec of the NUL-terminated path an earlier call of the
// program reads into buf (a path only known after the clone); what says,
// for the trace and errors, where it comes from.
func (p *Program) ExecFrom(buf []byte, what string, argv, env []string) {
	p.execve(Ptr(p, &buf[0]), what, argv, env)
}

func (p *Program) execve(path uintptr, what string, argv, env []string) {
	var none uint64
	p.Add("rt_sigprocmask(SIG_SETMASK, [])", "", unix.SYS_RT_SIGPROCMASK, unix.SIG_SETMASK, Ptr(p, &none), 0, 8)
	text := fmt.Sprintf("execve(%s, %s, envp)", what, trace.Argv(argv))
	p.Add(text, "", unix.SYS_EXECVE, path, p.Strs(argv), p.Strs(env)).Code(126)
}

// exitCode is the code a failure of c with errno e exits with.
//
//go:nosplit
func (c *Call) exitCode(e syscall.Errno) int {
	if c.trap == unix.SYS_EXECVE && e == syscall.ENOENT {
		return 127
	}
	return c.code
}
