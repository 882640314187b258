package main

import (
	"fmt"
	"os"
	"runtime"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// The "Go floor" row: the least a Go program does to start a container,
// with one Go start, as can run as root now does. It is a measuring
// instrument, not a runtime (no cgroup, no hardening, no state, no error
// worth the name): can's shape with nothing else (09-full/README.md, "One
// Go start"):
//
//   - The container is built on one locked thread of this process.
//     unshare(2) there changes that thread alone, and since Go 1.10 the
//     runtime never clones a new thread from a locked one; the goroutine
//     ends without unlocking, which ends the thread with it.
//   - PID 1 is a raw clone(2) of that thread. It cannot run Go: it is a fork
//     of a multithreaded process, with one thread and the runtime's locks as
//     the others left them. It makes raw system calls only, from nosplit
//     code, as Go's own syscall.forkAndExecInChild does: mount /proc (a proc
//     mount shows the PID namespace of whoever mounts it, and only PID 1 is
//     in the new one), setsid, execve.
//
//	bench gofloor ROOT CMD [ARG...]

// rawCall is one system call of PID 1's program, its arguments prepared by
// the parent (strings as NUL-terminated bytes it keeps alive).
type rawCall struct {
	trap uintptr
	args [6]uintptr
}

// runProgram is PID 1 between clone and execve. On a failure it writes the
// failing step and errno to fd report and exits 127; execve closes report
// (O_CLOEXEC), which the parent reads as success.
//
//go:nosplit
//go:norace
func runProgram(prog []rawCall, report uintptr) {
	for i := range prog {
		c := &prog[i]
		_, _, e := syscall.RawSyscall6(c.trap, c.args[0], c.args[1], c.args[2], c.args[3], c.args[4], c.args[5])
		if e != 0 {
			msg := [2]byte{byte(i), byte(e)}
			syscall.RawSyscall(syscall.SYS_WRITE, report, uintptr(unsafe.Pointer(&msg[0])), 2)
			syscall.RawSyscall(syscall.SYS_EXIT_GROUP, 127, 0, 0)
		}
	}
	syscall.RawSyscall(syscall.SYS_EXIT_GROUP, 127, 0, 0) // not reached: the program ends in execve
}

// goFloor starts argv in a container on root and returns its exit status.
func goFloor(root string, argv []string) int {
	status := make(chan int)
	go func() {
		runtime.LockOSThread() // for good: the thread ends with this goroutine
		status <- floorOnThread(root, argv)
	}()
	return <-status
}

func floorOnThread(root string, argv []string) int {
	step := func(what string, err error) {
		if err != nil {
			fmt.Fprintf(os.Stderr, "gofloor: %s: %v\n", what, err)
			os.Exit(125)
		}
	}
	step("unshare", unix.Unshare(unix.CLONE_FS|unix.CLONE_NEWNS|unix.CLONE_NEWUTS|unix.CLONE_NEWIPC|unix.CLONE_NEWNET|unix.CLONE_NEWPID))
	step("make / private", unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""))
	step("bind the root", unix.Mount(root, root, "", unix.MS_BIND|unix.MS_REC, ""))
	step("mount /dev", unix.Mount("tmpfs", root+"/dev", "tmpfs", unix.MS_NOSUID|unix.MS_STRICTATIME, "mode=755,size=65536k"))
	for _, d := range []struct {
		name         string
		major, minor uint32
	}{{"null", 1, 3}, {"zero", 1, 5}, {"full", 1, 7}, {"random", 1, 8}, {"urandom", 1, 9}, {"tty", 5, 0}} {
		step("mknod", unix.Mknod(root+"/dev/"+d.name, unix.S_IFCHR|0o666, int(unix.Mkdev(d.major, d.minor))))
	}
	step("chdir", unix.Chdir(root))
	step("pivot_root", unix.PivotRoot(".", "."))
	step("detach the old root", unix.Unmount(".", unix.MNT_DETACH))
	step("chdir /", unix.Chdir("/"))
	step("sethostname", unix.Sethostname([]byte("gofloor")))

	// Everything PID 1 will touch is made now: it may not allocate. keep
	// holds the strings: a uintptr does not keep its object from the GC.
	var keep []*byte
	str := func(s string) uintptr {
		b, _ := unix.BytePtrFromString(s)
		keep = append(keep, b)
		return uintptr(unsafe.Pointer(b))
	}
	argvp := make([]uintptr, len(argv)+1)
	for i, a := range argv {
		argvp[i] = str(a)
	}
	envp := []uintptr{str("PATH=/usr/sbin:/usr/bin:/sbin:/bin"), 0}
	var none uint64 // the signal mask CMD starts with
	prog := []rawCall{
		{unix.SYS_MOUNT, [6]uintptr{str("proc"), str("/proc"), str("proc"), unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC}},
		{unix.SYS_SETSID, [6]uintptr{}},
		{unix.SYS_RT_SIGPROCMASK, [6]uintptr{unix.SIG_SETMASK, uintptr(unsafe.Pointer(&none)), 0, 8}},
		{unix.SYS_EXECVE, [6]uintptr{argvp[0], uintptr(unsafe.Pointer(&argvp[0])), uintptr(unsafe.Pointer(&envp[0]))}},
	}
	var report [2]int
	step("pipe", unix.Pipe2(report[:], unix.O_CLOEXEC))

	// No Go signal handler may run in PID 1: block every signal from before
	// the clone, and let PID 1 unblock them only just before execve.
	all, old := ^uint64(0), uint64(0)
	syscall.RawSyscall6(unix.SYS_RT_SIGPROCMASK, unix.SIG_SETMASK, uintptr(unsafe.Pointer(&all)), uintptr(unsafe.Pointer(&old)), 8, 0, 0)
	pid, _, errno := syscall.RawSyscall6(unix.SYS_CLONE, uintptr(unix.SIGCHLD), 0, 0, 0, 0, 0)
	if pid == 0 && errno == 0 {
		runProgram(prog, uintptr(report[1])) // never returns
	}
	syscall.RawSyscall6(unix.SYS_RT_SIGPROCMASK, unix.SIG_SETMASK, uintptr(unsafe.Pointer(&old)), 0, 8, 0, 0)
	if errno != 0 {
		step("clone", errno)
	}
	unix.Close(report[1])
	var msg [2]byte
	if n, _ := unix.Read(report[0], msg[:]); n == 2 {
		fmt.Fprintf(os.Stderr, "gofloor: PID 1, step %d: %v\n", msg[0], syscall.Errno(msg[1]))
	}
	runtime.KeepAlive(keep)
	runtime.KeepAlive(&none)
	runtime.KeepAlive(prog)
	runtime.KeepAlive(argvp)
	runtime.KeepAlive(envp)
	var ws unix.WaitStatus
	if _, err := unix.Wait4(int(pid), &ws, 0, nil); err != nil {
		step("wait4", err)
	}
	return ws.ExitStatus()
}
