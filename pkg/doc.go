// Package pkg is the shared core of the tincan lessons. It holds no code itself:
// each subpackage owns one box of the container picture in DESIGN.md, section 2.
//
//	reexec   start this program again in new namespaces, sync pipe, exit codes
//	trace    print each kernel call in man-page spelling (-v, TINCAN_TRACE=1)
//	mount    propagation, proc, tmpfs
//	ns       hostname, namespace identities
//	network  veth pairs made directly inside a network namespace
//	userns   uid/gid maps and the rootless fallback
//	step     the command line every lesson shares
//	testenv  the hermetic sandbox the privileged tests run in
package pkg
