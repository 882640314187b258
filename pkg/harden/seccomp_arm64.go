package harden

import "golang.org/x/sys/unix"

// archCheck starts the filter: system call numbers only mean something for
// one ABI, so anything but AArch64 (such as 32-bit ARM programs, whose
// numbers differ) is killed before a number is looked at. Then it loads the
// number, for the search.
func archCheck() []unix.SockFilter {
	return []unix.SockFilter{
		ld(offArch),
		jeq(unix.AUDIT_ARCH_AARCH64, 1, 0),
		ret(retKill),
		ld(offNr),
	}
}

// arm64 has none of x86-64's older calls, nor another ABI in the same
// numbers.
var (
	archSpans      []span
	allowedArch    []uintptr
	capAllowedArch []capCalls
)
