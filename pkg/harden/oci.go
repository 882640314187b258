//go:build amd64 || arm64

package harden

//go:generate go run mksysnames.go

import (
	"fmt"
	"slices"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// An OCI runtime gets its seccomp filter not as a program but as a profile,
// the linux.seccomp object of config.json (the runtime spec's config-linux.md,
// "Seccomp"): a default action, and rules that name system calls, optionally
// with conditions on their arguments, each with an action of its own. runc
// hands the profile to libseccomp, which compiles it to classic BPF;
// SeccompProgram does the same compiling, in the shape of the filter in
// seccomp.go (read its comment first):
//
//	ld arch; not the native ABI (nor x32's numbers): SECCOMP_RET_KILL_PROCESS
//	ld nr; binary search over the numbers, to the call's own block:
//	    rule 1's conditions, each 64 bits as two 32-bit halves: all true? rule 1's action
//	    rule 2's ...
//	    no rule matched: the default action
//
// The rules of one call are tried in the profile's order and the first whose
// conditions all hold decides, so a rule that allows clone without namespace
// flags and a later one that refuses the rest say what they read as.
// (libseccomp promises no order among the rules of one call; profiles that
// work under runc do not depend on one.)

// SeccompProgram compiles an OCI seccomp profile into a classic BPF program for
// seccomp(2)'s SECCOMP_SET_MODE_FILTER, for this machine's architecture (the
// flags of s go to seccomp(2) instead: SeccompFlags). It decides as runc
// (libcontainer/seccomp) with libseccomp does, except where said:
//
//   - Actions (seccomp(2), "Filter return values"): SCMP_ACT_ALLOW, LOG,
//     ERRNO (errnoRet, EPERM when not given), TRACE (errnoRet is the value a
//     ptrace(2) tracer reads with PTRACE_GETEVENTMSG; EPERM when not given),
//     TRAP (SIGSYS), KILL and KILL_THREAD (the thread), KILL_PROCESS.
//     SCMP_ACT_NOTIFY, which hands the call to a supervisor process listening
//     at listenerPath, is refused: can has no such agent.
//   - Names the native architecture does not know are skipped: a profile
//     written for many kernels and architectures names calls this one lacks
//     (runc skips them too).
//   - A rule whose action is the default action is skipped, as runc does:
//     the default applies without it.
//   - Conditions (args) compare the whole 64-bit argument, unsigned, with
//     value; SCMP_CMP_MASKED_EQ is (arg & value) == valueTwo. The conditions
//     of one rule are ANDed, except when two name the same argument: then
//     runc (for libseccomp, which cannot AND two tests of one argument) makes
//     each its own rule, so they are ORed, and so does SeccompProgram.
//     The trap: the kernel reads many arguments as a 32-bit int, ignoring the
//     high half, so "arg0 != AF_VSOCK" also allows AF_VSOCK|1<<32, which the
//     kernel takes for AF_VSOCK. The filter in seccomp.go compares only the
//     low half for that reason; a profile cannot say so.
//   - Calls numbered above the highest the profile names get ENOSYS, unless
//     the default action lets calls run (ALLOW, LOG, TRACE): they are newer
//     than the profile, and ENOSYS makes the C library fall back to the older
//     call, as on an older kernel (runc's patchbpf adds the same stub).
//   - architectures: only the native ABI's calls are ever looked up. Calls
//     from any other ABI are killed, whatever the list says: SCMP_ARCH_X86
//     (32-bit programs entering through int $0x80, where 310 is unshare while
//     on x86-64 it is process_vm_readv) and SCMP_ARCH_X32 (numbers with bit
//     30 set, __X32_SYSCALL_BIT, under the x86-64 arch value) would need
//     their own tables, which x/sys/unix does not have. runc with libseccomp
//     applies the profile to each ABI listed and kills the others; can kills
//     all but the native one, which never allows more than the profile does.
//     Names in the list are still checked: a misspelt one is an error.
//
// The program fits the kernel's 4096 instructions (BPF_MAXINSNS) for any
// profile of Docker's size (some 350 calls); a bigger one is an error.
func SeccompProgram(s *specs.LinuxSeccomp) ([]unix.SockFilter, error) {
	if s == nil {
		return nil, fmt.Errorf("seccomp: no profile")
	}
	if s.ListenerPath != "" {
		return nil, fmt.Errorf("seccomp: listenerPath %q: can has no seccomp notify support: remove listenerPath and any SCMP_ACT_NOTIFY", s.ListenerPath)
	}
	for _, a := range s.Architectures {
		if !slices.Contains(ociArches, a) {
			return nil, fmt.Errorf("seccomp: unknown architecture %q: use the runtime spec's names (SCMP_ARCH_X86_64, SCMP_ARCH_AARCH64, ...)", a)
		}
	}
	dflt, err := seccompAction(s.DefaultAction, s.DefaultErrnoRet)
	if err != nil {
		return nil, fmt.Errorf("seccomp: defaultAction: %w", err)
	}

	// The rules of each call number, in the profile's order.
	rules := map[uint32][]seccompRule{}
	highest := -1
	for i, sc := range s.Syscalls {
		act, err := seccompAction(sc.Action, sc.ErrnoRet)
		if err != nil {
			return nil, fmt.Errorf("seccomp: syscalls[%d] %v: %w", i, sc.Names, err)
		}
		conds, err := seccompConds(sc.Args)
		if err != nil {
			return nil, fmt.Errorf("seccomp: syscalls[%d] %v: %w", i, sc.Names, err)
		}
		for _, name := range sc.Names {
			nr, ok := sysNumber(name)
			if !ok {
				continue // not a call of this architecture, or a newer one
			}
			highest = max(highest, int(nr))
			if act == dflt {
				continue
			}
			rules[nr] = append(rules[nr], conds(act)...)
		}
	}

	// The answer to each number, and spans of numbers with the same answer.
	dfltAnswer := answer{ret(dflt)}
	var sp []span
	for nr := 0; nr <= highest; nr++ {
		a := dfltAnswer
		if r := rules[uint32(nr)]; r != nil {
			a = callBlock(r, dflt)
		}
		if len(sp) == 0 || !slices.Equal(sp[len(sp)-1].answer, a) {
			sp = append(sp, span{uint32(nr), a})
		}
	}
	newer := dfltAnswer
	if highest >= 0 && !letsRun(dflt) {
		newer = enosys
	}
	sp = append(sp, span{uint32(highest + 1), newer})
	sp = append(sp, archSpans...)

	prog := search(archCheck(), sp)
	if len(prog) > bpfMaxInsns {
		return nil, fmt.Errorf("seccomp: the profile compiles to %d BPF instructions, more than the kernel's %d: merge rules, or drop argument conditions", len(prog), bpfMaxInsns)
	}
	return prog, nil
}

// bpfMaxInsns is the kernel's limit on one filter's length (BPF_MAXINSNS in
// <linux/bpf_common.h>; seccomp(2), "EINVAL").
const bpfMaxInsns = 4096

// ociArches are the architecture names of the runtime spec (libseccomp's).
var ociArches = []specs.Arch{
	specs.ArchX86, specs.ArchX86_64, specs.ArchX32, specs.ArchARM, specs.ArchAARCH64,
	specs.ArchMIPS, specs.ArchMIPS64, specs.ArchMIPS64N32, specs.ArchMIPSEL, specs.ArchMIPSEL64,
	specs.ArchMIPSEL64N32, specs.ArchPPC, specs.ArchPPC64, specs.ArchPPC64LE, specs.ArchS390,
	specs.ArchS390X, specs.ArchPARISC, specs.ArchPARISC64, specs.ArchRISCV64, specs.ArchLOONGARCH64,
	specs.ArchM68K, specs.ArchSH, specs.ArchSHEB,
}

// letsRun says whether a filter return lets the call run: a tracer
// (SECCOMP_RET_TRACE) may still skip it, but it is its choice.
func letsRun(ret uint32) bool {
	switch ret & unix.SECCOMP_RET_ACTION_FULL {
	case unix.SECCOMP_RET_ALLOW, unix.SECCOMP_RET_LOG, unix.SECCOMP_RET_TRACE:
		return true
	}
	return false
}

// seccompAction turns an OCI action into the filter's return value: the
// action in the high 16 bits, its data (the errno, the tracer's message) in
// the low 16 (SECCOMP_RET_ACTION_FULL, SECCOMP_RET_DATA).
func seccompAction(a specs.LinuxSeccompAction, errnoRet *uint) (uint32, error) {
	var act uint32
	switch a {
	case specs.ActAllow:
		act = unix.SECCOMP_RET_ALLOW
	case specs.ActLog:
		act = unix.SECCOMP_RET_LOG
	case specs.ActKill, specs.ActKillThread:
		act = unix.SECCOMP_RET_KILL_THREAD
	case specs.ActKillProcess:
		act = unix.SECCOMP_RET_KILL_PROCESS
	case specs.ActTrap:
		act = unix.SECCOMP_RET_TRAP
	case specs.ActErrno, specs.ActTrace:
		data := uint(unix.EPERM)
		if errnoRet != nil {
			data = *errnoRet
		}
		// The kernel turns an errno above 4095 (MAX_ERRNO) into 4095; a
		// value above 16 bits would spill into the action.
		limit := uint(4095)
		act = unix.SECCOMP_RET_ERRNO
		if a == specs.ActTrace {
			limit, act = unix.SECCOMP_RET_DATA, unix.SECCOMP_RET_TRACE
		}
		if data > limit {
			return 0, fmt.Errorf("errnoRet %d is out of range for %s: at most %d", data, a, limit)
		}
		return act | uint32(data), nil
	case specs.ActNotify:
		return 0, fmt.Errorf("%s hands calls to a seccomp agent, which can does not support: use SCMP_ACT_ERRNO or SCMP_ACT_ALLOW", a)
	default:
		return 0, fmt.Errorf("unknown action %q: use SCMP_ACT_ALLOW, SCMP_ACT_ERRNO, SCMP_ACT_KILL_PROCESS, ... (the runtime spec's config-linux.md)", a)
	}
	if errnoRet != nil {
		return 0, fmt.Errorf("errnoRet %d goes with SCMP_ACT_ERRNO or SCMP_ACT_TRACE only, not %s: remove it", *errnoRet, a)
	}
	return act, nil
}

// A seccompRule is one way a call can match: all of conds hold, then ret.
type seccompRule struct {
	conds []specs.LinuxSeccompArg
	ret   uint32
}

// seccompConds checks a rule's conditions and says how they become rules:
// one rule ANDing them, or, when two test the same argument, one rule each
// (see SeccompProgram).
func seccompConds(args []specs.LinuxSeccompArg) (func(ret uint32) []seccompRule, error) {
	var seen [6]bool
	repeated := false
	for _, a := range args {
		if a.Index >= 6 {
			return nil, fmt.Errorf("argument index %d: a system call has 6 arguments, 0 to 5", a.Index)
		}
		switch a.Op {
		case specs.OpEqualTo, specs.OpNotEqual, specs.OpLessThan, specs.OpLessEqual,
			specs.OpGreaterThan, specs.OpGreaterEqual, specs.OpMaskedEqual:
		default:
			return nil, fmt.Errorf("unknown operator %q: use SCMP_CMP_EQ, NE, LT, LE, GT, GE or MASKED_EQ", a.Op)
		}
		repeated = repeated || seen[a.Index]
		seen[a.Index] = true
	}
	return func(ret uint32) []seccompRule {
		if !repeated {
			return []seccompRule{{args, ret}}
		}
		r := make([]seccompRule, len(args))
		for i, a := range args {
			r[i] = seccompRule{[]specs.LinuxSeccompArg{a}, ret}
		}
		return r
	}, nil
}

// callBlock is one call's answer: its rules in order, then dflt. Rules after
// one without conditions are never reached, and left out.
func callBlock(rules []seccompRule, dflt uint32) answer {
	for i, r := range rules {
		if len(r.conds) == 0 {
			rules = rules[:i+1]
			break
		}
	}
	var b backward
	next := b.ret(dflt)
	for i := len(rules) - 1; i >= 0; i-- {
		pass := b.ret(rules[i].ret)
		for j := len(rules[i].conds) - 1; j >= 0; j-- {
			pass = b.cond(rules[i].conds[j], pass, next)
		}
		next = pass
	}
	return b.program()
}

// backward writes a program from its end to its start, so that every jump,
// which BPF only allows forward, goes to an instruction already written: a
// label is an instruction's place counted from the end (1 is the last), and
// an instruction written now, at len(b.rev)+1, skips len(b.rev)-label
// instructions to reach it.
type backward struct{ rev []unix.SockFilter }

func (b *backward) emit(in unix.SockFilter) int {
	b.rev = append(b.rev, in)
	return len(b.rev)
}

func (b *backward) skip(label int) int { return len(b.rev) - label }

func (b *backward) ret(k uint32) int  { return b.emit(ret(k)) }
func (b *backward) ld(off uint32) int { return b.emit(ld(off)) }

// and is A &= k.
func (b *backward) and(k uint32) int {
	return b.emit(unix.SockFilter{Code: unix.BPF_ALU | unix.BPF_AND | unix.BPF_K, K: k})
}

// jump compares A with k and goes to label t when true, f when false. A
// conditional jump skips at most 255 instructions (jt and jf are 8 bits), and
// these never need more: a rule jumps within itself or to the start of the
// next rule, right after it, and a rule is at most 6 conditions of 7
// instructions and a return. A call's whole block may be longer than 255:
// the search over call numbers jumps over it with ja.
func (b *backward) jump(op uint16, k uint32, t, f int) int {
	return b.emit(jump(op, k, b.skip(t), b.skip(f)))
}

// cond writes the test of one condition: go to pass when it holds, to fail
// when not. The argument is 64 bits, BPF's accumulator 32: the test loads
// the high half (args[i] at offset 16+8i, the high half 4 bytes on, on these
// little-endian machines), and looks at the low half only when the high
// halves leave the answer open.
func (b *backward) cond(c specs.LinuxSeccompArg, pass, fail int) int {
	off := offArg0 + 8*uint32(c.Index)
	hiV, loV := uint32(c.Value>>32), uint32(c.Value)
	switch c.Op {
	case specs.OpEqualTo: // hi == hiV && lo == loV
		b.jump(unix.BPF_JEQ, loV, pass, fail)
		lo := b.ld(off)
		b.jump(unix.BPF_JEQ, hiV, lo, fail)
	case specs.OpNotEqual: // hi != hiV || lo != loV
		b.jump(unix.BPF_JEQ, loV, fail, pass)
		lo := b.ld(off)
		b.jump(unix.BPF_JEQ, hiV, lo, pass)
	case specs.OpGreaterThan, specs.OpGreaterEqual: // hi > hiV || hi == hiV && lo >(=) loV
		op := uint16(unix.BPF_JGT)
		if c.Op == specs.OpGreaterEqual {
			op = unix.BPF_JGE
		}
		b.jump(op, loV, pass, fail)
		lo := b.ld(off)
		eq := b.jump(unix.BPF_JEQ, hiV, lo, fail)
		b.jump(unix.BPF_JGT, hiV, pass, eq)
	case specs.OpLessThan, specs.OpLessEqual: // not >=, not >
		op := uint16(unix.BPF_JGE)
		if c.Op == specs.OpLessEqual {
			op = unix.BPF_JGT
		}
		b.jump(op, loV, fail, pass)
		lo := b.ld(off)
		eq := b.jump(unix.BPF_JEQ, hiV, lo, pass)
		b.jump(unix.BPF_JGT, hiV, fail, eq)
	case specs.OpMaskedEqual: // (arg & value) == valueTwo, half by half
		b.jump(unix.BPF_JEQ, uint32(c.ValueTwo), pass, fail)
		b.and(loV)
		lo := b.ld(off)
		b.jump(unix.BPF_JEQ, uint32(c.ValueTwo>>32), lo, fail)
		b.and(hiV)
	}
	return b.ld(off + 4)
}

// program is what b wrote, in running order.
func (b *backward) program() []unix.SockFilter {
	p := slices.Clone(b.rev)
	slices.Reverse(p)
	return p
}

// sysName is a system call's name, as OCI seccomp profiles spell it, and its
// number on this architecture (zsysnames_*.go).
type sysName struct {
	name string
	nr   uint32
}

// sysNumber returns the number of the system call called name.
func sysNumber(name string) (uint32, bool) {
	i, ok := slices.BinarySearchFunc(sysNames[:], name, func(s sysName, name string) int { return strings.Compare(s.name, name) })
	if !ok {
		return 0, false
	}
	return sysNames[i].nr, true
}
