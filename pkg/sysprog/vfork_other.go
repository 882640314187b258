//go:build !amd64

package sysprog

// canVfork: vfork3 and cloneOn need a few lines of assembly per
// architecture, written here for amd64 only; elsewhere Start copies the
// parent's memory (fork).
const canVfork = false

//go:nosplit
func vfork3(args *cloneArgs, size uintptr) (pid, errno uintptr) { return 0, 38 } // ENOSYS

//go:nosplit
func cloneOn(args *cloneArgs, size uintptr, a *childArgs) (pid, errno uintptr) { return 0, 38 } // ENOSYS
