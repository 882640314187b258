package mount_test

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"tincan.dev/pkg/mount"
	"tincan.dev/pkg/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// newRoot makes a directory with the mount points Dev, Sys and Mqueue need,
// and removes whatever a test mounted on it.
func newRoot(t *testing.T) string {
	root := t.TempDir()
	for _, d := range []string{"dev", "sys"} {
		require.NoError(t, os.Mkdir(filepath.Join(root, d), 0o755))
	}
	t.Cleanup(func() {
		for _, d := range []string{"dev", "sys"} {
			unix.Unmount(filepath.Join(root, d), unix.MNT_DETACH)
		}
	})
	return root
}

// mountsUnder lists "mountpoint fstype" for each mount at or below dir, from
// the kernel's own table.
func mountsUnder(t *testing.T, dir string) []string {
	b, err := os.ReadFile("/proc/self/mountinfo")
	require.NoError(t, err)
	var out []string
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		f := strings.Fields(line)
		// mountinfo: id parent major:minor root mountpoint options ... - fstype source super-options
		sep := 6
		for f[sep] != "-" {
			sep++
		}
		if f[4] == dir || strings.HasPrefix(f[4], dir+"/") {
			out = append(out, strings.TrimPrefix(f[4], dir)+" "+f[sep+1])
		}
	}
	return out
}

func TestDev(t *testing.T) {
	testenv.NeedRoot(t)
	for _, userns := range []bool{false, true} {
		root := newRoot(t)
		require.NoError(t, mount.Dev(root, userns))
		want := []string{"/dev tmpfs", "/dev/pts devpts", "/dev/shm tmpfs"}
		if userns { // each node is a bind of the host's, from its devtmpfs
			want = []string{"/dev tmpfs"}
			for _, d := range mount.Devices {
				want = append(want, "/dev/"+d.Name+" devtmpfs")
			}
			want = append(want, "/dev/pts devpts", "/dev/shm tmpfs")
		}
		require.Equal(t, want, mountsUnder(t, root), "userns %v", userns)

		for _, d := range mount.Devices {
			var st unix.Stat_t
			require.NoError(t, unix.Stat(filepath.Join(root, "dev", d.Name), &st))
			require.Equal(t, uint32(unix.S_IFCHR|0o666), st.Mode, d.Name)
			require.Equal(t, unix.Mkdev(d.Major, d.Minor), st.Rdev, d.Name)
		}
		// The nodes work: zero reads zeros, null swallows, full is full.
		b := make([]byte, 4)
		f, err := os.Open(filepath.Join(root, "dev/zero"))
		require.NoError(t, err)
		_, err = f.Read(b)
		f.Close()
		require.NoError(t, err)
		require.Equal(t, []byte{0, 0, 0, 0}, b)
		require.NoError(t, os.WriteFile(filepath.Join(root, "dev/null"), []byte("x"), 0))
		require.ErrorIs(t, os.WriteFile(filepath.Join(root, "dev/full"), []byte("x"), 0), syscall.ENOSPC)

		// A new devpts instance: opening ptmx through the symlink gives a
		// terminal numbered from 0, in this instance, not the host's.
		ptmx, err := os.OpenFile(filepath.Join(root, "dev/ptmx"), os.O_RDWR, 0)
		require.NoError(t, err)
		n, err := unix.IoctlGetInt(int(ptmx.Fd()), unix.TIOCGPTN)
		require.NoError(t, err)
		require.Equal(t, 0, n, "the pty did not come from a new devpts instance")
		ptmx.Close()
		target, err := os.Readlink(filepath.Join(root, "dev/stdout"))
		require.NoError(t, err)
		require.Equal(t, "/proc/self/fd/1", target)
		fi, err := os.Stat(filepath.Join(root, "dev/shm"))
		require.NoError(t, err)
		require.Equal(t, os.ModeDir|os.ModeSticky|0o777, fi.Mode())
	}
}

func TestSysAndMqueue(t *testing.T) {
	testenv.NeedRoot(t)
	for _, userns := range []bool{false, true} {
		root := newRoot(t)
		require.NoError(t, mount.Dev(root, false))
		require.NoError(t, mount.Mqueue(root))
		require.NoError(t, mount.Sys(root, userns))
		mounts := mountsUnder(t, root)
		require.Contains(t, mounts, "/dev/mqueue mqueue")
		require.Contains(t, mounts, "/sys sysfs")
		// Read-only: the kernel says so, and a write is refused.
		var st unix.Statfs_t
		require.NoError(t, unix.Statfs(filepath.Join(root, "sys"), &st))
		require.NotZero(t, st.Flags&unix.ST_RDONLY, "/sys is writable (userns %v)", userns)
		require.ErrorIs(t, os.Mkdir(filepath.Join(root, "sys/tincan-test"), 0o755), syscall.EROFS)
		_, err := os.Stat(filepath.Join(root, "sys/class/net/lo"))
		require.NoError(t, err)
	}
}

func TestNotInUserNamespace(t *testing.T) {
	testenv.NeedRoot(t)
	require.False(t, mount.InUserNamespace())
}

// A masked path under a masked directory is hidden by the time its turn
// comes: Mask goes on (runc's maskPath does), the directory masked, the
// file a bind of /dev/null.
func TestMaskNested(t *testing.T) {
	testenv.NeedRoot(t)
	root := t.TempDir()
	require.NoError(t, os.MkdirAll(filepath.Join(root, "d/sub"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(root, "f"), []byte("secret"), 0o644))
	t.Cleanup(func() {
		for _, p := range []string{"d/sub", "d", "f"} {
			unix.Unmount(filepath.Join(root, p), unix.MNT_DETACH)
		}
	})
	require.NoError(t, mount.Mask([]string{root + "/d", root + "/d/sub", root + "/f"}))
	require.Equal(t, []string{"/d tmpfs", "/f devtmpfs"}, mountsUnder(t, root))
}
