//go:build amd64 || arm64

package harden

import (
	"encoding/binary"
	"fmt"
	"runtime"
	"testing"
	"tincan.dev/pkg/sysprog"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// run executes a filter the way the kernel does, over one seccomp_data, with
// just the instructions the filters use: a load of 32 bits at an offset, an
// AND with a constant, conditional jumps against a constant, ja, and return.
func run(t testing.TB, prog []unix.SockFilter, data []byte) uint32 {
	var a uint32
	for pc := 0; pc < len(prog); pc++ {
		in := prog[pc]
		jump := func(cond bool) {
			if cond {
				pc += int(in.Jt)
			} else {
				pc += int(in.Jf)
			}
		}
		switch in.Code {
		case unix.BPF_LD | unix.BPF_W | unix.BPF_ABS:
			a = binary.LittleEndian.Uint32(data[in.K:])
		case unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K:
			jump(a == in.K)
		case unix.BPF_ALU | unix.BPF_AND | unix.BPF_K:
			a &= in.K
		case unix.BPF_JMP | unix.BPF_JGE | unix.BPF_K:
			jump(a >= in.K)
		case unix.BPF_JMP | unix.BPF_JGT | unix.BPF_K:
			jump(a > in.K)
		case unix.BPF_JMP | unix.BPF_JSET | unix.BPF_K:
			jump(a&in.K != 0)
		case unix.BPF_JMP | unix.BPF_JA:
			pc += int(in.K)
		case unix.BPF_RET | unix.BPF_K:
			return in.K
		default:
			t.Fatalf("instruction %d: unknown code %#x", pc, in.Code)
		}
	}
	t.Fatal("the filter ran off its end: the kernel refuses such a program")
	return 0
}

// seccompData lays out struct seccomp_data for a call on this machine's ABI.
func seccompData(arch uint32, nr uint32, args ...uint64) []byte {
	b := make([]byte, 64)
	binary.LittleEndian.PutUint32(b[0:], nr)
	binary.LittleEndian.PutUint32(b[4:], arch)
	for i, v := range args {
		binary.LittleEndian.PutUint64(b[16+8*i:], v)
	}
	return b
}

var thisArch = map[string]uint32{"amd64": unix.AUDIT_ARCH_X86_64, "arm64": unix.AUDIT_ARCH_AARCH64}[runtime.GOARCH]

func defaultKeep(t testing.TB) uint64 {
	keep, err := CapMask(DefaultCaps())
	require.NoError(t, err)
	return keep
}

// Newer calls than the list: ENOSYS, so the C library falls back to the call
// each replaces. On both arches these have the same numbers.
const (
	sysCachestat = 451
	sysFchmodat2 = 452
	sysStatmount = 457
	sysListmount = 458
	sysMseal     = 462
	sysOpenTree  = 467 // open_tree_attr, Linux 6.15
)

func TestFilterAnswers(t *testing.T) {
	prog := filter(defaultKeep(t))
	for _, tc := range []struct {
		name string
		nr   uintptr
		args []uint64
		want uint32
	}{
		{"read", unix.SYS_READ, nil, retAllow},
		{"write", unix.SYS_WRITE, nil, retAllow},
		{"execve", unix.SYS_EXECVE, nil, retAllow},
		{"capset", unix.SYS_CAPSET, nil, retAllow},
		{"chroot, with CAP_SYS_CHROOT", unix.SYS_CHROOT, nil, retAllow},
		{"ptrace", unix.SYS_PTRACE, nil, retAllow},
		{"clone3", unix.SYS_CLONE3, nil, retENOSYS},
		{"clone a thread", unix.SYS_CLONE, []uint64{unix.CLONE_VM | unix.CLONE_FS | unix.CLONE_FILES | unix.CLONE_SIGHAND | unix.CLONE_THREAD}, retAllow},
		{"clone like fork", unix.SYS_CLONE, []uint64{uint64(unix.SIGCHLD)}, retAllow},
		{"clone a new netns", unix.SYS_CLONE, []uint64{unix.CLONE_NEWNET | uint64(unix.SIGCHLD)}, retEPERM},
		{"clone a new user ns", unix.SYS_CLONE, []uint64{unix.CLONE_NEWUSER}, retEPERM},
		{"personality query", unix.SYS_PERSONALITY, []uint64{0xffffffff}, retAllow},
		{"personality linux32", unix.SYS_PERSONALITY, []uint64{0x8}, retAllow},
		{"personality bsd", unix.SYS_PERSONALITY, []uint64{0x6}, retEPERM},
		{"socket inet", unix.SYS_SOCKET, []uint64{unix.AF_INET}, retAllow},
		{"socket unix", unix.SYS_SOCKET, []uint64{unix.AF_UNIX}, retAllow},
		{"socket vsock", unix.SYS_SOCKET, []uint64{unix.AF_VSOCK}, retEPERM},
		{"socket vsock, high half set", unix.SYS_SOCKET, []uint64{1<<32 | unix.AF_VSOCK}, retEPERM},
		{"unshare", unix.SYS_UNSHARE, nil, retEPERM},
		{"mount", unix.SYS_MOUNT, nil, retEPERM},
		{"keyctl", unix.SYS_KEYCTL, nil, retEPERM},
		{"kexec_load", unix.SYS_KEXEC_LOAD, nil, retEPERM},
		{"userfaultfd", unix.SYS_USERFAULTFD, nil, retEPERM},
		{"open_by_handle_at", unix.SYS_OPEN_BY_HANDLE_AT, nil, retEPERM},
		{"name_to_handle_at", unix.SYS_NAME_TO_HANDLE_AT, nil, retEPERM},
		{"io_uring_setup", unix.SYS_IO_URING_SETUP, nil, retEPERM},
		{"bpf", unix.SYS_BPF, nil, retEPERM},
		{"cachestat", sysCachestat, nil, retENOSYS},
		{"fchmodat2", sysFchmodat2, nil, retENOSYS},
		{"statmount", sysStatmount, nil, retENOSYS},
		{"listmount", sysListmount, nil, retENOSYS},
		{"mseal", sysMseal, nil, retENOSYS},
		{"open_tree_attr", sysOpenTree, nil, retENOSYS},
		{"a number no kernel has", 1000, nil, retENOSYS},
		{"the largest number", 0x3fffffff, nil, retENOSYS},
	} {
		got := run(t, prog, seccompData(thisArch, uint32(tc.nr), tc.args...))
		require.Equal(t, tc.want, got, "%s: got %#x, want %#x", tc.name, got, tc.want)
	}
	// Another ABI's numbers mean other calls: kill, whatever the number.
	for _, foreign := range []uint32{unix.AUDIT_ARCH_I386, unix.AUDIT_ARCH_ARM, 0} {
		require.Equal(t, uint32(retKill), run(t, prog, seccompData(foreign, unix.SYS_READ)), "arch %#x", foreign)
	}
	if thisArch == unix.AUDIT_ARCH_X86_64 { // the x32 ABI: mount as 165|__X32_SYSCALL_BIT
		for _, nr := range []uint32{unix.SYS_MOUNT | 0x40000000, unix.SYS_READ | 0x40000000, 0xffffffff} {
			require.Equal(t, uint32(retKill), run(t, prog, seccompData(thisArch, nr)), "x32 call %#x", nr)
		}
	}
}

// The highest number the lists know is that of set_mempolicy_home_node, the
// newest call in Docker's profile (Linux 5.17): every later call gets ENOSYS.
// Adding a newer call to a list moves this line, and makes the calls in
// between EPERM: say so in the list.
func TestHighestKnown(t *testing.T) {
	require.Len(t, answers(0), unix.SYS_SET_MEMPOLICY_HOME_NODE+1)
}

// want is what the filter must answer, read straight from the lists: the
// search over spans must agree with it for every number.
func want(keep uint64, nr, arg0 uint32) uint32 {
	kept := map[uintptr]bool{}
	for _, g := range append(capAllowed, capAllowedArch...) {
		for _, c := range g.calls {
			kept[c] = kept[c] || keep&(1<<g.cap) != 0
		}
	}
	admin := keep&(1<<unix.CAP_SYS_ADMIN) != 0
	switch {
	case nr >= 0x40000000 && thisArch == unix.AUDIT_ARCH_X86_64:
		return retKill
	case nr > unix.SYS_SET_MEMPOLICY_HOME_NODE:
		return retENOSYS
	case kept[uintptr(nr)]:
		return retAllow
	case nr == unix.SYS_CLONE3:
		return retENOSYS
	case nr == unix.SYS_CLONE && !admin:
		if arg0&cloneNewFlags != 0 {
			return retEPERM
		}
		return retAllow
	case nr == unix.SYS_SOCKET:
		if arg0 == unix.AF_VSOCK {
			return retEPERM
		}
		return retAllow
	case nr == unix.SYS_PERSONALITY:
		for _, p := range personalities {
			if arg0 == p {
				return retAllow
			}
		}
		return retEPERM
	}
	for _, c := range append(allowed, allowedArch...) {
		if uintptr(nr) == c {
			return retAllow
		}
	}
	return retEPERM
}

func TestFilterFollowsLists(t *testing.T) {
	all, err := CapMask([]string{"ALL"})
	require.NoError(t, err)
	for _, keep := range []uint64{defaultKeep(t), 0, all, 1 << unix.CAP_SYS_ADMIN, 1 << unix.CAP_DAC_READ_SEARCH} {
		prog := filter(keep)
		for nr := uint32(0); nr < 600; nr++ {
			for _, arg0 := range []uint32{0, 0x8, unix.AF_VSOCK, unix.CLONE_NEWUSER} {
				got := run(t, prog, seccompData(thisArch, nr, uint64(arg0)))
				require.Equal(t, want(keep, nr, arg0), got, "caps %#x: call %d (%#x)", keep, nr, arg0)
			}
		}
	}
}

// With a capability kept, the calls it is for are allowed, as in Docker:
// with CAP_SYS_ADMIN, mount, unshare, any clone and clone3.
func TestFilterFollowsCapabilities(t *testing.T) {
	admin := filter(defaultKeep(t) | 1<<unix.CAP_SYS_ADMIN)
	for _, nr := range []uintptr{unix.SYS_MOUNT, unix.SYS_UNSHARE, unix.SYS_SETNS, unix.SYS_CLONE3} {
		require.Equal(t, uint32(retAllow), run(t, admin, seccompData(thisArch, uint32(nr))), "call %d", nr)
	}
	require.Equal(t, uint32(retAllow), run(t, admin, seccompData(thisArch, unix.SYS_CLONE, unix.CLONE_NEWUSER)))
	require.Equal(t, uint32(retEPERM), run(t, admin, seccompData(thisArch, unix.SYS_KEYCTL)), "keyctl is no one's")
	dac := filter(1 << unix.CAP_DAC_READ_SEARCH)
	require.Equal(t, uint32(retAllow), run(t, dac, seccompData(thisArch, unix.SYS_OPEN_BY_HANDLE_AT)))
	require.Equal(t, uint32(retEPERM), run(t, dac, seccompData(thisArch, unix.SYS_CHROOT)), "CAP_SYS_CHROOT was not kept")
}

// The kernel takes at most 4096 instructions, jumps only forward and checks
// that every path ends in a return; jump and run enforce the last two. Each
// call is listed once, and the calls checked by argument are in no list.
func TestFilterShape(t *testing.T) {
	prog := filter(defaultKeep(t))
	require.Less(t, len(prog), 4096)
	require.Same(t, &prog[0], &filter(defaultKeep(t))[0], "the filter is built once per process")
	seen := map[uintptr]string{unix.SYS_SOCKET: "checked", unix.SYS_PERSONALITY: "checked"}
	for _, nr := range append(allowed, allowedArch...) {
		require.Empty(t, seen[nr], "call %d is listed twice", nr)
		seen[nr] = "allowed"
	}
	for _, g := range append(capAllowed, capAllowedArch...) {
		for _, nr := range g.calls {
			require.NotEqual(t, "allowed", seen[nr], "call %d is allowed and needs a capability", nr)
			require.NotEqual(t, "checked", seen[nr], "call %d is checked and needs a capability", nr)
		}
	}
}

func TestJumpRefusesBadOffsets(t *testing.T) {
	require.Panics(t, func() { jeq(1, 256, 0) })
	require.Panics(t, func() { jge(1, 0, -1) })
	// A search longer than a conditional jump reaches uses ja.
	var s []span
	for i := uint32(0); i < 600; i++ {
		s = append(s, span{2 * i, allow}, span{2*i + 1, eperm})
	}
	p := search([]unix.SockFilter{ld(offNr)}, s)
	require.Len(t, p, 1+size(s))
	for nr := uint32(0); nr < 1200; nr++ {
		wantRet := uint32(retAllow)
		if nr%2 == 1 {
			wantRet = retEPERM
		}
		require.Equal(t, wantRet, run(t, p, seccompData(thisArch, nr)), "call %d", nr)
	}
}

// What building the filter costs, once per process (a container's child
// builds it once, just before execve). cpu-ns/op is the CPU time this
// process used, which other load on the machine does not inflate as it does
// the wall-clock ns/op.
func BenchmarkProgram(b *testing.B) {
	keep := defaultKeep(b)
	b.ReportAllocs()
	cpu := cpuTime(b)
	for i := 0; i < b.N; i++ {
		program(keep)
	}
	b.ReportMetric(float64(cpuTime(b)-cpu)/float64(b.N), "cpu-ns/op")
}

// cpuTime is the user and system time this process has used, in ns.
func cpuTime(b *testing.B) int64 {
	var ru unix.Rusage
	require.NoError(b, unix.Getrusage(unix.RUSAGE_SELF, &ru))
	return ru.Utime.Nano() + ru.Stime.Nano()
}

// Installing it (seccomp(2): the kernel checks the program and, since Linux
// 5.11, runs it for every call number to cache the calls it always allows).
// Each run takes a fresh thread, since a filter cannot be taken off.
func BenchmarkInstall(b *testing.B) {
	keep := defaultKeep(b)
	filter(keep)
	cpu := cpuTime(b)
	errc := make(chan error)
	for i := 0; i < b.N; i++ {
		go func() {
			runtime.LockOSThread() // never unlocked: the thread ends with the goroutine
			if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
				errc <- err
				return
			}
			errc <- sysprog.RunNow(func(p *sysprog.Program) error { return installFilter(p, keep) })
		}()
		if err := <-errc; err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(cpuTime(b)-cpu)/float64(b.N), "cpu-ns/op")
}

func ExampleCapMask() {
	mask, _ := CapMask(DefaultCaps())
	fmt.Printf("0x%016x\n", mask)
	// Output: 0x00000000a80425fb
}
