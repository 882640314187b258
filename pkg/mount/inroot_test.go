package mount_test

import (
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"tincan.dev/pkg/mount"
	"tincan.dev/pkg/testenv"
)

// An image whose /dev, /sys, /proc and /dev/mqueue are symlinks to a host
// directory gets its mounts inside its root, where the links lead as the
// container resolves them; the host directory stays empty and unmounted.
func TestMountsStayInRoot(t *testing.T) {
	testenv.NeedRoot(t)
	root, host := t.TempDir(), t.TempDir()
	t.Cleanup(func() { unmountUnder(root) })
	require.NoError(t, os.Symlink(host, filepath.Join(root, "dev")))                               // absolute
	require.NoError(t, os.Symlink(strings.Repeat("../", 20)+host[1:], filepath.Join(root, "sys"))) // climbing
	require.NoError(t, os.Symlink("dev/../../../../p", filepath.Join(root, "proc")))               // to root/p

	require.NoError(t, mount.Dev(root, false))
	require.NoError(t, mount.Mqueue(root))
	require.NoError(t, mount.Sys(root, false))
	proc, err := mount.InRoot(root, "/proc", true)
	require.NoError(t, err)
	err = mount.Proc(proc.Path())
	proc.Close()
	require.NoError(t, err)

	require.Empty(t, mountsUnder(t, host), "a mount landed on the host directory")
	ents, err := os.ReadDir(host)
	require.NoError(t, err)
	require.Empty(t, ents, "something was made in the host directory")
	// /dev and /sys both lead to root/<host>: sysfs went on top of the /dev tmpfs.
	got := mountsUnder(t, root)
	require.Contains(t, got, host+" tmpfs")
	require.Contains(t, got, host+"/mqueue mqueue")
	require.Contains(t, got, host+" sysfs")
	require.Contains(t, got, "/p proc", "proc -> dev/../../../../p is root/p")
}

func TestInRoot(t *testing.T) {
	testenv.NeedRoot(t)
	root := t.TempDir()
	require.NoError(t, os.Symlink("/a/../b", filepath.Join(root, "etc")))
	require.NoError(t, os.Symlink("loop", filepath.Join(root, "loop")))
	require.NoError(t, os.MkdirAll(filepath.Join(root, "b"), 0o755))
	require.NoError(t, os.Symlink("../run/resolv.conf", filepath.Join(root, "b/resolv.conf")))

	// A dangling link to a file: its target is made, inside root.
	f, err := mount.InRoot(root, "/etc/resolv.conf", false)
	require.NoError(t, err)
	p, err := os.Readlink(f.Path())
	f.Close()
	require.NoError(t, err)
	require.Equal(t, filepath.Join(root, "run/resolv.conf"), p)

	// ".." stops at root.
	d, err := mount.InRoot(root, "/../../x/../../y", true)
	require.NoError(t, err)
	p, _ = os.Readlink(d.Path())
	d.Close()
	require.Equal(t, filepath.Join(root, "y"), p)

	_, err = mount.InRoot(root, "/loop/x", true)
	require.ErrorIs(t, err, unix.ELOOP)
}

// Containers started together on one root make the same mount points at
// the same moment (TestBridgeTwentyAtOnce: /etc/resolv.conf, missing from
// busybox): the one that comes second finds the file made, not an error.
func TestInRootTogether(t *testing.T) {
	for round := 0; round < 50; round++ {
		root := t.TempDir()
		start := make(chan struct{})
		errs := make(chan error, 8)
		for i := 0; i < 8; i++ {
			go func() {
				<-start
				f, err := mount.InRoot(root, "/etc/resolv.conf", false)
				if err == nil {
					f.Close()
				}
				errs <- err
			}()
		}
		close(start)
		for i := 0; i < 8; i++ {
			require.NoError(t, <-errs, "round %d", round)
		}
	}
}

// unmountUnder detaches every mount below dir, deepest first.
func unmountUnder(dir string) {
	b, _ := os.ReadFile("/proc/self/mountinfo")
	var mps []string
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) > 4 && (f[4] == dir || strings.HasPrefix(f[4], dir+"/")) {
			mps = append(mps, f[4])
		}
	}
	sort.Sort(sort.Reverse(sort.StringSlice(mps)))
	for _, mp := range mps {
		unix.Unmount(mp, unix.MNT_DETACH)
	}
}
