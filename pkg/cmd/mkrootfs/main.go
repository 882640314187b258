// Command mkrootfs makes a root filesystem for the lessons, offline: a busybox
// tree from the host's busybox-static, or, with -tar, the contents of a root
// filesystem tarball (alpine-minirootfs-*.tar.gz, or docker export's output).
// DIR must be missing or empty. `make rootfs` runs it:
//
//	go run ./pkg/cmd/mkrootfs rootfs
//	go run ./pkg/cmd/mkrootfs -tar alpine-minirootfs.tar.gz rootfs
package main

import (
	"flag"
	"fmt"
	"os"

	"tincan.dev/pkg/rootfs"
)

func main() {
	tarball := flag.String("tar", "", "unpack this root filesystem `TARBALL` (tar or tar.gz) instead of building busybox")
	flag.Usage = func() {
		fmt.Fprintln(os.Stderr, "usage: mkrootfs [-tar TARBALL] DIR")
		flag.PrintDefaults()
	}
	flag.Parse()
	if flag.NArg() != 1 {
		flag.Usage()
		os.Exit(2)
	}
	dir := flag.Arg(0)
	var err error
	if *tarball != "" {
		err = rootfs.ImportFile(*tarball, dir)
	} else {
		err = rootfs.Busybox(dir)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "mkrootfs:", err)
		os.Exit(1)
	}
}
