package sysprog

import (
	"os"
	"runtime"
	"syscall"
	"testing"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// Run makes the calls in order, lets an allowed errno pass, and names the
// call that failed, with its hint and errno.
func TestRun(t *testing.T) {
	dir := t.TempDir()
	p := New()
	p.Add("mkdir(a)", "", unix.SYS_MKDIRAT, atFDCWD, p.Str(dir+"/a"), 0o755)
	p.Add("mkdir(a) again", "", unix.SYS_MKDIRAT, atFDCWD, p.Str(dir+"/a"), 0o755).Allow(unix.EEXIST)
	p.Add("rmdir(b)", "there is no b", unix.SYS_UNLINKAT, atFDCWD, p.Str(dir+"/b"), unix.AT_REMOVEDIR)
	p.Add("mkdir(c)", "", unix.SYS_MKDIRAT, atFDCWD, p.Str(dir+"/c"), 0o755)
	err := p.Run()
	require.EqualError(t, err, "rmdir(b): no such file or directory (there is no b)")
	require.DirExists(t, dir+"/a")
	require.NoDirExists(t, dir+"/c", "a call after the failed one was made")
}

// A call's result, saved, is a later call's argument: the fd an open
// returns is the one the write and the close take.
func TestSaveLoad(t *testing.T) {
	path := t.TempDir() + "/f"
	p := New()
	fd := p.Slot()
	p.Add("open(f)", "", unix.SYS_OPENAT, atFDCWD, p.Str(path), unix.O_WRONLY|unix.O_CREAT|unix.O_CLOEXEC, 0o600).Save(fd)
	p.Add("write(f, \"saved\")", "", unix.SYS_WRITE, 0, p.Str("saved"), 5).Load(0, fd)
	p.Add("close(f)", "", unix.SYS_CLOSE, 0).Load(0, fd)
	require.NoError(t, p.Run())
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	require.Equal(t, "saved", string(b))
}

// A clone runs the program after its first calls, and reports a failed call
// on the error pipe, which Explain turns into the same error Run gives. A
// program that waits runs beside this thread, on a stack of its own, in
// this memory: the byte it reads lands in this process's buffer.
func TestStart(t *testing.T) {
	dir := t.TempDir()
	var pipe [2]int
	require.NoError(t, unix.Pipe2(pipe[:], unix.O_CLOEXEC))
	r := os.NewFile(uintptr(pipe[0]), "errors")
	defer r.Close()

	var goPipe [2]int
	require.NoError(t, unix.Pipe2(goPipe[:], unix.O_CLOEXEC))
	defer unix.Close(goPipe[0])

	p := New()
	var buf [1]byte
	p.Add("read(go)", "", unix.SYS_READ, uintptr(goPipe[0]), Ptr(p, &buf), 1).ResultNonZero(unix.EPIPE)
	p.Waits() // for the write below, which Start must return first to make
	p.Add("mkdir(made)", "", unix.SYS_MKDIRAT, atFDCWD, p.Str(dir+"/made"), 0o755)
	p.Add("mkdir(no/such)", "", unix.SYS_MKDIRAT, atFDCWD, p.Str(dir+"/no/such"), 0o755).Code(3)

	pid := startLocked(t, p, pipe[1])
	_, err := unix.Write(goPipe[1], []byte{1})
	require.NoError(t, err)
	unix.Close(goPipe[1])
	msg := make([]byte, 64)
	var ws unix.WaitStatus
	_, err = unix.Wait4(pid, &ws, 0, nil)
	require.NoError(t, err)
	n, _ := r.Read(msg)
	require.Equal(t, 3, ws.ExitStatus())
	perr := p.Explain(msg[:n])
	require.EqualError(t, perr, "mkdir(no/such): no such file or directory")
	var e *Error
	require.ErrorAs(t, perr, &e)
	require.Equal(t, 3, e.Code)
	require.DirExists(t, dir+"/made")
	require.Nil(t, p.Explain([]byte("125 not a report")))
	if canVfork {
		require.Equal(t, byte(1), buf[0], "the child's read did not land in this process's memory: no CLONE_VM")
	}
}

// atFDCWD is AT_FDCWD (-100) as a system call argument.
var atFDCWD = func() uintptr { fd := unix.AT_FDCWD; return uintptr(fd) }()

// A program that waits for nothing runs in a child that borrows this
// process's memory (CLONE_VM|CLONE_VFORK): what it reads into a buffer is
// in this process's buffer too. Its command starts with no signal blocked
// and none of Go's handlers (CLONE_CLEAR_SIGHAND, then execve).
func TestStartBorrowsMemory(t *testing.T) {
	if !canVfork {
		t.Skip("vfork3 is written for amd64 only: elsewhere Start forks")
	}
	dir := t.TempDir()
	var pipe, in [2]int
	require.NoError(t, unix.Pipe2(pipe[:], unix.O_CLOEXEC))
	r := os.NewFile(uintptr(pipe[0]), "errors")
	defer r.Close()
	require.NoError(t, unix.Pipe2(in[:], unix.O_CLOEXEC))
	defer unix.Close(in[0])
	_, err := unix.Write(in[1], []byte("x"))
	require.NoError(t, err)
	unix.Close(in[1])

	p := New()
	var buf [1]byte
	p.Add("read(in)", "", unix.SYS_READ, uintptr(in[0]), Ptr(p, &buf), 1).ResultNonZero(unix.EPIPE)
	p.Exec("/bin/sh", []string{"sh", "-c", "exec cat /proc/self/status >" + dir + "/status"}, nil)

	pid := startLocked(t, p, pipe[1])
	require.Equal(t, byte('x'), buf[0], "the child's read did not land in this process's memory: no CLONE_VM")
	var ws unix.WaitStatus
	_, err = unix.Wait4(pid, &ws, 0, nil)
	require.NoError(t, err)
	require.Equal(t, 0, ws.ExitStatus())
	status, err := os.ReadFile(dir + "/status")
	require.NoError(t, err)
	require.Contains(t, string(status), "SigBlk:\t0000000000000000\n")
	require.Contains(t, string(status), "SigCgt:\t0000000000000000\n")
}

// startLocked runs Start from a locked thread, as its callers must, and
// closes this process's end errs of the error pipe and the pidfd.
func startLocked(t *testing.T, p *Program, errs int) (pid int) {
	done := make(chan struct{})
	var pidfd int
	var err error
	go func() {
		defer close(done)
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		pid, pidfd, err = Start(p, 0, errs)
	}()
	<-done
	require.NoError(t, err)
	unix.Close(errs)
	if pidfd >= 0 {
		unix.Close(pidfd)
	}
	return pid
}

// The kernel's return register: -4095 to -1 an errno, anything else a
// result, however large.
func TestRawResult(t *testing.T) {
	neg := func(e uintptr) uintptr { return -e }
	for _, tc := range []struct {
		r     uintptr
		want  uintptr
		errno syscall.Errno
	}{
		{0, 0, 0},
		{4242, 4242, 0},
		{neg(uintptr(unix.EINVAL)), ^uintptr(0), unix.EINVAL},
		{neg(4095), ^uintptr(0), 4095},
		{neg(4096), neg(4096), 0},
	} {
		r, e := rawResult(tc.r)
		require.Equal(t, tc.want, r, "%#x", tc.r)
		require.Equal(t, tc.errno, e, "%#x", tc.r)
	}
}
