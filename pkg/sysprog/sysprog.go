// Package sysprog runs a list of system calls, prepared by Go, in a process
// that cannot run Go: the container's PID 1 between clone(2) and execve(2).
//
// can would rather not start itself twice per container (each Go start costs
// it some 8 ms here: the runtime's page faults, its threads, package init).
// So it builds the container on a thread of its one process, and clones PID 1
// from that thread. But a fork of a multithreaded Go program may not run Go:
// it has one thread, and the runtime's locks and heap in whatever state the
// other threads left them. Until execve it may only make raw system calls
// from code that never grows its stack or allocates (//go:nosplit), the rule
// Go's own syscall.forkAndExecInChild lives by.
//
// So the parent writes PID 1's part as data, a Program: each Call a system
// call number and its six arguments, pointers to memory prepared in advance
// (PID 1 shares the parent's memory until its execve: Start). PID 1 then
// only loops over the calls. When one fails, PID 1
// reports the call's index and its errno on the error pipe and exits; the
// parent, which kept the Program, turns that into the error a user reads
// (Explain). Run executes the same Program in an ordinary Go process, so a
// step is written once for both ways of starting a container.
package sysprog

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"strings"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"

	"tincan.dev/pkg/trace"
)

// Call is one system call of a Program.
type Call struct {
	trap     uintptr
	args     [6]uintptr
	ok       unix.Errno // an errno that counts as success (ENOENT for an optional path); 0: none
	fail     unix.Errno // when set, a result of 0 (failZero) or not 0 is a failure, reported as this errno
	failZero bool
	code     int         // the exit code when it fails
	line     []byte      // the trace line, "+ mount(...)\n", printed before the call
	text     string      // the call, for errors
	hint     string      // what to do about a failure, or ""
	per      []errHint   // what to do about a failure with a given errno
	out      *uintptr    // where the result goes (Save)
	in       [6]*uintptr // arguments read when the call is made (Load)
}

type errHint struct {
	errno unix.Errno
	hint  string
}

// Program is a list of system calls and the memory their arguments point to.
type Program struct {
	calls []Call
	keep  []any // a uintptr does not keep its object alive: this does
	hand  []*os.File
	trace bool
	waits bool // a call waits for this process: Start may not put it to sleep
}

// New starts an empty program, traced when can's trace is on.
func New() *Program { return &Program{trace: trace.On()} }

// Str returns s as a NUL-terminated string the program's calls can point to.
func (p *Program) Str(s string) uintptr {
	if i := strings.IndexByte(s, 0); i >= 0 {
		s = s[:i] // the kernel would stop there too
	}
	b, _ := unix.BytePtrFromString(s)
	p.keep = append(p.keep, b)
	return uintptr(unsafe.Pointer(b))
}

// StrOrNil is Str, or a NULL pointer for "" (mount(2)'s unused arguments).
func (p *Program) StrOrNil(s string) uintptr {
	if s == "" {
		return 0
	}
	return p.Str(s)
}

// Strs returns a NULL-terminated array of strings (execve's argv and envp).
func (p *Program) Strs(list []string) uintptr {
	a := make([]uintptr, len(list)+1)
	for i, s := range list {
		a[i] = p.Str(s)
	}
	p.keep = append(p.keep, a)
	return uintptr(unsafe.Pointer(&a[0]))
}

// Ptr returns the address of v, kept alive as long as the program.
func Ptr[T any](p *Program, v *T) uintptr {
	p.keep = append(p.keep, v)
	return uintptr(unsafe.Pointer(v))
}

// Add appends a call: text is how the trace and errors spell it, hint what
// a user can do when it fails ("" for nothing to say).
func (p *Program) Add(text, hint string, trap uintptr, args ...uintptr) *Call {
	c := Call{trap: trap, code: 125, text: text, hint: hint}
	copy(c.args[:], args)
	if p.trace {
		c.line = []byte("+ " + text + "\n")
	}
	p.calls = append(p.calls, c)
	return &p.calls[len(p.calls)-1]
}

// Allow makes errno e count as success: the call's target may be missing.
func (c *Call) Allow(e unix.Errno) *Call { c.ok = e; return c }

// Hint says what to do when the call fails with errno e, in place of the
// hint Add was given.
func (c *Call) Hint(e unix.Errno, hint string) *Call {
	c.per = append(c.per, errHint{e, hint})
	return c
}

// ResultZero makes a result other than 0 a failure, reported as errno e:
// seccomp(2) with SECCOMP_FILTER_FLAG_TSYNC returns the ID of a thread that
// could not take the filter, with no errno.
func (c *Call) ResultZero(e unix.Errno) *Call { c.fail, c.failZero = e, false; return c }

// ResultNonZero makes a result of 0 a failure, reported as errno e: a
// read(2) that meets the end of the file.
func (c *Call) ResultNonZero(e unix.Errno) *Call { c.fail, c.failZero = e, true; return c }

// Waits marks a call that waits for something this process does after the
// clone ("go" on a socket): Start must not suspend this process (vfork) for
// a child that runs it, or neither would go on.
func (p *Program) Waits() { p.waits = true }

// Save keeps the call's result in *v (from Slot), for a later call to take
// as an argument (Load): the fd an open(2) returns, which nobody knows when
// the program is written.
func (c *Call) Save(v *uintptr) *Call { c.out = v; return c }

// Load makes argument i of the call the value *v holds when the call is made.
func (c *Call) Load(i int, v *uintptr) *Call { c.in[i] = v; return c }

// Slot returns a word for Save and Load, kept alive as long as p. In a
// forked child it is the child's own copy.
func (p *Program) Slot() *uintptr {
	v := new(uintptr)
	p.keep = append(p.keep, v)
	return v
}

// Code sets the exit code a failure of the call gives (125 unless set).
func (c *Call) Code(code int) *Call { c.code = code; return c }

// Hand gives f to the process that runs p: Start closes this process's
// copy once the clone has its own (a terminal's slave end, which must be
// open in the container only, or its reader never sees it close).
func (p *Program) Hand(f *os.File) { p.hand = append(p.hand, f) }

// CloseHanded closes this process's copies of the files given to Hand:
// Start does, and so must whoever drops p without starting it.
func (p *Program) CloseHanded() {
	for _, f := range p.hand {
		f.Close()
	}
	p.hand = nil
}

// Append adds q's calls to p.
func (p *Program) Append(q *Program) {
	p.calls = append(p.calls, q.calls...)
	p.keep = append(p.keep, q.keep...)
	p.waits = p.waits || q.waits
}

// Run makes the calls here, in this Go process, on the calling thread (lock
// it: the calls may be per thread). It stops at the first that fails.
func (p *Program) Run() error {
	for i := range p.calls {
		c := &p.calls[i]
		trace.Call("%s", c.text)
		if e := c.do(); e != 0 {
			return p.explain(i, e)
		}
	}
	return nil
}

// RunNow makes the calls plan prepares, at once, on the calling thread
// (Run): for a step that a Go process takes itself.
func RunNow(plan func(*Program) error) error {
	p := New()
	if err := plan(p); err != nil {
		return err
	}
	return p.Run()
}

// do makes the call, the arguments Load names read now and the result kept
// where Save says, and returns the errno that makes it a failure (failure),
// 0 if none: the one step of both Run and a cloned child.
//
//go:nosplit
func (c *Call) do() syscall.Errno {
	a := c.args
	for j := 0; j < len(a); j++ {
		if c.in[j] != nil {
			a[j] = *c.in[j]
		}
	}
	r, _, e := syscall.RawSyscall6(c.trap, a[0], a[1], a[2], a[3], a[4], a[5])
	if c.out != nil {
		*c.out = r
	}
	return c.failure(r, e)
}

// failure is the errno that makes the call's result r and errno e a
// failure, 0 if they are none: Allow, ResultZero and ResultNonZero applied.
//
//go:nosplit
func (c *Call) failure(r uintptr, e syscall.Errno) syscall.Errno {
	if e == 0 && c.fail != 0 && (r == 0) == c.failZero {
		e = c.fail
	}
	if e == c.ok {
		return 0
	}
	return e
}

// Error is a failed call of a Program, with the exit code it gives.
type Error struct {
	Code int
	Err  error
}

func (e *Error) Error() string { return e.Err.Error() }
func (e *Error) Unwrap() error { return e.Err }

func (p *Program) explain(i int, e unix.Errno) error {
	c := &p.calls[i]
	hint := c.hint
	for _, h := range c.per {
		if h.errno == e {
			hint = h.hint
		}
	}
	err := fmt.Errorf("%s: %w", c.text, e)
	if hint != "" {
		err = fmt.Errorf("%s: %w (%s)", c.text, e, hint)
	}
	return &Error{Code: c.exitCode(e), Err: err}
}

// report is what a raw run writes to its error pipe when call i fails: a
// zero byte (no text message starts so), then i and the errno.
type report [5]byte

// Explain turns a report from a raw run into the failed call's error, an
// *Error; nil when msg is no such report.
func (p *Program) Explain(msg []byte) error {
	if len(msg) != len(report{}) || msg[0] != 0 {
		return nil
	}
	i := int(binary.LittleEndian.Uint16(msg[1:]))
	e := unix.Errno(binary.LittleEndian.Uint16(msg[3:]))
	if i >= len(p.calls) {
		return &Error{Code: 125, Err: errors.New("the container's PID 1 reported an unknown step")}
	}
	return p.explain(i, e)
}
