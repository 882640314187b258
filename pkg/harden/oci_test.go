//go:build amd64 || arm64

package harden

import (
	"fmt"
	"sort"
	"strconv"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"tincan.dev/pkg/testenv"
)

func errnoRet(e unix.Errno) *uint { u := uint(e); return &u }

// sysNumbers is sysNames as a map, for the tests to index and range over.
var sysNumbers = func() map[string]uint32 {
	m := make(map[string]uint32, len(sysNames))
	for _, s := range sysNames {
		m[s.name] = s.nr
	}
	return m
}()

// The table sysNumber searches must be sorted, and each number found.
func TestSysNumber(t *testing.T) {
	require.True(t, sort.SliceIsSorted(sysNames[:], func(i, j int) bool { return sysNames[i].name < sysNames[j].name }))
	for _, s := range sysNames {
		nr, ok := sysNumber(s.name)
		require.True(t, ok, s.name)
		require.Equal(t, s.nr, nr, s.name)
	}
	_, ok := sysNumber("no_such_call")
	require.False(t, ok)
}

// compile is SeccompProgram, which must succeed.
func compile(t testing.TB, s *specs.LinuxSeccomp) []unix.SockFilter {
	t.Helper()
	prog, err := SeccompProgram(s)
	require.NoError(t, err)
	require.LessOrEqual(t, len(prog), bpfMaxInsns)
	return prog
}

// call runs prog for the named call of this architecture.
func call(t testing.TB, prog []unix.SockFilter, name string, args ...uint64) uint32 {
	t.Helper()
	nr, ok := sysNumbers[name]
	require.True(t, ok, "no call %q here", name)
	return run(t, prog, seccompData(thisArch, nr, args...))
}

// Each action becomes its return value; ERRNO and TRACE carry errnoRet, EPERM
// when not given, and so does the default action.
func TestSeccompActions(t *testing.T) {
	for _, tc := range []struct {
		act   specs.LinuxSeccompAction
		errno *uint
		want  uint32
	}{
		{specs.ActAllow, nil, unix.SECCOMP_RET_ALLOW},
		{specs.ActLog, nil, unix.SECCOMP_RET_LOG},
		{specs.ActErrno, nil, unix.SECCOMP_RET_ERRNO | uint32(unix.EPERM)},
		{specs.ActErrno, errnoRet(unix.ENOTBLK), unix.SECCOMP_RET_ERRNO | uint32(unix.ENOTBLK)},
		{specs.ActErrno, errnoRet(0), unix.SECCOMP_RET_ERRNO},
		{specs.ActTrace, nil, unix.SECCOMP_RET_TRACE | uint32(unix.EPERM)},
		{specs.ActTrace, errnoRet(0xffff), unix.SECCOMP_RET_TRACE | 0xffff},
		{specs.ActTrap, nil, unix.SECCOMP_RET_TRAP},
		{specs.ActKill, nil, unix.SECCOMP_RET_KILL_THREAD},
		{specs.ActKillThread, nil, unix.SECCOMP_RET_KILL_THREAD},
		{specs.ActKillProcess, nil, unix.SECCOMP_RET_KILL_PROCESS},
	} {
		name := fmt.Sprintf("%s errnoRet %v", tc.act, tc.errno)
		if tc.errno != nil {
			name = fmt.Sprintf("%s errnoRet %d", tc.act, *tc.errno)
		}
		// As a rule's action, under a default that differs from all of them.
		dflt := specs.ActErrno
		dfltErrno := errnoRet(unix.EXDEV)
		prog := compile(t, &specs.LinuxSeccomp{DefaultAction: dflt, DefaultErrnoRet: dfltErrno, Syscalls: []specs.LinuxSyscall{
			{Names: []string{"getppid"}, Action: tc.act, ErrnoRet: tc.errno},
		}})
		require.Equal(t, tc.want, call(t, prog, "getppid"), name)
		// getpid's number is below getppid's on both: not newer than the profile
		require.Equal(t, unix.SECCOMP_RET_ERRNO|uint32(unix.EXDEV), call(t, prog, "getpid"), "%s: the default", name)
		// As the default action.
		prog = compile(t, &specs.LinuxSeccomp{DefaultAction: tc.act, DefaultErrnoRet: tc.errno, Syscalls: []specs.LinuxSyscall{
			{Names: []string{"getppid"}, Action: specs.ActAllow},
		}})
		require.Equal(t, tc.want, call(t, prog, "getpid"), "%s as the default", name)
	}
}

// ref is what a condition means, in Go: the 64-bit argument, unsigned.
func ref(c specs.LinuxSeccompArg, arg uint64) bool {
	switch c.Op {
	case specs.OpEqualTo:
		return arg == c.Value
	case specs.OpNotEqual:
		return arg != c.Value
	case specs.OpLessThan:
		return arg < c.Value
	case specs.OpLessEqual:
		return arg <= c.Value
	case specs.OpGreaterThan:
		return arg > c.Value
	case specs.OpGreaterEqual:
		return arg >= c.Value
	case specs.OpMaskedEqual:
		return arg&c.Value == c.ValueTwo
	}
	panic(c.Op)
}

var ops = []specs.LinuxSeccompOperator{
	specs.OpEqualTo, specs.OpNotEqual, specs.OpLessThan, specs.OpLessEqual,
	specs.OpGreaterThan, specs.OpGreaterEqual, specs.OpMaskedEqual,
}

// Every operator, on every argument, against values whose halves differ in
// every way: equal high halves and different low ones, the other way round,
// and the high half deciding against the low one (1<<32 > 0xffffffff).
func TestSeccompOperators(t *testing.T) {
	values := []uint64{
		0, 1, 5, 0xffffffff, 1 << 32, 1<<32 | 5, 1<<32 | 4, 1<<32 | 6, 2 << 32,
		0xffffffff_00000000, 0xffffffff_ffffffff, 0x80000000, 0x7fffffff_ffffffff,
	}
	for _, op := range ops {
		for _, v := range values {
			for _, v2 := range []uint64{0, 5, 1 << 32, v} {
				if op != specs.OpMaskedEqual && v2 != 0 {
					continue
				}
				for index := uint(0); index < 6; index += 5 {
					c := specs.LinuxSeccompArg{Index: index, Value: v, ValueTwo: v2, Op: op}
					prog := compile(t, &specs.LinuxSeccomp{DefaultAction: specs.ActAllow, Syscalls: []specs.LinuxSyscall{
						{Names: []string{"getpid"}, Action: specs.ActErrno, Args: []specs.LinuxSeccompArg{c}},
					}})
					for _, arg := range values {
						args := make([]uint64, 6)
						args[index] = arg
						args[5-index] = ^arg // the other arguments do not matter
						want := uint32(unix.SECCOMP_RET_ALLOW)
						if ref(c, arg) {
							want = unix.SECCOMP_RET_ERRNO | uint32(unix.EPERM)
						}
						require.Equal(t, want, call(t, prog, "getpid", args...), "arg%d=%#x %s %#x (%#x)", index, arg, op, v, v2)
					}
				}
			}
		}
	}
}

// The conditions of one rule are ANDed, the rules of one call ORed, the
// first to match decides; two conditions on one argument are ORed, as runc
// makes them.
func TestSeccompRules(t *testing.T) {
	eq := func(i uint, v uint64) specs.LinuxSeccompArg {
		return specs.LinuxSeccompArg{Index: i, Value: v, Op: specs.OpEqualTo}
	}
	prog := compile(t, &specs.LinuxSeccomp{DefaultAction: specs.ActErrno, Syscalls: []specs.LinuxSyscall{
		// socket: AF_INET and SOCK_STREAM, or AF_UNIX.
		{Names: []string{"socket"}, Action: specs.ActAllow, Args: []specs.LinuxSeccompArg{eq(0, unix.AF_INET), eq(1, unix.SOCK_STREAM)}},
		{Names: []string{"socket"}, Action: specs.ActAllow, Args: []specs.LinuxSeccompArg{eq(0, unix.AF_UNIX)}},
		// kill: signal 9 refused first, then any pid below 100 allowed.
		{Names: []string{"kill"}, Action: specs.ActErrno, ErrnoRet: errnoRet(unix.EACCES), Args: []specs.LinuxSeccompArg{eq(1, 9)}},
		{Names: []string{"kill"}, Action: specs.ActAllow, Args: []specs.LinuxSeccompArg{{Index: 0, Value: 100, Op: specs.OpLessThan}}},
		{Names: []string{"kill"}, Action: specs.ActKillProcess},
		{Names: []string{"kill"}, Action: specs.ActAllow}, // never reached
		// personality: two tests of arg0 in one rule: 0 or 8.
		{Names: []string{"personality"}, Action: specs.ActAllow, Args: []specs.LinuxSeccompArg{eq(0, 0), eq(0, 8)}},
		// unknown names are skipped, the others kept
		{Names: []string{"no_such_call", "getpid", "fstatat64"}, Action: specs.ActAllow},
		// a rule with the default action is skipped (runc): the next decides
		{Names: []string{"getppid"}, Action: specs.ActErrno},
		{Names: []string{"getppid"}, Action: specs.ActAllow},
	}})
	allow, eperm := uint32(unix.SECCOMP_RET_ALLOW), unix.SECCOMP_RET_ERRNO|uint32(unix.EPERM)
	for _, tc := range []struct {
		name string
		args []uint64
		want uint32
	}{
		{"socket", []uint64{unix.AF_INET, unix.SOCK_STREAM}, allow},
		{"socket", []uint64{unix.AF_INET, unix.SOCK_DGRAM}, eperm},
		{"socket", []uint64{unix.AF_INET6, unix.SOCK_STREAM}, eperm},
		{"socket", []uint64{unix.AF_UNIX, unix.SOCK_DGRAM}, allow},
		{"socket", []uint64{1<<32 | unix.AF_UNIX}, eperm},
		{"kill", []uint64{1, 9}, unix.SECCOMP_RET_ERRNO | uint32(unix.EACCES)},
		{"kill", []uint64{1000, 9}, unix.SECCOMP_RET_ERRNO | uint32(unix.EACCES)},
		{"kill", []uint64{1, 15}, allow},
		{"kill", []uint64{1000, 15}, unix.SECCOMP_RET_KILL_PROCESS},
		{"personality", []uint64{0}, allow},
		{"personality", []uint64{8}, allow},
		{"personality", []uint64{6}, eperm},
		{"getpid", nil, allow},
		{"getppid", nil, allow},
		{"getuid", nil, eperm},
	} {
		require.Equal(t, tc.want, call(t, prog, tc.name, tc.args...), "%s%v", tc.name, tc.args)
	}
}

// Only the native ABI's calls are looked up; every other ABI is killed,
// listed or not, and on x86-64 so are x32's numbers.
func TestSeccompArchitectures(t *testing.T) {
	prog := compile(t, &specs.LinuxSeccomp{
		DefaultAction: specs.ActAllow,
		Architectures: []specs.Arch{specs.ArchX86_64, specs.ArchX86, specs.ArchX32, specs.ArchAARCH64, specs.ArchARM},
		Syscalls:      []specs.LinuxSyscall{{Names: []string{"mount"}, Action: specs.ActErrno}},
	})
	mount := sysNumbers["mount"]
	require.Equal(t, unix.SECCOMP_RET_ERRNO|uint32(unix.EPERM), run(t, prog, seccompData(thisArch, mount)))
	require.Equal(t, uint32(unix.SECCOMP_RET_ALLOW), run(t, prog, seccompData(thisArch, mount+1)))
	for _, foreign := range []uint32{unix.AUDIT_ARCH_I386, unix.AUDIT_ARCH_ARM, unix.AUDIT_ARCH_X86_64 ^ unix.AUDIT_ARCH_AARCH64 ^ thisArch, 0} {
		require.Equal(t, uint32(unix.SECCOMP_RET_KILL_PROCESS), run(t, prog, seccompData(foreign, mount)), "arch %#x", foreign)
	}
	if thisArch == unix.AUDIT_ARCH_X86_64 {
		for _, nr := range []uint32{mount | 0x40000000, sysNumbers["read"] | 0x40000000, 0xffffffff} {
			require.Equal(t, uint32(unix.SECCOMP_RET_KILL_PROCESS), run(t, prog, seccompData(thisArch, nr)), "x32 call %#x", nr)
		}
	}
	_, err := SeccompProgram(&specs.LinuxSeccomp{DefaultAction: specs.ActAllow, Architectures: []specs.Arch{"SCMP_ARCH_X86-64"}})
	require.ErrorContains(t, err, `unknown architecture "SCMP_ARCH_X86-64"`)
}

// Calls newer than the profile get ENOSYS when the default refuses, so the C
// library falls back to an older call; when the default lets calls run, so
// do they.
func TestSeccompNewerCalls(t *testing.T) {
	rules := []specs.LinuxSyscall{{Names: []string{"openat"}, Action: specs.ActAllow}, {Names: []string{"read"}, Action: specs.ActTrap}}
	openat := sysNumbers["openat"]
	for _, tc := range []struct {
		dflt         specs.LinuxSeccompAction
		below, above uint32
	}{
		{specs.ActErrno, unix.SECCOMP_RET_ERRNO | uint32(unix.EPERM), unix.SECCOMP_RET_ERRNO | uint32(unix.ENOSYS)},
		{specs.ActKillProcess, unix.SECCOMP_RET_KILL_PROCESS, unix.SECCOMP_RET_ERRNO | uint32(unix.ENOSYS)},
		{specs.ActLog, unix.SECCOMP_RET_LOG, unix.SECCOMP_RET_LOG},
		{specs.ActTrace, unix.SECCOMP_RET_TRACE | uint32(unix.EPERM), unix.SECCOMP_RET_TRACE | uint32(unix.EPERM)},
	} {
		prog := compile(t, &specs.LinuxSeccomp{DefaultAction: tc.dflt, Syscalls: rules})
		highest := max(openat, sysNumbers["read"])
		require.Equal(t, tc.below, run(t, prog, seccompData(thisArch, highest-1)), "%s below", tc.dflt)
		require.Equal(t, tc.above, run(t, prog, seccompData(thisArch, highest+1)), "%s above", tc.dflt)
		require.Equal(t, tc.above, run(t, prog, seccompData(thisArch, 0x3fffffff)), "%s far above", tc.dflt)
	}
	// No known name at all: nothing is newer than nothing.
	prog := compile(t, &specs.LinuxSeccomp{DefaultAction: specs.ActErrno, Syscalls: []specs.LinuxSyscall{{Names: []string{"no_such_call"}, Action: specs.ActAllow}}})
	require.Equal(t, unix.SECCOMP_RET_ERRNO|uint32(unix.EPERM), run(t, prog, seccompData(thisArch, 1000)))
}

// wantOCI is what profile s answers for one call, read straight from it: the
// first rule naming the call (not with the default action) whose conditions
// hold, ANDed, or ORed when they test one argument twice.
func wantOCI(t testing.TB, s *specs.LinuxSeccomp, nr uint32, args []uint64) uint32 {
	dflt, err := seccompAction(s.DefaultAction, s.DefaultErrnoRet)
	require.NoError(t, err)
	highest := -1
	for _, sc := range s.Syscalls {
		act, err := seccompAction(sc.Action, sc.ErrnoRet)
		require.NoError(t, err)
		for _, name := range sc.Names {
			n, ok := sysNumbers[name]
			if !ok {
				continue
			}
			highest = max(highest, int(n))
			if n != nr || act == dflt {
				continue
			}
			seen, repeated := map[uint]bool{}, false
			for _, a := range sc.Args {
				repeated = repeated || seen[a.Index]
				seen[a.Index] = true
			}
			all, any := true, false
			for _, a := range sc.Args {
				ok := ref(a, args[a.Index])
				all, any = all && ok, any || ok
			}
			if len(sc.Args) == 0 || !repeated && all || repeated && any {
				return act
			}
		}
	}
	if int(nr) > highest && highest >= 0 && !letsRun(dflt) {
		return retENOSYS
	}
	return dflt
}

// dockerSized is a profile of Docker's size: every call this architecture
// has, some 350, most allowed, some refused with errnos of their own, and
// conditions on a few, like Docker's clone, personality and socket.
func dockerSized() *specs.LinuxSeccomp {
	var names []string
	for name := range sysNumbers {
		names = append(names, name)
	}
	sort.Strings(names)
	s := &specs.LinuxSeccomp{DefaultAction: specs.ActErrno, DefaultErrnoRet: errnoRet(unix.EPERM)}
	for i, name := range names {
		switch {
		case i%7 == 3:
			s.Syscalls = append(s.Syscalls, specs.LinuxSyscall{Names: []string{name}, Action: specs.ActErrno, ErrnoRet: errnoRet(unix.Errno(i % 100))})
		case i%13 == 5:
			s.Syscalls = append(s.Syscalls, specs.LinuxSyscall{Names: []string{name}, Action: specs.ActAllow, Args: []specs.LinuxSeccompArg{
				{Index: uint(i % 6), Value: uint64(i) << 30, Op: ops[i%len(ops)], ValueTwo: uint64(i) << 31},
				{Index: uint(i+1) % 6, Value: 0x7e000000, Op: specs.OpMaskedEqual},
			}})
			s.Syscalls = append(s.Syscalls, specs.LinuxSyscall{Names: []string{name}, Action: specs.ActKillThread, Args: []specs.LinuxSeccompArg{
				{Index: 0, Value: uint64(i), Op: specs.OpGreaterThan}, {Index: 0, Value: 1 << 40, Op: specs.OpGreaterEqual},
			}})
		default:
			s.Syscalls = append(s.Syscalls, specs.LinuxSyscall{Names: []string{name}, Action: specs.ActAllow})
		}
	}
	return s
}

// A profile of Docker's size fits the kernel's 4096 instructions, with
// searches and blocks longer than a conditional jump reaches, and answers as
// the profile reads for every number.
func TestSeccompBigProfile(t *testing.T) {
	s := dockerSized()
	require.Greater(t, len(s.Syscalls), 300)
	prog := compile(t, s)
	t.Logf("%d rules: %d instructions", len(s.Syscalls), len(prog))
	argSets := [][]uint64{
		{0, 0, 0, 0, 0, 0},
		{1 << 40, 0x7e000000, 0x7e000000, 0x7e000000, 0x7e000000, 0x7e000000},
		{0x7e000000, 5 << 30, 7 << 30, 1 << 62, 0xffffffff, 1 << 31},
		{500, 0xfe000000, 0, 0x17e000000, 3, 0x7f000000},
	}
	for nr := uint32(0); nr < 600; nr++ {
		for _, args := range argSets {
			require.Equal(t, wantOCI(t, s, nr, args), run(t, prog, seccompData(thisArch, nr, args...)), "call %d %#x", nr, args)
		}
	}

	// One call with rules enough to make its block longer than a conditional
	// jump reaches: the search jumps over it with ja.
	var many []specs.LinuxSyscall
	for i := uint64(0); i < 100; i++ {
		many = append(many, specs.LinuxSyscall{Names: []string{"ioctl"}, Action: specs.ActErrno, ErrnoRet: errnoRet(unix.Errno(i + 1)), Args: []specs.LinuxSeccompArg{
			{Index: 1, Value: i << 33, Op: specs.OpEqualTo}, {Index: 2, Value: i, Op: specs.OpLessEqual},
		}})
	}
	s = &specs.LinuxSeccomp{DefaultAction: specs.ActAllow, Syscalls: many}
	prog = compile(t, s)
	for i := uint64(0); i < 102; i++ {
		for _, args := range [][]uint64{{0, i << 33, i}, {0, i << 33, i + 1}, {0, i << 33, 0}, {0, i, 0}} {
			require.Equal(t, wantOCI(t, s, sysNumbers["ioctl"], append(args, 0, 0, 0)), call(t, prog, "ioctl", args...), "ioctl %#x", args)
		}
	}

	// Too big for the kernel: an error, not a program it refuses.
	for i := range many {
		many[i].Names = []string{"ioctl", "read", "write", "openat", "close", "mmap", "fcntl", "lseek"}
	}
	_, err := SeccompProgram(&specs.LinuxSeccomp{DefaultAction: specs.ActAllow, Syscalls: many})
	require.ErrorContains(t, err, "more than the kernel's 4096")
}

func TestSeccompRefusals(t *testing.T) {
	for _, tc := range []struct {
		s    specs.LinuxSeccomp
		want string
	}{
		{specs.LinuxSeccomp{DefaultAction: specs.ActNotify}, "SCMP_ACT_NOTIFY hands calls to a seccomp agent"},
		{specs.LinuxSeccomp{DefaultAction: specs.ActAllow, Syscalls: []specs.LinuxSyscall{{Names: []string{"getpid"}, Action: specs.ActNotify}}}, "syscalls[0] [getpid]: SCMP_ACT_NOTIFY"},
		{specs.LinuxSeccomp{DefaultAction: specs.ActAllow, ListenerPath: "/run/agent.sock"}, `listenerPath "/run/agent.sock"`},
		{specs.LinuxSeccomp{DefaultAction: "SCMP_ACT_ALOW"}, `defaultAction: unknown action "SCMP_ACT_ALOW"`},
		{specs.LinuxSeccomp{DefaultAction: specs.ActAllow, DefaultErrnoRet: errnoRet(1)}, "errnoRet 1 goes with SCMP_ACT_ERRNO or SCMP_ACT_TRACE only"},
		{specs.LinuxSeccomp{DefaultAction: specs.ActErrno, DefaultErrnoRet: errnoRet(4096)}, "errnoRet 4096 is out of range"},
		{specs.LinuxSeccomp{DefaultAction: specs.ActAllow, Syscalls: []specs.LinuxSyscall{{Names: []string{"getpid"}, Action: specs.ActErrno,
			Args: []specs.LinuxSeccompArg{{Index: 6, Op: specs.OpEqualTo}}}}}, "argument index 6"},
		{specs.LinuxSeccomp{DefaultAction: specs.ActAllow, Syscalls: []specs.LinuxSyscall{{Names: []string{"getpid"}, Action: specs.ActErrno,
			Args: []specs.LinuxSeccompArg{{Op: "SCMP_CMP_MASKED"}}}}}, `unknown operator "SCMP_CMP_MASKED"`},
	} {
		_, err := SeccompProgram(&tc.s)
		require.ErrorContains(t, err, tc.want)
	}
	_, err := SeccompProgram(nil)
	require.Error(t, err)
}

func TestSeccompFlags(t *testing.T) {
	f, err := SeccompFlags(&specs.LinuxSeccomp{Flags: []specs.LinuxSeccompFlag{
		specs.LinuxSeccompFlagLog, specs.LinuxSeccompFlagSpecAllow, "SECCOMP_FILTER_FLAG_TSYNC", specs.LinuxSeccompFlagWaitKillableRecv,
	}})
	require.NoError(t, err)
	require.Equal(t, uint(unix.SECCOMP_FILTER_FLAG_LOG|unix.SECCOMP_FILTER_FLAG_SPEC_ALLOW|unix.SECCOMP_FILTER_FLAG_TSYNC), f)
	f, err = SeccompFlags(&specs.LinuxSeccomp{})
	require.NoError(t, err)
	require.Zero(t, f)
	_, err = SeccompFlags(&specs.LinuxSeccomp{Flags: []specs.LinuxSeccompFlag{"SECCOMP_FILTER_FLAG_NEW_LISTENER"}})
	require.ErrorContains(t, err, `unknown flag "SECCOMP_FILTER_FLAG_NEW_LISTENER"`)
}

// The generated table has this architecture's calls under the names a
// profile uses.
func TestSysNumbers(t *testing.T) {
	require.Equal(t, uint32(unix.SYS_OPENAT), sysNumbers["openat"])
	require.Equal(t, uint32(unix.SYS_CLONE3), sysNumbers["clone3"])
	require.Equal(t, uint32(unix.SYS_NEWFSTATAT), sysNumbers["newfstatat"])
	require.Equal(t, uint32(unix.SYS_IO_URING_SETUP), sysNumbers["io_uring_setup"])
	require.Greater(t, len(sysNumbers), 300)
}

// An OCI profile, compiled by SeccompProgram and installed through
// Config.Filter: keyctl gets the errno the profile asks for, personality is
// allowed for one value of its argument and refused for another, a call the
// profile leaves out gets the default errno, one newer than the profile
// ENOSYS. Every other call is allowed, for the Go runtime's sake. Without
// the filter each of these calls answers otherwise (TestSeccompRefuses
// shows keyctl, personality(PER_BSD) ok; getcpu and personality(0) are
// harmless and always work).
func TestOCIProfile(t *testing.T) {
	testenv.NeedRoot(t)
	probe := testenv.Probe(t)
	var all []string
	for name := range sysNumbers {
		if name != "keyctl" && name != "personality" && name != "getcpu" {
			all = append(all, name)
		}
	}
	profile := &specs.LinuxSeccomp{
		DefaultAction:   specs.ActErrno,
		DefaultErrnoRet: errnoRet(unix.EXDEV),
		Architectures:   []specs.Arch{specs.ArchX86_64, specs.ArchX86, specs.ArchX32},
		Flags:           []specs.LinuxSeccompFlag{specs.LinuxSeccompFlagSpecAllow, "SECCOMP_FILTER_FLAG_TSYNC"},
		Syscalls: []specs.LinuxSyscall{
			{Names: all, Action: specs.ActAllow},
			{Names: []string{"keyctl"}, Action: specs.ActErrno, ErrnoRet: errnoRet(unix.ENOTBLK)},
			{Names: []string{"personality"}, Action: specs.ActAllow, Args: []specs.LinuxSeccompArg{{Index: 0, Value: 0, Op: specs.OpEqualTo}}},
		},
	}
	prog, err := SeccompProgram(profile)
	require.NoError(t, err)
	flags, err := SeccompFlags(profile)
	require.NoError(t, err)
	nr := func(name string) string { return strconv.Itoa(int(sysNumbers[name])) }
	for _, c := range []Config{
		{NoNewPrivs: true, Filter: prog, FilterFlags: flags},
		{Filter: prog, FilterFlags: flags}, // installed before capset drops CAP_SYS_ADMIN
		{Privileged: true, NoNewPrivs: true, Filter: prog},
	} {
		for call, want := range map[string]string{
			"keyctl":            "ENOTBLK",
			"personality":       "EXDEV", // personality(PER_BSD)
			nr("personality"):   "ok",    // personality(0)
			nr("getcpu"):        "EXDEV",
			"1000":              "ENOSYS",
			"name_to_handle_at": "ok",
		} {
			require.Equal(t, want+"\n", hardened(t, &c, probe, "syscall", call), "%s, privileged %v", call, c.Privileged)
		}
		require.Equal(t, "2", caps(t, &c)["Seccomp"])
	}
}
