// Package pkg is the shared core of the tincan lessons. It holds no code itself:
// each subpackage owns one box of the container's life in docs/ARCHITECTURE.md.
//
//	reexec     start this program again in new namespaces, sync pipe, exit codes
//	sysprog    system calls prepared in Go for a clone that cannot run Go
//	trace      print each kernel call in man-page spelling (-v, TINCAN_TRACE=1)
//	mount      propagation, proc, tmpfs, bind, overlay, /dev, pivot_root, masked paths
//	ns         hostname, namespace identities
//	network    veth, the bridge, address allocation, NAT and published ports
//	userns     uid/gid maps, subuid ranges and the rootless fallback
//	rootfs     a busybox root filesystem, tarball import
//	layers     soulwing/can's image/N, config, container layout, and commit
//	cgroup     cgroup v1, v2 and hybrid: limits, join, OOM, stats, removal
//	harden     capabilities, no_new_privs, seccomp
//	tty        a pty of the container's own, relayed to the user's terminal
//	container  a Spec in, a container run and torn down: what can (09-full) is
//	step       the command line every lesson shares
//	testenv    the hermetic sandbox the privileged tests run in
//	course, doctor  the classroom tools behind make exercise/check/doctor
//
// Commands: cmd/mkrootfs (make rootfs), cmd/probe (reads the kernel's view
// from inside a container, for tests), cmd/bench (make bench), cmd/course
// and cmd/doctor.
package pkg
