package reexec

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"unsafe"

	"golang.org/x/sys/unix"

	"tincan.dev/pkg/sysprog"
)

// StartProgram is Start for a child that is not this program again, but a
// raw clone of one of its threads running a list of system calls
// (pkg/sysprog explains why: one Go start per container instead of two).
//
// build runs on a thread of its own, locked to it for good: there it may
// enter new namespaces and build the container's root, which the rest of
// this process never sees. It adds the calls the child is to make to p,
// ending with p.Exec. The child is cloned from that thread, and the thread
// lives on until the child is reaped (Wait, Abort, Release): for
// Pdeathsig, the "parent" is the thread that cloned the child (prctl(2)).
// Then the goroutine ends locked, and the Go runtime ends its thread with
// it, namespaces and all.
//
// The child keeps Start's protocol: it waits for Continue's "go" (unless
// Proceed), its execve closing the error pipe is success, and the report of
// a failed call becomes its error. Wrap, Env, ExtraFiles and Rootless do not apply:
// the program has the files it opens, and the caller is root.
func (c *Cmd) StartProgram(build func(p *sysprog.Program) error) error {
	if c.Signals == nil {
		c.Signals, c.ownSignals = Notify(), true
	}
	pair, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return err
	}
	var pipe [2]int
	if err := unix.Pipe2(pipe[:], unix.O_CLOEXEC); err != nil {
		unix.Close(pair[0])
		unix.Close(pair[1])
		return err
	}
	type result struct {
		p          *sysprog.Program
		pid, pidfd int
		err        error
	}
	res, reaped := make(chan result), make(chan struct{})
	go func() {
		GrowStack()
		runtime.LockOSThread() // never unlocked: see above
		p := sysprog.New()
		if s := c.SysProcAttr.Pdeathsig; s != 0 {
			p.Add("prctl(PR_SET_PDEATHSIG, "+unix.SignalName(s)+")", "", unix.SYS_PRCTL, unix.PR_SET_PDEATHSIG, uintptr(s))
		}
		// The child has copies of every fd, the parent's ends of the
		// channels too: with those open, it would never see them close.
		p.Add("close(sync, the parent's end)", "", unix.SYS_CLOSE, uintptr(pair[0]))
		p.Add("close(errors, the parent's end)", "", unix.SYS_CLOSE, uintptr(pipe[0]))
		// Until "go" the parent may still be putting us in a cgroup or
		// plugging in our network. End of file: it gave up on us, and
		// says why itself.
		c.childSync, c.childErrs = pair[1], pipe[1]
		if !c.Proceed && c.AfterClone == nil {
			var buf [2]byte
			p.Add("read(sync, \"go\")", "the parent is gone", unix.SYS_READ, uintptr(pair[1]), sysprog.Ptr(p, &buf), 2).ResultNonZero(unix.EPIPE)
			p.Waits()
		}
		// Every fd of this process, the caller's and the Go runtime's,
		// was copied into the child: none may reach CMD (CVE-2024-21626).
		p.Add("close_range(3, ~0U, CLOSE_RANGE_CLOEXEC)", "needs Linux 5.11", unix.SYS_CLOSE_RANGE, 3, ^uintptr(0)>>32, unix.CLOSE_RANGE_CLOEXEC)
		if c.SysProcAttr.Setsid {
			p.Add("setsid()", "", unix.SYS_SETSID)
		}
		if lim, ok := callerNofile(); ok {
			p.Add(fmt.Sprintf("prlimit64(0, RLIMIT_NOFILE, {%d, %d}, NULL)", lim.Cur, lim.Max), "",
				unix.SYS_PRLIMIT64, 0, unix.RLIMIT_NOFILE, sysprog.Ptr(p, &lim), 0)
		}
		r := result{p: p, err: build(p)}
		if r.err == nil {
			r.pid, r.pidfd, r.err = sysprog.Start(p, 0, pipe[1])
			if r.err == nil && c.AfterClone != nil {
				if r.err = c.AfterClone(r.pid, r.pidfd, pair[0]); r.err != nil {
					kill(r.pid, r.pidfd)
					// The child may have said why it stopped first.
					var msg [64]byte
					unix.SetNonblock(pipe[0], true)
					if n, _ := unix.Read(pipe[0], msg[:]); n > 0 {
						if err := p.Explain(msg[:n]); err != nil {
							r.err = err
						}
					}
				}
			}
		} else {
			p.CloseHanded()
		}
		res <- r
		if r.err == nil {
			<-reaped
		}
	}()
	if c.Meanwhile != nil {
		c.Meanwhile()
	}
	r := <-res
	unix.Close(pair[1]) // the child has its own copies
	unix.Close(pipe[1])
	if r.err != nil {
		unix.Close(pair[0])
		unix.Close(pipe[0])
		return r.err
	}
	c.sync, c.errR = os.NewFile(uintptr(pair[0]), "sync"), os.NewFile(uintptr(pipe[0]), "errors")
	c.Pid, c.pidfd = r.pid, r.pidfd
	c.explain, c.reaped = r.p.Explain, reaped
	return nil
}

// PlanGo adds to p the wait for Continue's "go", for a child started with
// AfterClone, which waits where its program says, into buf: Cmd.Go, when
// set, is read there (one small write on a unix socket comes in one read).
// End of file: the parent gave up on it, and says why itself.
func (c *Cmd) PlanGo(p *sysprog.Program, buf []byte) {
	p.Add("read(sync, \"go\")", "the parent is gone", unix.SYS_READ, uintptr(c.childSync), sysprog.Ptr(p, &buf[0]), uintptr(len(buf))).ResultNonZero(unix.EPIPE)
	p.Waits()
}

// PlanDetach adds to p the close of the error pipe: Continue returns there,
// as at execve, and from then on a failure only sets the exit code. For a
// container that waits, built, for a later start while its creator exits.
func (c *Cmd) PlanDetach(p *sysprog.Program) {
	p.Add("close(errors): built", "", unix.SYS_CLOSE, uintptr(c.childErrs))
}

// PlanSend adds to p the write of word *v (a Slot: an fd number the child
// got) on the sync socket, for AfterClone to read with ReadWord.
func (c *Cmd) PlanSend(p *sysprog.Program, text string, v *uintptr) {
	p.Add("write(sync, "+text+")", "", unix.SYS_WRITE, uintptr(c.childSync), uintptr(unsafe.Pointer(v)), unsafe.Sizeof(*v))
}

// ReadWord reads a word PlanSend's call wrote on fd sync.
func ReadWord(sync int) (uintptr, error) {
	var v uintptr
	b := unsafe.Slice((*byte)(unsafe.Pointer(&v)), unsafe.Sizeof(v))
	for n := 0; n < len(b); {
		m, err := unix.Read(sync, b[n:])
		if err != nil {
			return 0, err
		}
		if m == 0 {
			return 0, errors.New("the container's PID 1 ended before it said")
		}
		n += m
	}
	return v, nil
}

// kill ends a child AfterClone gave up on, and reaps it.
func kill(pid, pidfd int) {
	if pidfd >= 0 {
		unix.PidfdSendSignal(pidfd, unix.SIGKILL, nil, 0)
		unix.Close(pidfd)
	} else {
		unix.Kill(pid, unix.SIGKILL)
	}
	var ws unix.WaitStatus
	unix.Wait4(pid, &ws, 0, nil)
}

// Pass makes f what ReceiveFile returns: a file the child of StartProgram
// would have sent, which its builder, a thread of this process, has already.
func (c *Cmd) Pass(f *os.File) { c.passed = f }

// callerNofile is the soft RLIMIT_NOFILE this process was started with, when
// the Go runtime raised it: at start Go sets its own soft limit to the hard
// one minus 1 (syscall/rlimit.go), and puts the old one back in every child
// it starts itself, which a raw clone is not. Go keeps that old value to
// itself; the caller, who started can, still has it, with the same hard
// limit (prlimit(2) reads it).
func callerNofile() (unix.Rlimit, bool) {
	var own, caller unix.Rlimit
	if unix.Getrlimit(unix.RLIMIT_NOFILE, &own) != nil || own.Max == 0 || own.Cur != own.Max-1 {
		return own, false // not raised by Go
	}
	if unix.Prlimit(os.Getppid(), unix.RLIMIT_NOFILE, nil, &caller) != nil || caller.Max != own.Max || caller.Cur >= own.Cur {
		return own, false
	}
	return caller, true
}
