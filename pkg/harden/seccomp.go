//go:build amd64 || arm64

package harden

import (
	"fmt"
	"sync"
	"unsafe"

	"golang.org/x/sys/unix"

	"tincan.dev/pkg/trace"
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
// Docker's default profile (moby/profiles seccomp/default.json) is an
// allowlist of over 300 calls: anything else fails with EPERM. This filter
// is written the other way round, as the list of calls that allowlist leaves
// out for a container with Docker's default capabilities (Docker's documented
// table, docs.docker.com/engine/security/seccomp, plus the newer mount API and
// io_uring): every other call is allowed. Why: the list fits on a screen and
// says why each call is refused, and it needs no per-kernel table of the
// hundreds of harmless calls. The price, honestly: a system call added to a
// later kernel is allowed here until someone lists it, where Docker's filter
// refuses it. Also unlike Docker's, the filter does not follow extra
// capabilities (with CAP_SYS_ADMIN, Docker allows mount): turn it off instead.
// And 32-bit x86 programs are killed (see archCheck) where Docker allows them
// through a second table.
//
// Every refused call fails with EPERM, as in Docker, except clone3: its flags
// sit in a struct in memory, which a filter cannot read, so a filter cannot
// tell a new thread from a new namespace. Docker answers ENOSYS, "this kernel
// has no clone3", and the C library falls back to clone(2), whose flags are a
// register the filter can check. Answering EPERM instead breaks every
// threaded program linked with glibc 2.34 or newer: it believes the kernel
// and gives up.

// denied are the calls refused outright, grouped by Docker's reasons; the
// arch file adds the calls only its architecture has (deniedArch).
var denied = []uintptr{
	// Namespaces and mounts: the container must not rebuild its own walls.
	unix.SYS_UNSHARE, unix.SYS_SETNS, unix.SYS_MOUNT, unix.SYS_UMOUNT2, unix.SYS_PIVOT_ROOT,
	unix.SYS_FSOPEN, unix.SYS_FSCONFIG, unix.SYS_FSMOUNT, unix.SYS_FSPICK,
	unix.SYS_MOVE_MOUNT, unix.SYS_OPEN_TREE, unix.SYS_MOUNT_SETATTR,
	// The container's name is the runtime's to set, before the filter.
	unix.SYS_SETHOSTNAME, unix.SYS_SETDOMAINNAME,
	// Host-wide state that namespaces do not cover: keyrings, the clock,
	// swap, quotas, process accounting.
	unix.SYS_ADD_KEY, unix.SYS_KEYCTL, unix.SYS_REQUEST_KEY,
	unix.SYS_SETTIMEOFDAY, unix.SYS_CLOCK_SETTIME,
	unix.SYS_SWAPON, unix.SYS_SWAPOFF, unix.SYS_QUOTACTL, unix.SYS_QUOTACTL_FD,
	unix.SYS_ACCT, unix.SYS_NFSSERVCTL, unix.SYS_VHANGUP,
	// The kernel itself: modules, booting another kernel, rebooting.
	unix.SYS_INIT_MODULE, unix.SYS_FINIT_MODULE, unix.SYS_DELETE_MODULE,
	unix.SYS_KEXEC_LOAD, unix.SYS_KEXEC_FILE_LOAD, unix.SYS_REBOOT,
	// Looking into the kernel and other processes: leaks about the host.
	unix.SYS_BPF, unix.SYS_PERF_EVENT_OPEN, unix.SYS_LOOKUP_DCOOKIE, unix.SYS_SYSLOG,
	unix.SYS_FANOTIFY_INIT, unix.SYS_KCMP, unix.SYS_PIDFD_GETFD, unix.SYS_PROCESS_MADVISE,
	unix.SYS_LSM_GET_SELF_ATTR, unix.SYS_LSM_SET_SELF_ATTR, unix.SYS_LSM_LIST_MODULES,
	// open_by_handle_at opens any file of a file system by its handle,
	// around the container's root: the 2014 "shocker" breakout.
	unix.SYS_OPEN_BY_HANDLE_AT,
	// NUMA memory policy and page moving: host-wide memory placement.
	unix.SYS_GET_MEMPOLICY, unix.SYS_SET_MEMPOLICY, unix.SYS_SET_MEMPOLICY_HOME_NODE,
	unix.SYS_MBIND, unix.SYS_MOVE_PAGES, unix.SYS_MIGRATE_PAGES,
	// userfaultfd lets a process stall the kernel on a page fault it
	// controls, the usual way to win a kernel race in an exploit.
	unix.SYS_USERFAULTFD,
	// io_uring runs its operations without passing through seccomp at all.
	unix.SYS_IO_URING_SETUP, unix.SYS_IO_URING_ENTER, unix.SYS_IO_URING_REGISTER,
}

// cloneNewFlags are clone(2)'s flags that make new namespaces: clone is
// refused when any of them is set (the flags are clone's first argument on
// amd64 and arm64; only 32 bits of it are flags). CLONE_NEWTIME is not among
// them: clone cannot ask for it, its bit is part of the exit signal.
const cloneNewFlags = unix.CLONE_NEWNS | unix.CLONE_NEWUTS | unix.CLONE_NEWIPC |
	unix.CLONE_NEWUSER | unix.CLONE_NEWPID | unix.CLONE_NEWNET | unix.CLONE_NEWCGROUP

// personalities are the only arguments personality(2) may take, as in Docker:
// the default Linux persona, PER_LINUX32, UNAME26, both, and 0xffffffff, which
// only asks for the current one. The others turn on emulations of other
// Unixes, little used and little tested: kernel bugs live there.
var personalities = []uint32{0, 0x8, 0x20000, 0x20008, 0xffffffff}

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

// program writes the filter. Jumps name the instruction they go to; assemble
// turns the names into the forward offsets BPF wants.
//
// An allowed call walks past every listed number, some 60 comparisons. It
// costs nothing at run time: since Linux 5.11 the kernel runs a new filter
// once for each call number when it is installed and remembers which calls
// it always allows, whatever their arguments; read and write then skip it.
// Checking, translating and caching the filter, seccomp(2) takes about
// 0.1 ms here: one more reason to build it once and keep it small.
func program() []unix.SockFilter {
	p := archCheck()
	p = append(p,
		jeq(unix.SYS_CLONE3, "enosys", ""),
		jeq(unix.SYS_CLONE, "clone", ""),
		jeq(unix.SYS_PERSONALITY, "personality", ""),
	)
	for _, nr := range append(denied, deniedArch...) {
		p = append(p, jeq(uint32(nr), "eperm", ""))
	}
	p = append(p,
		ret("", retAllow), // every call not listed
		label("clone", ld(offArg0)),
		jset(cloneNewFlags, "eperm", "allow"),
		label("personality", ld(offArg0)),
	)
	for _, k := range personalities {
		p = append(p, jeq(k, "allow", ""))
	}
	return assemble(append(p,
		ret("eperm", retEPERM), // also: no personality matched
		ret("allow", retAllow),
		ret("enosys", retENOSYS),
		ret("kill", retKill),
	))
}

// filter is the program, built once per process: the kernel copies it at
// install, so one slice serves every container this process starts.
var filter = sync.OnceValue(program)

// installFilter is seccomp(SECCOMP_SET_MODE_FILTER, 0, &prog). Flags 0: the
// filter applies to this thread only, which is the thread that will execve.
func installFilter() error {
	f := filter()
	prog := unix.SockFprog{Len: uint16(len(f)), Filter: &f[0]}
	call := fmt.Sprintf("seccomp(SECCOMP_SET_MODE_FILTER, 0, {len=%d})", len(f))
	trace.Call("%s", call)
	_, _, errno := unix.Syscall(unix.SYS_SECCOMP, unix.SECCOMP_SET_MODE_FILTER, 0, uintptr(unsafe.Pointer(&prog)))
	switch errno {
	case 0:
		return nil
	case unix.EACCES:
		return wrap(call, errno, "needs no_new_privs or CAP_SYS_ADMIN")
	case unix.EINVAL:
		return wrap(call, errno, "is the kernel built with CONFIG_SECCOMP_FILTER?")
	}
	return wrap(call, errno, "see seccomp(2)")
}

// insn is one BPF instruction whose jump targets are names; "" is the next
// instruction.
type insn struct {
	name   string
	code   uint16
	k      uint32
	jt, jf string
}

func ld(off uint32) insn { return insn{code: unix.BPF_LD | unix.BPF_W | unix.BPF_ABS, k: off} }
func jeq(k uint32, jt, jf string) insn {
	return insn{code: unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K, k: k, jt: jt, jf: jf}
}
func jge(k uint32, jt, jf string) insn {
	return insn{code: unix.BPF_JMP | unix.BPF_JGE | unix.BPF_K, k: k, jt: jt, jf: jf}
}
func jset(k uint32, jt, jf string) insn {
	return insn{code: unix.BPF_JMP | unix.BPF_JSET | unix.BPF_K, k: k, jt: jt, jf: jf}
}
func ret(name string, k uint32) insn {
	return insn{name: name, code: unix.BPF_RET | unix.BPF_K, k: k}
}
func label(name string, i insn) insn { i.name = name; return i }

// assemble resolves the names. BPF only jumps forward, by at most 255.
func assemble(p []insn) []unix.SockFilter {
	at := map[string]int{}
	for i, in := range p {
		if in.name != "" {
			at[in.name] = i
		}
	}
	off := func(from int, to string) uint8 {
		if to == "" {
			return 0
		}
		d, ok := at[to]
		d -= from + 1
		if !ok || d < 0 || d > 255 {
			panic("harden: bad jump to " + to)
		}
		return uint8(d)
	}
	out := make([]unix.SockFilter, len(p))
	for i, in := range p {
		out[i] = unix.SockFilter{Code: in.code, K: in.k, Jt: off(i, in.jt), Jf: off(i, in.jf)}
	}
	return out
}
