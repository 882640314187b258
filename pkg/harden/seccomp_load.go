package harden

import (
	"fmt"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"tincan.dev/pkg/sysprog"
	"tincan.dev/pkg/trace"
)

// SeccompFlags turns the profile's flags into seccomp(2)'s flags argument
// (seccomp(2), SECCOMP_SET_MODE_FILTER):
//
//   - SECCOMP_FILTER_FLAG_LOG: log every action but ALLOW (to the audit log,
//     as /proc/sys/kernel/seccomp/actions_logged allows);
//   - SECCOMP_FILTER_FLAG_SPEC_ALLOW: leave the Speculative Store Bypass
//     mitigation off, which seccomp otherwise turns on for the process;
//   - SECCOMP_FILTER_FLAG_TSYNC: put the filter on every thread of the
//     process, not only the calling one;
//   - SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV changes how a notify listener
//     waits: without one (can has none) it means nothing, and the kernel
//     refuses it alone (EINVAL), so it is dropped, as libseccomp does.
func SeccompFlags(s *specs.LinuxSeccomp) (uint, error) {
	var flags uint
	for _, f := range s.Flags {
		switch f {
		case specs.LinuxSeccompFlagLog:
			flags |= unix.SECCOMP_FILTER_FLAG_LOG
		case specs.LinuxSeccompFlagSpecAllow:
			flags |= unix.SECCOMP_FILTER_FLAG_SPEC_ALLOW
		case "SECCOMP_FILTER_FLAG_TSYNC":
			flags |= unix.SECCOMP_FILTER_FLAG_TSYNC
		case specs.LinuxSeccompFlagWaitKillableRecv:
		default:
			return 0, fmt.Errorf("seccomp: unknown flag %q: use SECCOMP_FILTER_FLAG_LOG, SECCOMP_FILTER_FLAG_SPEC_ALLOW or SECCOMP_FILTER_FLAG_TSYNC", f)
		}
	}
	return flags, nil
}

// seccompFlagNames spell seccomp(2)'s flags for the trace.
var seccompFlagNames = []trace.Flag{
	{Bit: unix.SECCOMP_FILTER_FLAG_TSYNC, Name: "SECCOMP_FILTER_FLAG_TSYNC"},
	{Bit: unix.SECCOMP_FILTER_FLAG_LOG, Name: "SECCOMP_FILTER_FLAG_LOG"},
	{Bit: unix.SECCOMP_FILTER_FLAG_SPEC_ALLOW, Name: "SECCOMP_FILTER_FLAG_SPEC_ALLOW"},
}

// installProgram adds seccomp(SECCOMP_SET_MODE_FILTER, flags, &prog) to p.
// With flags 0 the filter applies to the calling thread only, which is the
// thread that will execve. Filters stack: one installed later runs too, and
// the kernel takes the most severe answer of all (seccomp(2), "Filter return
// values").
func installProgram(p *sysprog.Program, f []unix.SockFilter, flags uint) error {
	if len(f) == 0 {
		return fmt.Errorf("seccomp: an empty filter: the kernel refuses it (EINVAL)")
	}
	f = append([]unix.SockFilter(nil), f...) // p's own copy
	prog := &unix.SockFprog{Len: uint16(len(f)), Filter: &f[0]}
	sysprog.Ptr(p, &f[0])
	text := fmt.Sprintf("seccomp(SECCOMP_SET_MODE_FILTER, %s, {len=%d})", trace.Flags(uintptr(flags), seccompFlagNames), len(f))
	p.Add(text, "see seccomp(2)", unix.SYS_SECCOMP, unix.SECCOMP_SET_MODE_FILTER, uintptr(flags), sysprog.Ptr(p, prog)).
		Hint(unix.EACCES, "needs no_new_privs or CAP_SYS_ADMIN").
		Hint(unix.EINVAL, "is the kernel built with CONFIG_SECCOMP_FILTER, and does it know these flags?").
		// TSYNC's failure: the id of a thread that cannot take the filter.
		ResultZero(unix.ESRCH).Hint(unix.ESRCH, "a thread of this process cannot take the filter (it has another one): drop SECCOMP_FILTER_FLAG_TSYNC")
	return nil
}
