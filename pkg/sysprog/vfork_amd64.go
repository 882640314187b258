package sysprog

// canVfork: this architecture has vfork3 and cloneOn.
const canVfork = true

func vfork3(args *cloneArgs, size uintptr) (pid, errno uintptr)

func cloneOn(args *cloneArgs, size uintptr, a *childArgs) (pid, errno uintptr)
