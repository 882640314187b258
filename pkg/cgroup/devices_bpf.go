package cgroup

import (
	"errors"
	"fmt"
	"runtime"
	"unsafe"

	"golang.org/x/sys/unix"

	"tincan.dev/pkg/trace"
)

// Cgroup v2 has no devices controller. Instead, since Linux 4.15, a small
// program in the kernel's eBPF instruction set, attached to a cgroup2
// directory, is run on every open(2) and mknod(2) of a device node by a process
// in that cgroup (or below it) and answers 1 (allow) or 0 (EPERM). The kernel
// runs it before, and besides, the v1 devices controller, so it works on a
// hybrid machine whose cgroup2 tree has no controllers at all.
//
// The program here is assembled by hand: a few instructions per rule, given
// to the kernel with bpf(2) (https://man7.org/linux/man-pages/man2/bpf.2.html).
// runc builds the same program with github.com/cilium/ebpf's assembler; for
// a dozen rules, eight-byte instructions written out below teach more and add
// no dependency.
//
// The program reads its question from struct bpf_cgroup_dev_ctx, pointed to
// by register r1 (include/uapi/linux/bpf.h):
//
//	offset 0  u32 access_type  access << 16 | type
//	                           type:   BPF_DEVCG_DEV_BLOCK 1, _CHAR 2
//	                           access: BPF_DEVCG_ACC_MKNOD 1, _READ 2, _WRITE 4
//	offset 4  u32 major
//	offset 8  u32 minor

// insn is one eBPF instruction, as struct bpf_insn lays it out.
type insn struct {
	code uint8 // class | operation | source (BPF_ALU|BPF_AND|BPF_K ...)
	regs uint8 // destination register in the low 4 bits, source in the high 4
	off  int16 // jumps: how many instructions to skip
	imm  int32 // the constant operand
}

// The registers the program uses: r0 holds the answer, r1 the context.
const (
	r0 = iota
	r1
	rType   // r2
	rAccess // r3
	rMajor  // r4
	rMinor  // r5
)

func loadW(dst, src uint8, off int16) insn {
	return insn{code: unix.BPF_LDX | unix.BPF_W | unix.BPF_MEM, regs: dst | src<<4, off: off}
}
func alu32(op, dst uint8, imm int32) insn {
	return insn{code: unix.BPF_ALU | op | unix.BPF_K, regs: dst, imm: imm}
}
func mov32(dst, src uint8) insn {
	return insn{code: unix.BPF_ALU | unix.BPF_MOV | unix.BPF_X, regs: dst | src<<4}
}
func jneImm(dst uint8, imm int32, skip int16) insn {
	return insn{code: unix.BPF_JMP | unix.BPF_JNE | unix.BPF_K, regs: dst, off: skip, imm: imm}
}
func jeqImm(dst uint8, imm int32, skip int16) insn {
	return insn{code: unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K, regs: dst, off: skip, imm: imm}
}
func jneReg(dst, src uint8, skip int16) insn {
	return insn{code: unix.BPF_JMP | unix.BPF_JNE | unix.BPF_X, regs: dst | src<<4, off: skip}
}

// next stands for "the end of this rule" in a jump until it is known.
const next = -1

// ret is "r0 = v; exit": the program's answer.
func ret(v int32) []insn {
	return []insn{{code: unix.BPF_ALU64 | unix.BPF_MOV | unix.BPF_K, regs: r0, imm: v}, {code: unix.BPF_JMP | unix.BPF_EXIT}}
}

// deviceProgram assembles a policy (see normalize) into a program: each
// exception is tried in turn, the first that matches gives its answer, and
// none matching gives the default. (The exceptions all answer the same, so
// their order does not matter.)
func deviceProgram(pol policy) []insn {
	p := []insn{
		loadW(rType, r1, 0),                // r2 = ctx->access_type
		alu32(unix.BPF_AND, rType, 0xffff), // r2 &= 0xffff: the type
		loadW(rAccess, r1, 0),              // r3 = ctx->access_type
		alu32(unix.BPF_RSH, rAccess, 16),   // r3 >>= 16: the access asked for
		loadW(rMajor, r1, 4),               // r4 = ctx->major
		loadW(rMinor, r1, 8),               // r5 = ctx->minor
	}
	for _, r := range pol.exceptions {
		// Each test jumps past the rest of this rule when it fails: the
		// offset, counted from the next instruction, is filled in once the
		// rule's length is known.
		var block []insn
		switch r.Type {
		case 'c':
			block = append(block, jneImm(rType, unix.BPF_DEVCG_DEV_CHAR, next)) // if r2 != char goto next
		case 'b':
			block = append(block, jneImm(rType, unix.BPF_DEVCG_DEV_BLOCK, next)) // if r2 != block goto next
		}
		// An allow rule matches when it grants all the access asked for,
		// a deny rule when it refuses any of it (open for rw, write denied),
		// as the v1 controller matches them.
		if acc := accessBits(r.Access); r.Allow && acc != accessBits("rwm") {
			block = append(block,
				mov32(r1, rAccess),           // r1 = r3
				alu32(unix.BPF_AND, r1, acc), // r1 &= allowed
				jneReg(r1, rAccess, next))    // if r1 != r3 goto next: asked for more
		} else if !r.Allow {
			block = append(block,
				mov32(r1, rAccess),           // r1 = r3
				alu32(unix.BPF_AND, r1, acc), // r1 &= denied
				jeqImm(r1, 0, next))          // if r1 == 0 goto next: none of it asked for
		}
		if r.Major != Any {
			block = append(block, jneImm(rMajor, int32(r.Major), next)) // if r4 != major goto next
		}
		if r.Minor != Any {
			block = append(block, jneImm(rMinor, int32(r.Minor), next)) // if r5 != minor goto next
		}
		answer := int32(0)
		if r.Allow {
			answer = 1
		}
		block = append(block, ret(answer)...) // r0 = answer; exit
		for j := range block {
			if block[j].off == next {
				block[j].off = int16(len(block) - j - 1)
			}
		}
		p = append(p, block...)
	}
	answer := int32(0)
	if pol.allow {
		answer = 1
	}
	return append(p, ret(answer)...)
}

func accessBits(access string) int32 {
	var bits int32
	for _, c := range access {
		switch c {
		case 'm':
			bits |= unix.BPF_DEVCG_ACC_MKNOD
		case 'r':
			bits |= unix.BPF_DEVCG_ACC_READ
		case 'w':
			bits |= unix.BPF_DEVCG_ACC_WRITE
		}
	}
	return bits
}

// bpf(2)'s argument is a union; these are its members for the two commands.
type progLoadAttr struct {
	progType, insnCnt uint32
	insns, license    uint64 // pointers
}

type progAttachAttr struct {
	targetFD, attachBPFFD, attachType, attachFlags uint32
}

func bpf(cmd uintptr, attr unsafe.Pointer, size uintptr) (int, error) {
	fd, _, errno := unix.Syscall(unix.SYS_BPF, cmd, uintptr(attr), size)
	if errno != 0 {
		return -1, errno
	}
	return int(fd), nil
}

// attachDeviceFilter loads the program for rules and attaches it to the
// cgroup2 directory path. The cgroup then holds the program: our file
// descriptors can close, and when the cgroup is removed the kernel detaches
// and frees it. BPF_F_ALLOW_MULTI: programs attached above (a service
// manager's) still run too, and every one must allow.
func attachDeviceFilter(path string, pol policy) error {
	prog := deviceProgram(pol)
	license := []byte("Apache-2.0\x00") // the kernel asks; GPL-only helpers are not used
	load := progLoadAttr{
		progType: unix.BPF_PROG_TYPE_CGROUP_DEVICE,
		insnCnt:  uint32(len(prog)),
		insns:    uint64(uintptr(unsafe.Pointer(&prog[0]))),
		license:  uint64(uintptr(unsafe.Pointer(&license[0]))),
	}
	// The verifier answers EAGAIN when a signal interrupts it (Go's runtime
	// preempts its threads with SIGURG): try again, as libbpf does, 5 times.
	var progFD int
	var err error
	for try := 0; try < 5; try++ {
		if progFD, err = bpf(unix.BPF_PROG_LOAD, unsafe.Pointer(&load), unsafe.Sizeof(load)); !errors.Is(err, unix.EAGAIN) {
			break
		}
	}
	runtime.KeepAlive(prog)
	runtime.KeepAlive(license)
	trace.Call("bpf(BPF_PROG_LOAD, {BPF_PROG_TYPE_CGROUP_DEVICE, %d instructions, %d exceptions}) = %d", len(prog), len(pol.exceptions), progFD)
	if err != nil {
		return fmt.Errorf("bpf(BPF_PROG_LOAD) of the device filter: %w (needs root and a kernel with CONFIG_CGROUP_BPF)", err)
	}
	defer unix.Close(progFD)
	dirFD, err := unix.Open(path, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open %s: %w", path, err)
	}
	defer unix.Close(dirFD)
	attach := progAttachAttr{
		targetFD:    uint32(dirFD),
		attachBPFFD: uint32(progFD),
		attachType:  unix.BPF_CGROUP_DEVICE,
		attachFlags: unix.BPF_F_ALLOW_MULTI,
	}
	trace.Call("bpf(BPF_PROG_ATTACH, {open(%q), %d, BPF_CGROUP_DEVICE, BPF_F_ALLOW_MULTI})", path, progFD)
	if _, err := bpf(unix.BPF_PROG_ATTACH, unsafe.Pointer(&attach), unsafe.Sizeof(attach)); err != nil {
		return fmt.Errorf("bpf(BPF_PROG_ATTACH) of the device filter to %s: %w", path, err)
	}
	return nil
}
