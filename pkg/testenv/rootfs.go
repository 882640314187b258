package testenv

import (
	"os"
	"sync"
	"testing"

	"tincan.dev/pkg/rootfs"
)

var rootfsOnce struct {
	sync.Once
	dir string
	err error
}

// Rootfs returns a busybox root filesystem (pkg/rootfs.Busybox), built once
// per test binary in a directory named tincan-test-rootfs-* and removed when
// Main ends. Tests share it: copy it, or build one with rootfs.Busybox, to
// change anything in it. It is world-readable, so the rootless tests (run as
// nobody) can use it too.
func Rootfs(t testing.TB) string {
	t.Helper()
	r := &rootfsOnce
	r.Do(func() {
		r.dir, r.err = os.MkdirTemp("", "tincan-test-rootfs-")
		if r.err != nil {
			return
		}
		atExit = append(atExit, func() { os.RemoveAll(r.dir) })
		if r.err = os.Chmod(r.dir, 0o755); r.err == nil {
			r.err = rootfs.Busybox(r.dir)
		}
	})
	if r.err != nil {
		t.Fatalf("testenv: build the test rootfs: %v", r.err)
	}
	return r.dir
}
