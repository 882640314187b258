package sysprog

// canVfork: this architecture has vfork3.
const canVfork = true

func vfork3(args *cloneArgs, size uintptr) (pid, errno uintptr)
