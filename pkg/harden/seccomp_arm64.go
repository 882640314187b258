package harden

import "golang.org/x/sys/unix"

// archCheck starts the filter: system call numbers only mean something for
// one ABI, so anything but AArch64 (such as 32-bit ARM programs, whose
// numbers differ) is killed before a number is looked at.
func archCheck() []insn {
	return []insn{
		ld(offArch),
		jeq(unix.AUDIT_ARCH_AARCH64, "", "kill"),
		ld(offNr),
	}
}

// deniedArch: arm64 has none of x86-64's legacy calls.
var deniedArch []uintptr
