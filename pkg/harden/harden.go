// Package harden takes away what root in a container must not keep, right
// before the container's command is executed: capabilities, the right to gain
// privileges through execve, and most of the kernel's dangerous system calls.
//
// Namespaces change what a process sees; they do not change what root may do.
// Root in a new PID and mount namespace can still load a kernel module, mount
// the host's disk from a device node or read the kernel's keyrings. So a real
// runtime ends its setup with three more steps, in runc's order
// (libcontainer/standard_init_linux.go):
//
//  1. capabilities (capabilities(7)): cut the bounding set with
//     prctl(PR_CAPBSET_DROP) to Docker's 14, then capset(2) the permitted and
//     effective sets to the same 14 and the inheritable set to none;
//  2. no_new_privs (prctl(2), PR_SET_NO_NEW_PRIVS): no setuid bit and no file
//     capability can give this process or its children more than it has now;
//  3. seccomp (seccomp(2)): a filter the kernel runs on every system call,
//     refusing the ones Docker's default profile refuses. It goes last, so it
//     does not have to allow the calls of the steps before it.
//
// All three apply to the calling thread only (a Linux thread is a task with
// its own credentials), and a Go goroutine can move between threads at any
// time. So Apply locks the goroutine to its thread and leaves it locked: the
// caller must execve(2) on that same goroutine right after, which is what
// reexec.Exec does. Execve then makes the hardened thread the whole process.
//
// An OCI runtime is told exactly what to leave instead (config.json's
// process.capabilities and linux.seccomp): Config.Sets takes the five
// capability sets as given, and SeccompProgram compiles the seccomp profile
// into a filter for Config.Filter (oci.go). The steps and their order stay.
package harden

import (
	"runtime"

	"golang.org/x/sys/unix"

	"tincan.dev/pkg/sysprog"
)

// Config says how much to take away.
type Config struct {
	// Caps are the capabilities the container keeps, by name: "CAP_NET_ADMIN"
	// or "net_admin", or "ALL". nil means Docker's 14, DefaultCaps(); an empty
	// non-nil slice keeps none.
	Caps []string
	// Privileged keeps every capability and installs no seccomp filter, as
	// docker run --privileged does; NoNewPrivs still applies when set.
	Privileged bool
	// NoNewPrivs sets no_new_privs: setuid programs no longer raise privileges.
	NoNewPrivs bool
	// Seccomp installs the filter described in seccomp.go.
	Seccomp bool

	// Filter, when not nil, is the seccomp filter to install instead of the
	// one in seccomp.go, whatever Seccomp and Privileged say: an OCI
	// runtime's profile, compiled by SeccompProgram. FilterFlags go to
	// seccomp(2) with it (SeccompFlags).
	Filter      []unix.SockFilter
	FilterFlags uint
	// Sets, when not nil, are the five capability sets to leave, exactly
	// (an OCI runtime's process.capabilities), instead of Caps or Privileged.
	Sets *CapSets
}

// Default is what a container gets unless asked otherwise: Docker's
// capabilities, no_new_privs and the seccomp filter.
func Default() Config { return Config{NoNewPrivs: true, Seccomp: true} }

// Apply hardens the calling thread, in runc's order, and leaves the goroutine
// locked to it: the caller's next step must be execve on the same goroutine.
// Nothing is changed when a capability is unknown, or not held to begin with.
func Apply(c Config) error {
	runtime.LockOSThread() // never unlocked: see the package comment
	return sysprog.RunNow(func(p *sysprog.Program) error { return Plan(c, p) })
}

// Plan appends Apply's system calls to p, for p to make them later: the
// container's PID 1, which cannot run Go, makes them between clone and
// execve (pkg/sysprog). Plan reads the calling thread's capabilities now;
// the process that runs p must start with the same ones (a clone of this
// thread, or this thread itself), and may change user first (become).
//
// p may follow setuid(2) to a user that is not root, with
// PR_SET_KEEPCAPS: the permitted set survives it, the effective set does not
// (capabilities(7), "Effect of user ID changes on capabilities"). With Sets,
// the effective set is raised from the permitted one first, as the calls
// below need CAP_SETPCAP and, without no_new_privs, CAP_SYS_ADMIN.
//
// Without no_new_privs, installing a seccomp filter needs CAP_SYS_ADMIN
// (seccomp(2), "EACCES"), which capset is about to drop: runc then installs
// the filter before capset, and so does Plan.
func Plan(c Config, p *sysprog.Program) error {
	last := lastCap()
	var sets capMasks
	var keep uint64
	var err error
	if c.Sets != nil {
		sets, err = c.Sets.masks(last, warn)
		if err == nil {
			err = raiseEffective(p)
		}
		keep = sets.bounding
	} else {
		keep, err = c.keep()
		sets = capMasks{bounding: keep, effective: keep, permitted: keep}
	}
	if err != nil {
		return err
	}
	dropBounding(p, keep, last)
	seccomp := c.Seccomp && !c.Privileged || c.Filter != nil
	install := func() error {
		if c.Filter != nil {
			return installProgram(p, c.Filter, c.FilterFlags)
		}
		return installFilter(p, keep)
	}
	if seccomp && !c.NoNewPrivs {
		if err := install(); err != nil {
			return err
		}
	}
	capset(p, sets)
	if c.Sets != nil {
		setAmbient(p, sets.ambient, last)
	}
	if c.NoNewPrivs {
		setNoNewPrivs(p)
	}
	if seccomp && c.NoNewPrivs {
		return install()
	}
	return nil
}

// setNoNewPrivs is prctl(PR_SET_NO_NEW_PRIVS, 1). Once set it cannot be unset
// and every child inherits it: execve no longer honours setuid/setgid bits or
// file capabilities (prctl(2), PR_SET_NO_NEW_PRIVS; the kernel's
// Documentation/userspace-api/no_new_privs.rst). It is also what lets an
// unprivileged process install a seccomp filter: a filter cannot then be used
// to confuse a setuid program into misbehaving.
func setNoNewPrivs(p *sysprog.Program) {
	p.Add("prctl(PR_SET_NO_NEW_PRIVS, 1)", "the kernel is older than 3.5", unix.SYS_PRCTL, unix.PR_SET_NO_NEW_PRIVS, 1)
}
