package harden

import "golang.org/x/sys/unix"

// archCheck starts the filter: system call numbers only mean something for
// one ABI, so anything but x86-64 is killed before a number is looked at.
// A 64-bit process can still enter the kernel through the i386 table
// (int $0x80, arch AUDIT_ARCH_I386), where 310 is unshare's number while on
// x86-64 it is process_vm_readv's: a filter that skipped this check would let
// it through. Then it loads the number, for the search.
func archCheck() []unix.SockFilter {
	return []unix.SockFilter{
		ld(offArch),
		jeq(unix.AUDIT_ARCH_X86_64, 1, 0),
		ret(retKill),
		ld(offNr),
	}
}

// archSpans: the x32 ABI shares AUDIT_ARCH_X86_64 but numbers its calls
// nr|0x40000000 (__X32_SYSCALL_BIT): mount as 165|0x40000000 would not match
// 165, so every number from there up is killed.
var archSpans = []span{{0x40000000, kill}}

// allowedArch are the calls only x86-64 has, in Docker's list: the older
// forms of calls arm64 knows only as *at or *2 (open for openat, pipe for
// pipe2...), and the thread-local storage and segment calls of x86.
var allowedArch = []uintptr{
	unix.SYS_OPEN, unix.SYS_CREAT, unix.SYS_ACCESS, unix.SYS_STAT, unix.SYS_LSTAT,
	unix.SYS_CHMOD, unix.SYS_CHOWN, unix.SYS_LCHOWN, unix.SYS_MKDIR, unix.SYS_RMDIR, unix.SYS_MKNOD,
	unix.SYS_LINK, unix.SYS_SYMLINK, unix.SYS_UNLINK, unix.SYS_RENAME, unix.SYS_READLINK,
	unix.SYS_GETDENTS, unix.SYS_UTIME, unix.SYS_UTIMES, unix.SYS_FUTIMESAT,
	unix.SYS_DUP2, unix.SYS_PIPE, unix.SYS_POLL, unix.SYS_SELECT,
	unix.SYS_EPOLL_CREATE, unix.SYS_EPOLL_WAIT, unix.SYS_EPOLL_CTL_OLD, unix.SYS_EPOLL_WAIT_OLD,
	unix.SYS_EVENTFD, unix.SYS_SIGNALFD, unix.SYS_INOTIFY_INIT,
	unix.SYS_FORK, unix.SYS_VFORK, unix.SYS_PAUSE, unix.SYS_ALARM, unix.SYS_TIME, unix.SYS_GETPGRP,
	unix.SYS_ARCH_PRCTL, unix.SYS_MODIFY_LDT, unix.SYS_GET_THREAD_AREA, unix.SYS_SET_THREAD_AREA,
}

// capAllowedArch: port I/O, x86 only.
var capAllowedArch = []capCalls{{unix.CAP_SYS_RAWIO, []uintptr{unix.SYS_IOPL, unix.SYS_IOPERM}}}
