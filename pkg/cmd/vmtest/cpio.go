package main

import (
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
)

// The kernel unpacks an initramfs from a "newc" cpio archive
// (https://docs.kernel.org/driver-api/early-userspace/buffer-format.html):
// for each file a 110-byte ASCII header of hex fields, the NUL-terminated
// name, the contents, each padded to 4 bytes; a file named TRAILER!!! ends it.
// It is written here rather than with cpio(1), which is not on every machine.
type cpioWriter struct {
	w   io.Writer
	ino uint32
	err error
}

// entry writes one file: mode holds the type bits (S_IFDIR, S_IFREG, ...)
// and the permissions; rdev is a device node's major and minor.
func (c *cpioWriter) entry(name string, mode uint32, data []byte, rdevMajor, rdevMinor uint32) {
	if c.err != nil {
		return
	}
	c.ino++
	nlink := 1
	if mode&unixS_IFMT == unixS_IFDIR {
		nlink = 2
	}
	hdr := fmt.Sprintf("070701%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x",
		c.ino, mode, 0, 0, nlink, 0, len(data), 0, 0, rdevMajor, rdevMinor, len(name)+1, 0)
	c.write([]byte(hdr + name + "\x00"))
	c.pad(len(hdr) + len(name) + 1)
	c.write(data)
	c.pad(len(data))
}

func (c *cpioWriter) write(b []byte) {
	if c.err == nil {
		_, c.err = c.w.Write(b)
	}
}

func (c *cpioWriter) pad(n int) { c.write(make([]byte, (4-n%4)%4)) }

// close writes the trailer.
func (c *cpioWriter) close() error {
	c.entry("TRAILER!!!", 0, nil, 0, 0)
	return c.err
}

// The file type bits of a mode, as stat(2) and cpio spell them.
const (
	unixS_IFMT  = 0o170000
	unixS_IFDIR = 0o040000
	unixS_IFREG = 0o100000
	unixS_IFLNK = 0o120000
	unixS_IFCHR = 0o020000
)

// writeTree adds every file below dir, named relative to it, owned by root.
// Directories come before what they hold, as the kernel creates them in order.
func writeTree(c *cpioWriter, dir string) error {
	var paths []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && p != dir {
			paths = append(paths, p)
		}
		return err
	})
	if err != nil {
		return err
	}
	sort.Strings(paths) // "a" sorts before "a/b"
	for _, p := range paths {
		fi, err := os.Lstat(p)
		if err != nil {
			return err
		}
		name, _ := filepath.Rel(dir, p)
		perm := uint32(fi.Mode().Perm())
		if fi.Mode()&fs.ModeSetuid != 0 {
			perm |= 0o4000
		}
		if fi.Mode()&fs.ModeSticky != 0 {
			perm |= 0o1000
		}
		switch {
		case fi.IsDir():
			c.entry(name, unixS_IFDIR|perm, nil, 0, 0)
		case fi.Mode()&fs.ModeSymlink != 0:
			target, err := os.Readlink(p)
			if err != nil {
				return err
			}
			c.entry(name, unixS_IFLNK|0o777, []byte(target), 0, 0)
		case fi.Mode().IsRegular():
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			c.entry(name, unixS_IFREG|perm, b, 0, 0)
		default:
			return fmt.Errorf("%s: not a file, directory or symlink", p)
		}
	}
	return c.err
}
