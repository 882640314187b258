package sysprog

// canVfork: this architecture has vfork3 and cloneOn.
const canVfork = true

func vfork3(args *cloneArgs, size uintptr) (r uintptr)

func cloneOn(args *cloneArgs, size uintptr, a *childArgs) (r uintptr)
