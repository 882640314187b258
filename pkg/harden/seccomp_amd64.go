package harden

import "golang.org/x/sys/unix"

// archCheck starts the filter: system call numbers only mean something for
// one ABI, so anything but x86-64 is killed before a number is looked at.
// A 64-bit process can still enter the kernel through the i386 table
// (int $0x80, arch AUDIT_ARCH_I386), where 310 is unshare's number while on
// x86-64 it is process_vm_readv's: a filter that skipped this check would let
// it through. And the x32 ABI shares AUDIT_ARCH_X86_64 but numbers its calls
// nr|0x40000000 (__X32_SYSCALL_BIT): mount as 165|0x40000000 would not match
// 165, so those are killed too.
func archCheck() []insn {
	return []insn{
		ld(offArch),
		jeq(unix.AUDIT_ARCH_X86_64, "", "kill"),
		ld(offNr),
		jge(0x40000000, "kill", ""),
	}
}

// deniedArch are the calls refused that only x86-64 has: port I/O, and old
// calls kept for compatibility that a container never needs.
var deniedArch = []uintptr{
	unix.SYS_IOPL, unix.SYS_IOPERM,
	unix.SYS_CREATE_MODULE, unix.SYS_QUERY_MODULE, unix.SYS_GET_KERNEL_SYMS,
	unix.SYS_USELIB, unix.SYS_USTAT, unix.SYS_SYSFS, unix.SYS__SYSCTL,
}
