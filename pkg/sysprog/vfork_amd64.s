#include "textflag.h"

// func vfork3(args *cloneArgs, size uintptr) (r uintptr)
//
// clone3(2) with CLONE_VM|CLONE_VFORK and no stack of its own: the child
// runs on this very stack while this thread sleeps until the child's execve
// or exit. Both return from here, the child first, and whatever the child
// calls next is pushed where this function's return address was. So the
// return address is taken off the stack into R12, which the kernel keeps
// for each thread, before the call, and put back after it (Go's
// syscall.rawVforkSyscall does the same). r is the kernel's answer as it
// leaves it (rawResult reads it).
TEXT ·vfork3(SB),NOSPLIT|NOFRAME,$0-24
	MOVQ	args+0(FP), DI
	MOVQ	size+8(FP), SI
	MOVQ	$435, AX // SYS_clone3
	POPQ	R12
	SYSCALL
	PUSHQ	R12
	MOVQ	AX, r+16(FP)
	RET

// func cloneOn(args *cloneArgs, size uintptr, a *childArgs) (r uintptr)
//
// clone3(2) with CLONE_VM and a stack of the child's own (args.stack): the
// child runs beside this thread, in this memory. It starts at the
// instruction after SYSCALL, on an empty stack, with the registers of this
// thread: R12 brings it a, and it calls childMain(a), which never returns.
TEXT ·cloneOn(SB),NOSPLIT|NOFRAME,$0-32
	MOVQ	args+0(FP), DI
	MOVQ	size+8(FP), SI
	MOVQ	a+16(FP), R12
	MOVQ	$435, AX // SYS_clone3
	SYSCALL
	CMPQ	AX, $0
	JEQ	child
	MOVQ	AX, r+24(FP)
	RET
child:
	SUBQ	$16, SP // childMain's argument, SP kept 16-byte aligned
	MOVQ	R12, 0(SP)
	CALL	·childMain(SB)
	MOVQ	$125, DI
	MOVQ	$231, AX // SYS_exit_group: not reached
	SYSCALL
