package main

import (
	"fmt"
	"os"
	"runtime"

	"golang.org/x/sys/unix"

	"tincan.dev/pkg/sysprog"
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
//   - PID 1 is a raw clone(2) of that thread (sysprog.Start). It cannot run
//     Go: it is a fork of a multithreaded process, with one thread and the
//     runtime's locks as the others left them. It makes raw system calls
//     only: mount /proc (a proc mount shows the PID namespace of whoever
//     mounts it, and only PID 1 is in the new one), setsid, execve.
//
//	bench gofloor ROOT CMD [ARG...]

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

	// PID 1's part, made by a raw clone of this thread (pkg/sysprog).
	p := sysprog.New()
	p.Add("mount /proc", "", unix.SYS_MOUNT, p.Str("proc"), p.Str("/proc"), p.Str("proc"), unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC)
	p.Add("setsid", "", unix.SYS_SETSID)
	p.Exec(argv[0], argv, []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin"})
	var report [2]int
	step("pipe", unix.Pipe2(report[:], unix.O_CLOEXEC))
	pid, pidfd, err := sysprog.Start(p, 0, report[1])
	step("clone", err)
	unix.Close(pidfd)
	unix.Close(report[1])
	msg := make([]byte, 16)
	if n, _ := unix.Read(report[0], msg); n > 0 {
		fmt.Fprintf(os.Stderr, "gofloor: PID 1: %v\n", p.Explain(msg[:n]))
	}
	var ws unix.WaitStatus
	if _, err := unix.Wait4(pid, &ws, 0, nil); err != nil {
		step("wait4", err)
	}
	return ws.ExitStatus()
}
