package reexec

// GrowStack gives the calling goroutine a stack of 16 KiB in one step, while
// it is shallow, instead of doubling it step by step deep inside its work.
//
// Go starts every goroutine on a 2 KiB stack. When a call would not fit, the
// runtime (runtime.newstack) moves the stack to one twice the size, and to
// find the pointers it must fix, it walks every frame on the stack through
// the function tables in the binary's .gopclntab. Deep in a start those are
// dozens of frames, and their tables are pages of the binary that the start
// would not otherwise read: on a VM, each page fault is a trap to the
// hypervisor. One 8 KiB array in a frame of its own makes the runtime size
// the new stack for it at once, with one or two frames to walk.
// CockroachDB does the same for its storage paths
// (https://github.com/cockroachdb/cockroach/tree/master/pkg/util/growstack).
//
//go:noinline
func GrowStack() {
	var frame [8 << 10]byte
	keep(&frame)
}

// keep stops the compiler from dropping the unused array, and with it the
// frame that is the point.
//
//go:noinline
func keep(*[8 << 10]byte) {}
