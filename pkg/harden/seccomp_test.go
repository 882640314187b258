//go:build amd64 || arm64

package harden

import (
	"encoding/binary"
	"fmt"
	"runtime"
	"testing"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// run executes a filter the way the kernel does, over one seccomp_data, with
// just the instructions the filter uses: a load of 32 bits at an offset,
// three conditional jumps against a constant, and return.
func run(t *testing.T, prog []unix.SockFilter, data []byte) uint32 {
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
		case unix.BPF_JMP | unix.BPF_JGE | unix.BPF_K:
			jump(a >= in.K)
		case unix.BPF_JMP | unix.BPF_JSET | unix.BPF_K:
			jump(a&in.K != 0)
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

func TestFilterAnswers(t *testing.T) {
	arch := map[string]uint32{"amd64": unix.AUDIT_ARCH_X86_64, "arm64": unix.AUDIT_ARCH_AARCH64}[runtime.GOARCH]
	prog := filter()
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
		{"clone3", unix.SYS_CLONE3, nil, retENOSYS},
		{"clone a thread", unix.SYS_CLONE, []uint64{unix.CLONE_VM | unix.CLONE_FS | unix.CLONE_FILES | unix.CLONE_SIGHAND | unix.CLONE_THREAD}, retAllow},
		{"clone like fork", unix.SYS_CLONE, []uint64{uint64(unix.SIGCHLD)}, retAllow},
		{"clone a new netns", unix.SYS_CLONE, []uint64{unix.CLONE_NEWNET | uint64(unix.SIGCHLD)}, retEPERM},
		{"clone a new user ns", unix.SYS_CLONE, []uint64{unix.CLONE_NEWUSER}, retEPERM},
		{"personality query", unix.SYS_PERSONALITY, []uint64{0xffffffff}, retAllow},
		{"personality linux32", unix.SYS_PERSONALITY, []uint64{0x8}, retAllow},
		{"personality bsd", unix.SYS_PERSONALITY, []uint64{0x6}, retEPERM},
		{"unshare", unix.SYS_UNSHARE, nil, retEPERM},
		{"mount", unix.SYS_MOUNT, nil, retEPERM},
		{"keyctl", unix.SYS_KEYCTL, nil, retEPERM},
		{"kexec_load", unix.SYS_KEXEC_LOAD, nil, retEPERM},
		{"open_by_handle_at", unix.SYS_OPEN_BY_HANDLE_AT, nil, retEPERM},
		{"io_uring_setup", unix.SYS_IO_URING_SETUP, nil, retEPERM},
	} {
		got := run(t, prog, seccompData(arch, uint32(tc.nr), tc.args...))
		require.Equal(t, tc.want, got, "%s: got %#x, want %#x", tc.name, got, tc.want)
	}
	for _, nr := range append(denied, deniedArch...) {
		require.Equal(t, uint32(retEPERM), run(t, prog, seccompData(arch, uint32(nr))), "call %d", nr)
	}
	// Another ABI's numbers mean other calls: kill, whatever the number.
	for _, foreign := range []uint32{unix.AUDIT_ARCH_I386, unix.AUDIT_ARCH_ARM, 0} {
		require.Equal(t, uint32(retKill), run(t, prog, seccompData(foreign, unix.SYS_READ)), "arch %#x", foreign)
	}
	if arch == unix.AUDIT_ARCH_X86_64 { // the x32 ABI: mount as 165|__X32_SYSCALL_BIT
		require.Equal(t, uint32(retKill), run(t, prog, seccompData(arch, unix.SYS_MOUNT|0x40000000)))
	}
}

// The kernel takes at most 4096 instructions, jumps only forward and checks
// that every path ends in a return; assemble and run enforce the last two.
func TestFilterShape(t *testing.T) {
	prog := filter()
	require.Less(t, len(prog), 4096)
	require.Equal(t, uint16(unix.BPF_RET|unix.BPF_K), prog[len(prog)-1].Code)
	require.Same(t, &prog[0], &filter()[0], "the filter is built once per process")
	seen := map[uintptr]bool{}
	for _, nr := range append(denied, deniedArch...) {
		require.False(t, seen[nr], "call %d is listed twice", nr)
		seen[nr] = true
	}
}

func TestAssembleRefusesBadJumps(t *testing.T) {
	require.Panics(t, func() { assemble([]insn{jeq(1, "nowhere", "")}) })
	back := []insn{ret("start", retAllow), jeq(1, "start", "")}
	require.Panics(t, func() { assemble(back) })
}

// Building the filter is cheap, and happens once per process anyway.
func BenchmarkProgram(b *testing.B) {
	for i := 0; i < b.N; i++ {
		program()
	}
}

func ExampleCapMask() {
	mask, _ := CapMask(DefaultCaps())
	fmt.Printf("0x%016x\n", mask)
	// Output: 0x00000000a80425fb
}
