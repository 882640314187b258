#include "textflag.h"

// func vfork3(args *cloneArgs, size uintptr) (pid, errno uintptr)
//
// clone3(2) with CLONE_VM|CLONE_VFORK and no stack of its own: the child
// runs on this very stack while this thread sleeps until the child's execve
// or exit. Both return from here, the child first, and whatever the child
// calls next is pushed where this function's return address was. So the
// return address is taken off the stack into R12, which the kernel keeps
// for each thread, before the call, and put back after it (Go's
// syscall.rawVforkSyscall does the same).
TEXT ·vfork3(SB),NOSPLIT|NOFRAME,$0-32
	MOVQ	args+0(FP), DI
	MOVQ	size+8(FP), SI
	MOVQ	$435, AX // SYS_clone3
	POPQ	R12
	SYSCALL
	PUSHQ	R12
	CMPQ	AX, $0xfffffffffffff001
	JLS	ok
	MOVQ	$-1, pid+16(FP)
	NEGQ	AX
	MOVQ	AX, errno+24(FP)
	RET
ok:
	MOVQ	AX, pid+16(FP)
	MOVQ	$0, errno+24(FP)
	RET
