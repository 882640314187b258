//go:build !amd64

package sysprog

import "syscall"

// canVfork: vfork3 and cloneOn need a few lines of assembly per
// architecture, written here for amd64 only; elsewhere Start copies the
// parent's memory (fork).
const canVfork = false

// enosys is ENOSYS: the stubs below answer -ENOSYS, as the kernel would
// where clone3 is missing (Start does not call them: canVfork). A variable,
// because Go refuses to negate an unsigned constant.
var enosys = uintptr(syscall.ENOSYS)

//go:nosplit
func vfork3(args *cloneArgs, size uintptr) (r uintptr) { return -enosys }

//go:nosplit
func cloneOn(args *cloneArgs, size uintptr, a *childArgs) (r uintptr) { return -enosys }
