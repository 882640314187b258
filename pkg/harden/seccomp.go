//go:build amd64 || arm64

package harden

import (
	"fmt"
	"slices"
	"sync"

	"golang.org/x/sys/unix"

	"tincan.dev/pkg/sysprog"
)

// The seccomp filter is a small program in classic BPF that the kernel runs on
// every system call the thread (and every process it becomes or starts) makes
// (seccomp(2), "SECCOMP_SET_MODE_FILTER"). It reads this struct, seccomp_data:
//
//	offset  0  int  nr        the system call's number
//	offset  4  u32  arch      AUDIT_ARCH_*: a number means another call on another ABI
//	offset  8  u64  instruction_pointer
//	offset 16  u64  args[6]   on these little-endian machines the low half first
//
// and returns what the kernel does with the call: run it, fail it with an
// errno, or kill the process.
//
// The filter is Docker's default profile (moby/profiles seccomp/default.json,
// https://docs.docker.com/engine/security/seccomp/), an allowlist: the calls
// below are allowed, some only when the container keeps a capability that
// would let it do the same anyway, and every other call is refused. How it
// is refused matters:
//
//   - a call the list knows of but does not allow fails with EPERM, "you may
//     not": the program reports it and stops;
//   - a call newer than the list (a number above the highest it names) fails
//     with ENOSYS, "this kernel has no such call": that is what the C library
//     gets from an older kernel, and it falls back to the older call it
//     replaces (fchmodat2 to fchmodat, statmount to reading mountinfo).
//     EPERM there would break each program that tries the new call first.
//     It still refuses everything the list's authors did not look at: a
//     denylist lets such calls through until someone adds them.
//
// clone3 gets ENOSYS too, though the list knows it: its flags sit in a struct
// in memory, which a filter cannot read, so it cannot tell a new thread from
// a new namespace. ENOSYS makes the C library fall back to clone(2), whose
// flags are a register the filter does check. (EPERM there breaks every
// threaded program linked with glibc 2.34 or newer: it believes the kernel
// and gives up.)
//
// Where tincan differs from Docker's profile: io_uring is refused (its
// operations do not pass through seccomp at all; Docker refuses it too
// since 2023); name_to_handle_at goes with open_by_handle_at, which takes
// its handles, behind CAP_DAC_READ_SEARCH (Docker allows it to everyone
// again since 2023, for systemd, which names cgroup paths with it:
// moby/moby#45766); 32-bit programs are killed (see archCheck) where Docker
// allows them through a second table.

// allowed are the calls any container may make, grouped by what they are
// for; the arch file adds those only its architecture has (allowedArch).
var allowed = []uintptr{
	// Files: open, read and write, and the file descriptors themselves.
	unix.SYS_OPENAT, unix.SYS_OPENAT2, unix.SYS_CLOSE, unix.SYS_CLOSE_RANGE,
	unix.SYS_READ, unix.SYS_WRITE, unix.SYS_READV, unix.SYS_WRITEV,
	unix.SYS_PREAD64, unix.SYS_PWRITE64, unix.SYS_PREADV, unix.SYS_PWRITEV,
	unix.SYS_PREADV2, unix.SYS_PWRITEV2, unix.SYS_LSEEK, unix.SYS_IOCTL,
	unix.SYS_DUP, unix.SYS_DUP3, unix.SYS_FCNTL, unix.SYS_FLOCK, unix.SYS_PIPE2,
	unix.SYS_FSYNC, unix.SYS_FDATASYNC, unix.SYS_SYNC, unix.SYS_SYNCFS, unix.SYS_SYNC_FILE_RANGE,
	unix.SYS_TRUNCATE, unix.SYS_FTRUNCATE, unix.SYS_FALLOCATE, unix.SYS_FADVISE64, unix.SYS_READAHEAD,
	unix.SYS_SENDFILE, unix.SYS_SPLICE, unix.SYS_TEE, unix.SYS_VMSPLICE, unix.SYS_COPY_FILE_RANGE,
	// Files: names, metadata and directories.
	unix.SYS_FSTAT, unix.SYS_NEWFSTATAT, unix.SYS_STATX, unix.SYS_STATFS, unix.SYS_FSTATFS,
	unix.SYS_FACCESSAT, unix.SYS_FACCESSAT2, unix.SYS_READLINKAT, unix.SYS_GETDENTS64,
	unix.SYS_GETCWD, unix.SYS_CHDIR, unix.SYS_FCHDIR, unix.SYS_UMASK,
	unix.SYS_MKDIRAT, unix.SYS_MKNODAT, unix.SYS_LINKAT, unix.SYS_SYMLINKAT,
	unix.SYS_RENAMEAT, unix.SYS_RENAMEAT2, unix.SYS_UNLINKAT,
	unix.SYS_FCHMOD, unix.SYS_FCHMODAT, unix.SYS_FCHOWN, unix.SYS_FCHOWNAT, unix.SYS_UTIMENSAT,
	unix.SYS_GETXATTR, unix.SYS_LGETXATTR, unix.SYS_FGETXATTR,
	unix.SYS_SETXATTR, unix.SYS_LSETXATTR, unix.SYS_FSETXATTR,
	unix.SYS_LISTXATTR, unix.SYS_LLISTXATTR, unix.SYS_FLISTXATTR,
	unix.SYS_REMOVEXATTR, unix.SYS_LREMOVEXATTR, unix.SYS_FREMOVEXATTR,
	// Waiting for events: epoll, poll, event and timer descriptors,
	// inotify, fanotify's marks (its init needs CAP_SYS_ADMIN), Linux AIO.
	unix.SYS_EPOLL_CREATE1, unix.SYS_EPOLL_CTL, unix.SYS_EPOLL_PWAIT, unix.SYS_EPOLL_PWAIT2,
	unix.SYS_PPOLL, unix.SYS_PSELECT6, unix.SYS_EVENTFD2, unix.SYS_SIGNALFD4,
	unix.SYS_TIMERFD_CREATE, unix.SYS_TIMERFD_SETTIME, unix.SYS_TIMERFD_GETTIME,
	unix.SYS_INOTIFY_INIT1, unix.SYS_INOTIFY_ADD_WATCH, unix.SYS_INOTIFY_RM_WATCH, unix.SYS_FANOTIFY_MARK,
	unix.SYS_IO_SETUP, unix.SYS_IO_DESTROY, unix.SYS_IO_SUBMIT, unix.SYS_IO_CANCEL,
	unix.SYS_IO_GETEVENTS, unix.SYS_IO_PGETEVENTS,
	// Memory of the process's own.
	unix.SYS_BRK, unix.SYS_MMAP, unix.SYS_MUNMAP, unix.SYS_MREMAP, unix.SYS_MPROTECT,
	unix.SYS_MADVISE, unix.SYS_MINCORE, unix.SYS_MSYNC, unix.SYS_REMAP_FILE_PAGES,
	unix.SYS_MLOCK, unix.SYS_MLOCK2, unix.SYS_MUNLOCK, unix.SYS_MLOCKALL, unix.SYS_MUNLOCKALL,
	unix.SYS_MEMBARRIER, unix.SYS_MEMFD_CREATE, unix.SYS_MEMFD_SECRET,
	unix.SYS_PKEY_ALLOC, unix.SYS_PKEY_FREE, unix.SYS_PKEY_MPROTECT,
	// Processes and threads (clone is checked below), their limits and
	// scheduling. ptrace is allowed since Linux 4.8, which checks seccomp
	// again after a tracer changes a call: before, tracing escaped the filter.
	unix.SYS_EXECVE, unix.SYS_EXECVEAT, unix.SYS_EXIT, unix.SYS_EXIT_GROUP,
	unix.SYS_WAIT4, unix.SYS_WAITID, unix.SYS_KILL, unix.SYS_TKILL, unix.SYS_TGKILL,
	unix.SYS_PIDFD_OPEN, unix.SYS_PIDFD_SEND_SIGNAL, unix.SYS_PROCESS_MRELEASE,
	unix.SYS_GETPID, unix.SYS_GETPPID, unix.SYS_GETTID, unix.SYS_SET_TID_ADDRESS,
	unix.SYS_FUTEX, unix.SYS_FUTEX_WAITV, unix.SYS_SET_ROBUST_LIST, unix.SYS_GET_ROBUST_LIST, unix.SYS_RSEQ,
	unix.SYS_PRCTL, unix.SYS_CAPGET, unix.SYS_CAPSET,
	unix.SYS_PTRACE, unix.SYS_PROCESS_VM_READV, unix.SYS_PROCESS_VM_WRITEV,
	unix.SYS_GETRLIMIT, unix.SYS_SETRLIMIT, unix.SYS_PRLIMIT64, unix.SYS_GETRUSAGE, unix.SYS_TIMES,
	unix.SYS_GETPRIORITY, unix.SYS_SETPRIORITY, unix.SYS_IOPRIO_GET, unix.SYS_IOPRIO_SET,
	unix.SYS_SCHED_YIELD, unix.SYS_SCHED_GETAFFINITY, unix.SYS_SCHED_SETAFFINITY,
	unix.SYS_SCHED_GETATTR, unix.SYS_SCHED_SETATTR, unix.SYS_SCHED_GETPARAM, unix.SYS_SCHED_SETPARAM,
	unix.SYS_SCHED_GETSCHEDULER, unix.SYS_SCHED_SETSCHEDULER, unix.SYS_SCHED_RR_GET_INTERVAL,
	unix.SYS_SCHED_GET_PRIORITY_MAX, unix.SYS_SCHED_GET_PRIORITY_MIN,
	// A program may shut itself in further: its own seccomp filter, landlock.
	unix.SYS_SECCOMP, unix.SYS_LANDLOCK_CREATE_RULESET, unix.SYS_LANDLOCK_ADD_RULE, unix.SYS_LANDLOCK_RESTRICT_SELF,
	// Who the process is: user and group ids, process groups, sessions.
	unix.SYS_GETUID, unix.SYS_GETEUID, unix.SYS_GETGID, unix.SYS_GETEGID,
	unix.SYS_GETRESUID, unix.SYS_GETRESGID, unix.SYS_GETGROUPS,
	unix.SYS_SETUID, unix.SYS_SETGID, unix.SYS_SETREUID, unix.SYS_SETREGID,
	unix.SYS_SETRESUID, unix.SYS_SETRESGID, unix.SYS_SETGROUPS, unix.SYS_SETFSUID, unix.SYS_SETFSGID,
	unix.SYS_GETPGID, unix.SYS_SETPGID, unix.SYS_GETSID, unix.SYS_SETSID,
	// Signals.
	unix.SYS_RT_SIGACTION, unix.SYS_RT_SIGPROCMASK, unix.SYS_RT_SIGRETURN, unix.SYS_RT_SIGPENDING,
	unix.SYS_RT_SIGSUSPEND, unix.SYS_RT_SIGTIMEDWAIT, unix.SYS_RT_SIGQUEUEINFO, unix.SYS_RT_TGSIGQUEUEINFO,
	unix.SYS_SIGALTSTACK, unix.SYS_RESTART_SYSCALL,
	// Time: reading clocks, sleeping, timers. adjtimex and clock_adjtime
	// only read without CAP_SYS_TIME.
	unix.SYS_CLOCK_GETTIME, unix.SYS_CLOCK_GETRES, unix.SYS_CLOCK_NANOSLEEP, unix.SYS_NANOSLEEP,
	unix.SYS_GETTIMEOFDAY, unix.SYS_GETITIMER, unix.SYS_SETITIMER,
	unix.SYS_TIMER_CREATE, unix.SYS_TIMER_SETTIME, unix.SYS_TIMER_GETTIME,
	unix.SYS_TIMER_GETOVERRUN, unix.SYS_TIMER_DELETE, unix.SYS_ADJTIMEX, unix.SYS_CLOCK_ADJTIME,
	// Network (socket is checked below), in the container's own namespace.
	unix.SYS_SOCKETPAIR, unix.SYS_BIND, unix.SYS_CONNECT, unix.SYS_LISTEN, unix.SYS_ACCEPT, unix.SYS_ACCEPT4,
	unix.SYS_GETSOCKNAME, unix.SYS_GETPEERNAME, unix.SYS_GETSOCKOPT, unix.SYS_SETSOCKOPT,
	unix.SYS_SENDTO, unix.SYS_RECVFROM, unix.SYS_SENDMSG, unix.SYS_RECVMSG,
	unix.SYS_SENDMMSG, unix.SYS_RECVMMSG, unix.SYS_SHUTDOWN,
	// System V and POSIX IPC, in the container's own IPC namespace.
	unix.SYS_SEMGET, unix.SYS_SEMOP, unix.SYS_SEMTIMEDOP, unix.SYS_SEMCTL,
	unix.SYS_MSGGET, unix.SYS_MSGSND, unix.SYS_MSGRCV, unix.SYS_MSGCTL,
	unix.SYS_SHMGET, unix.SYS_SHMAT, unix.SYS_SHMDT, unix.SYS_SHMCTL,
	unix.SYS_MQ_OPEN, unix.SYS_MQ_UNLINK, unix.SYS_MQ_TIMEDSEND, unix.SYS_MQ_TIMEDRECEIVE,
	unix.SYS_MQ_NOTIFY, unix.SYS_MQ_GETSETATTR,
	// The machine, as far as it is anyone's business.
	unix.SYS_UNAME, unix.SYS_SYSINFO, unix.SYS_GETRANDOM, unix.SYS_GETCPU,
}

// capCalls are calls allowed only to a container that keeps cap: each does
// what the capability is for (mount needs CAP_SYS_ADMIN anyway), and the
// kernel code behind them is more than an unprivileged container should
// reach. Without the capability they fail with EPERM, which is what the
// kernel would answer too.
type capCalls struct {
	cap   int
	calls []uintptr
}

// capAllowed are Docker's; the arch file adds capAllowedArch.
var capAllowed = []capCalls{
	// Namespaces, mounts, the host's name: the container's walls. With
	// CAP_SYS_ADMIN any clone is allowed, and clone3 too.
	{unix.CAP_SYS_ADMIN, []uintptr{
		unix.SYS_CLONE, unix.SYS_CLONE3, unix.SYS_UNSHARE, unix.SYS_SETNS,
		unix.SYS_MOUNT, unix.SYS_UMOUNT2, unix.SYS_MOUNT_SETATTR, unix.SYS_MOVE_MOUNT, unix.SYS_OPEN_TREE,
		unix.SYS_FSOPEN, unix.SYS_FSCONFIG, unix.SYS_FSMOUNT, unix.SYS_FSPICK,
		unix.SYS_SETHOSTNAME, unix.SYS_SETDOMAINNAME, unix.SYS_QUOTACTL, unix.SYS_QUOTACTL_FD,
		unix.SYS_BPF, unix.SYS_PERF_EVENT_OPEN, unix.SYS_FANOTIFY_INIT, unix.SYS_LOOKUP_DCOOKIE, unix.SYS_SYSLOG,
	}},
	// A file handle opens any file of a file system, around the container's
	// root: the 2014 "shocker" breakout read the host's /etc/shadow so.
	{unix.CAP_DAC_READ_SEARCH, []uintptr{unix.SYS_OPEN_BY_HANDLE_AT, unix.SYS_NAME_TO_HANDLE_AT}},
	{unix.CAP_SYS_CHROOT, []uintptr{unix.SYS_CHROOT}}, // one of Docker's 14
	{unix.CAP_SYS_BOOT, []uintptr{unix.SYS_REBOOT}},
	{unix.CAP_SYS_MODULE, []uintptr{unix.SYS_INIT_MODULE, unix.SYS_FINIT_MODULE, unix.SYS_DELETE_MODULE}},
	{unix.CAP_SYS_PACCT, []uintptr{unix.SYS_ACCT}},
	// Looking into other processes, beyond ptrace's own checks.
	{unix.CAP_SYS_PTRACE, []uintptr{unix.SYS_KCMP, unix.SYS_PIDFD_GETFD, unix.SYS_PROCESS_MADVISE}},
	{unix.CAP_SYS_TIME, []uintptr{unix.SYS_SETTIMEOFDAY, unix.SYS_CLOCK_SETTIME}},
	{unix.CAP_SYS_TTY_CONFIG, []uintptr{unix.SYS_VHANGUP}},
	// NUMA memory placement: host-wide.
	{unix.CAP_SYS_NICE, []uintptr{unix.SYS_GET_MEMPOLICY, unix.SYS_SET_MEMPOLICY,
		unix.SYS_SET_MEMPOLICY_HOME_NODE, unix.SYS_MBIND}},
	{unix.CAP_SYSLOG, []uintptr{unix.SYS_SYSLOG}},
	{unix.CAP_BPF, []uintptr{unix.SYS_BPF}},
	{unix.CAP_PERFMON, []uintptr{unix.SYS_PERF_EVENT_OPEN}},
}

// Left out, so refused with EPERM: keyrings (keyctl, add_key: not
// namespaced), swapon, kexec_load, userfaultfd (the usual way to win a race
// in a kernel exploit), io_uring, move_pages and migrate_pages, and the
// obsolete calls (uselib, ustat, _sysctl...).

// Three calls are allowed only for some arguments, compared as 32 bits: the
// kernel reads only the low half of each (an int; clone takes
// lower_32_bits(flags)), so a check of all 64 bits could be fooled by a
// high half the kernel then ignores.
//
// clone: only without cloneNewFlags, the flags that make new namespaces (on
// amd64 and arm64 the flags are clone's first argument). CLONE_NEWTIME is not
// among them: clone cannot ask for it, its bit is part of the exit signal.
const cloneNewFlags = unix.CLONE_NEWNS | unix.CLONE_NEWUTS | unix.CLONE_NEWIPC |
	unix.CLONE_NEWUSER | unix.CLONE_NEWPID | unix.CLONE_NEWNET | unix.CLONE_NEWCGROUP

// personality: the default Linux persona, PER_LINUX32, UNAME26, both, and
// 0xffffffff, which only asks for the current one. The others turn on
// emulations of other Unixes, little used and little tested: kernel bugs live
// there.
var personalities = []uint32{0, 0x8, 0x20000, 0x20008, 0xffffffff}

// socket: any family but AF_VSOCK, the sockets a virtual machine talks to
// its host through: a container inside a VM must not reach the hypervisor.

// Offsets into seccomp_data, and the return values (seccomp(2), "Filter return values").
const (
	offNr   = 0
	offArch = 4
	offArg0 = 16 // the low 32 bits of args[0]

	retAllow  = unix.SECCOMP_RET_ALLOW
	retEPERM  = unix.SECCOMP_RET_ERRNO | uint32(unix.EPERM)
	retENOSYS = unix.SECCOMP_RET_ERRNO | uint32(unix.ENOSYS)
	retKill   = unix.SECCOMP_RET_KILL_PROCESS
)

// An answer is the end of the filter for one call: a return, or a check of
// its first argument and then a return. Instructions jump by counting
// forward: jt and jf say how many to skip when the test is true or false.
type answer []unix.SockFilter

var (
	allow  = answer{ret(retAllow)}
	eperm  = answer{ret(retEPERM)}
	enosys = answer{ret(retENOSYS)}
	kill   = answer{ret(retKill)}

	// clone: flags that make a namespace? EPERM : allow.
	cloneNoNamespaces = answer{ld(offArg0), jset(cloneNewFlags, 0, 1), ret(retEPERM), ret(retAllow)}
	// socket: AF_VSOCK? EPERM : allow.
	socketNoVsock = answer{ld(offArg0), jeq(unix.AF_VSOCK, 0, 1), ret(retEPERM), ret(retAllow)}
	// personality: one of personalities? allow : EPERM.
	personalityKnown = func() answer {
		a := answer{ld(offArg0)}
		for i, k := range personalities {
			a = append(a, jeq(k, len(personalities)-i, 0))
		}
		return append(a, ret(retEPERM), ret(retAllow))
	}()
)

// highest is the highest call number the lists know, the last call of the
// kernel they were written for: every number above gets ENOSYS.
var highest = func() uintptr {
	h := uintptr(0)
	for _, list := range [][]uintptr{allowed, allowedArch} {
		for _, nr := range list {
			h = max(h, nr)
		}
	}
	for _, groups := range [][]capCalls{capAllowed, capAllowedArch} {
		for _, g := range groups {
			for _, nr := range g.calls {
				h = max(h, nr)
			}
		}
	}
	return h
}()

// answers says what the filter does with each call number from 0 to
// highest, for a container keeping the capabilities keep. Every number not
// listed, a gap or a call left out, gets EPERM.
func answers(keep uint64) []answer {
	a := make([]answer, highest+1)
	for i := range a {
		a[i] = eperm
	}
	for _, list := range [][]uintptr{allowed, allowedArch} {
		for _, nr := range list {
			a[nr] = allow
		}
	}
	a[unix.SYS_CLONE], a[unix.SYS_CLONE3] = cloneNoNamespaces, enosys
	a[unix.SYS_SOCKET], a[unix.SYS_PERSONALITY] = socketNoVsock, personalityKnown
	for _, groups := range [][]capCalls{capAllowed, capAllowedArch} {
		for _, g := range groups {
			if keep&(1<<g.cap) != 0 {
				for _, nr := range g.calls {
					a[nr] = allow
				}
			}
		}
	}
	return a
}

// A span is the call numbers from lo up to the next span's lo, which all get
// the same answer.
type span struct {
	lo     uint32
	answer answer
}

// spans cuts the numbers into runs of the same answer, adds ENOSYS for every
// number above the highest known, and the arch file's own (archSpans).
func spans(keep uint64) []span {
	var s []span
	a := answers(keep)
	for nr := range a {
		if nr == 0 || !same(a[nr], a[nr-1]) {
			s = append(s, span{uint32(nr), a[nr]})
		}
	}
	s = append(s, span{uint32(len(a)), enosys})
	return append(s, archSpans...)
}

// same says whether two answers are one: allow, eperm and enosys are shared.
func same(a, b answer) bool { return &a[0] == &b[0] }

// search appends to p a binary search over the spans, sorted by lo: each
// "jge lo" halves the spans left, so a call finds its answer after six
// comparisons or so rather than after hundreds in a row. A conditional jump
// reaches at most 255 instructions ahead; ja, which always jumps, reaches any.
func search(p []unix.SockFilter, s []span) []unix.SockFilter {
	if len(s) == 1 {
		return append(p, s[0].answer...)
	}
	mid := len(s) / 2
	if n := size(s[:mid]); n <= 255 {
		p = append(p, jge(s[mid].lo, n, 0)) // at or above: skip the lower half
	} else {
		p = append(p, jge(s[mid].lo, 0, 1), ja(n))
	}
	return search(search(p, s[:mid]), s[mid:])
}

// size is the length of search's program for s.
func size(s []span) int {
	if len(s) == 1 {
		return len(s[0].answer)
	}
	mid := len(s) / 2
	n := size(s[:mid])
	if n > 255 {
		n++ // the ja
	}
	return 1 + n + size(s[mid:])
}

// program writes the filter for a container keeping the capabilities keep:
// the check of the ABI, then the search on the call's number.
//
// It costs nothing at run time: since Linux 5.11 the kernel runs a new filter
// once for each call number when it is installed and remembers which calls
// it always allows, whatever their arguments; read and write then skip it.
func program(keep uint64) []unix.SockFilter {
	return search(archCheck(), spans(keep))
}

// defaultFilter is the program for Docker's capabilities, built once per
// process, the first time it is needed, not at start-up: only a container's
// child installs a filter. Building it takes some 10 µs of CPU here
// (BenchmarkProgram); seccomp(2) checking and caching it, ten to twenty
// times that (BenchmarkInstall), yet less than for the longer, linear
// denylist this filter replaced. The kernel copies the program at install, so one slice serves
// every container this process starts.
var defaultFilter = sync.OnceValue(func() []unix.SockFilter {
	keep, _ := CapMask(DefaultCaps())
	return program(keep)
})

// DefaultFilter is a copy of the seccomp program a default container gets:
// Docker's profile for Docker's 14 capabilities, as can installs it. make
// bench hands it to bwrap --seccomp, to time bwrap doing can's hardening.
func DefaultFilter() []unix.SockFilter { return slices.Clone(defaultFilter()) }

// filter is the program for keep: the default one, or one built for other
// capabilities (--cap-add in Docker's terms).
func filter(keep uint64) []unix.SockFilter {
	if dflt, _ := CapMask(DefaultCaps()); keep == dflt {
		return defaultFilter()
	}
	return program(keep)
}

// installFilter adds to p the filter for a container keeping keep.
func installFilter(p *sysprog.Program, keep uint64) error {
	return installProgram(p, filter(keep), 0)
}

// The instructions the filter uses (bpf(4) of the BSDs documents them best):
// load 32 bits of seccomp_data into the accumulator, compare it with a
// constant and skip jt or jf instructions, skip k always, return k.
func ld(off uint32) unix.SockFilter {
	return unix.SockFilter{Code: unix.BPF_LD | unix.BPF_W | unix.BPF_ABS, K: off}
}
func jeq(k uint32, jt, jf int) unix.SockFilter  { return jump(unix.BPF_JEQ, k, jt, jf) }
func jge(k uint32, jt, jf int) unix.SockFilter  { return jump(unix.BPF_JGE, k, jt, jf) }
func jset(k uint32, jt, jf int) unix.SockFilter { return jump(unix.BPF_JSET, k, jt, jf) }
func ja(n int) unix.SockFilter {
	return unix.SockFilter{Code: unix.BPF_JMP | unix.BPF_JA, K: uint32(n)}
}
func ret(k uint32) unix.SockFilter { return unix.SockFilter{Code: unix.BPF_RET | unix.BPF_K, K: k} }

func jump(op uint16, k uint32, jt, jf int) unix.SockFilter {
	if jt < 0 || jt > 255 || jf < 0 || jf > 255 {
		panic(fmt.Sprintf("harden: jump by %d or %d: BPF jumps forward, by at most 255", jt, jf))
	}
	return unix.SockFilter{Code: unix.BPF_JMP | op | unix.BPF_K, K: k, Jt: uint8(jt), Jf: uint8(jf)}
}
