package rootfs

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/stretchr/testify/require"
)

func needBusybox(t testing.TB) {
	if _, err := os.Stat(BusyboxPath); err != nil {
		t.Skip("needs busybox-static: apt-get install busybox-static")
	}
}

func TestBusybox(t *testing.T) {
	needBusybox(t)
	dir := filepath.Join(t.TempDir(), "rootfs")
	require.NoError(t, Busybox(dir))

	for _, d := range []string{"proc", "sys", "dev", "etc", "root", "tmp"} {
		fi, err := os.Stat(filepath.Join(dir, d))
		require.NoError(t, err)
		require.True(t, fi.IsDir(), d)
	}
	fi, err := os.Stat(filepath.Join(dir, "tmp"))
	require.NoError(t, err)
	require.Equal(t, os.ModeDir|os.ModeSticky|0o777, fi.Mode(), "/tmp must be 1777")

	for _, applet := range []string{"bin/sh", "bin/ls", "usr/bin/head", "sbin/ifconfig"} {
		target, err := os.Readlink(filepath.Join(dir, applet))
		require.NoError(t, err, applet)
		require.Equal(t, "/bin/busybox", target)
	}
	// The copy runs, and knows itself as the applet it is called as.
	out, err := exec.Command(filepath.Join(dir, "bin/busybox"), "echo", "hi").Output()
	require.NoError(t, err)
	require.Equal(t, "hi\n", string(out))

	passwd, err := os.ReadFile(filepath.Join(dir, "etc/passwd"))
	require.NoError(t, err)
	require.True(t, strings.HasPrefix(string(passwd), "root:x:0:0:"))
	require.NoError(t, Check(dir, "/bin/sh", "/etc/hosts"))
}

func TestBusyboxRefusesNonEmptyDir(t *testing.T) {
	needBusybox(t)
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "keep"), nil, 0o644))
	require.ErrorContains(t, Busybox(dir), "is not an empty directory")
}

// BenchmarkBusybox measures a whole build; the goal is well under 2 s.
func BenchmarkBusybox(b *testing.B) {
	needBusybox(b)
	for i := 0; i < b.N; i++ {
		dir := filepath.Join(b.TempDir(), "rootfs")
		if err := Busybox(dir); err != nil {
			b.Fatal(err)
		}
	}
}

func TestCheck(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "file")
	require.NoError(t, os.WriteFile(file, nil, 0o644))
	require.ErrorContains(t, Check(filepath.Join(dir, "nosuch")), "no such directory: make rootfs")
	require.ErrorContains(t, Check(file), "not a directory")
	require.ErrorContains(t, Check(dir, "/bin/sh"), "has no /bin/sh")

	// /bin/sh -> /bin/busybox must be resolved inside dir: the host's
	// /bin/busybox does not count.
	require.NoError(t, os.MkdirAll(filepath.Join(dir, "bin"), 0o755))
	require.NoError(t, os.Symlink("/bin/busybox", filepath.Join(dir, "bin/sh")))
	require.ErrorContains(t, Check(dir, "/bin/sh"), "has no /bin/sh")
	require.NoError(t, os.WriteFile(filepath.Join(dir, "bin/busybox"), nil, 0o755))
	require.NoError(t, Check(dir, "/bin/sh"))
}

// entry is one tar header, and the body of a regular file.
type entry struct {
	h    tar.Header
	body string
}

func tarball(t *testing.T, gz bool, entries ...entry) *bytes.Buffer {
	var buf bytes.Buffer
	var w *tar.Writer
	var zw *gzip.Writer
	if gz {
		zw = gzip.NewWriter(&buf)
		w = tar.NewWriter(zw)
	} else {
		w = tar.NewWriter(&buf)
	}
	for _, e := range entries {
		h := e.h
		h.Size = int64(len(e.body))
		if h.Mode == 0 {
			h.Mode = 0o644
		}
		require.NoError(t, w.WriteHeader(&h))
		_, err := w.Write([]byte(e.body))
		require.NoError(t, err)
	}
	require.NoError(t, w.Close())
	if zw != nil {
		require.NoError(t, zw.Close())
	}
	return &buf
}

func dirEntry(name string, mode int64) entry {
	return entry{h: tar.Header{Typeflag: tar.TypeDir, Name: name, Mode: mode}}
}
func fileEntry(name, body string, mode int64) entry {
	return entry{h: tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: mode}, body: body}
}
func linkEntry(typ byte, name, target string) entry {
	return entry{h: tar.Header{Typeflag: typ, Name: name, Linkname: target, Mode: 0o777}}
}

// An alpine-minirootfs-like archive: "./" names, a read-only directory that
// is listed before its files, an absolute symlink, a hard link, a device node
// (skipped), gzip or not.
func TestImport(t *testing.T) {
	for _, gz := range []bool{false, true} {
		dir := filepath.Join(t.TempDir(), "rootfs")
		tb := tarball(t, gz,
			dirEntry("./", 0o755),
			dirEntry("./bin/", 0o555),
			fileEntry("./bin/busybox", "#!busybox", 0o755),
			linkEntry(tar.TypeSymlink, "./bin/sh", "/bin/busybox"),
			linkEntry(tar.TypeLink, "./bin/ash", "./bin/busybox"),
			fileEntry("./etc/motd", "hello\n", 0o644), // parent not listed
			fileEntry("./usr/bin/su", "", 0o4755),
			entry{h: tar.Header{Typeflag: tar.TypeChar, Name: "./dev/console", Devmajor: 5, Devminor: 1, Mode: 0o600}},
		)
		require.NoError(t, Import(tb, dir))
		// bin/ is 0555, as the tarball says: root removes its files anyway,
		// a user running the tests needs it writable again for TempDir.
		t.Cleanup(func() { os.Chmod(filepath.Join(dir, "bin"), 0o755) })

		b, err := os.ReadFile(filepath.Join(dir, "etc/motd"))
		require.NoError(t, err)
		require.Equal(t, "hello\n", string(b))
		target, err := os.Readlink(filepath.Join(dir, "bin/sh"))
		require.NoError(t, err)
		require.Equal(t, "/bin/busybox", target)
		a, err := os.Stat(filepath.Join(dir, "bin/ash"))
		require.NoError(t, err)
		bb, err := os.Stat(filepath.Join(dir, "bin/busybox"))
		require.NoError(t, err)
		require.True(t, os.SameFile(a, bb), "bin/ash is not a hard link to bin/busybox")
		require.Equal(t, os.FileMode(0o755), bb.Mode())
		fi, err := os.Stat(filepath.Join(dir, "bin"))
		require.NoError(t, err)
		require.Equal(t, os.ModeDir|0o555, fi.Mode())
		fi, err = os.Stat(filepath.Join(dir, "usr/bin/su"))
		require.NoError(t, err)
		require.Equal(t, os.ModeSetuid|0o755, fi.Mode())
		_, err = os.Lstat(filepath.Join(dir, "dev/console"))
		require.ErrorIs(t, err, os.ErrNotExist, "a device node was created")
		require.NoError(t, Check(dir, "/bin/sh"))
	}
}

// A hostile tarball tries every way out of the target directory. None may
// touch anything outside it.
func TestImportHostile(t *testing.T) {
	outside := t.TempDir()                     // stands for the host: nothing may change here
	inside := strings.TrimPrefix(outside, "/") // the same path, in the rootfs
	secret := filepath.Join(outside, "secret")
	require.NoError(t, os.WriteFile(secret, []byte("host secret"), 0o600))

	for _, tc := range []struct {
		name    string
		entries []entry
		refused string // error text; "" when the archive is accepted, harmlessly
	}{
		{"dot-dot", []entry{fileEntry("../pwned", "x", 0o644)}, `".." refused`},
		{"dot-dot inside", []entry{fileEntry("bin/../../pwned", "x", 0o644)}, `".." refused`},
		{"absolute", []entry{fileEntry(outside+"/pwned", "x", 0o644)}, "absolute name refused"},
		{"hard link with dot-dot", []entry{linkEntry(tar.TypeLink, "hl", "../secret")}, `".." refused`},
		{"hard link absolute", []entry{linkEntry(tar.TypeLink, "hl", secret)}, "absolute name refused"},
		// Through a symlink the archive itself made: resolved inside, as the
		// container would, so the file lands in the rootfs's copy of the
		// directory (which exists in both places, to catch a host lookup)...
		{"through absolute symlink", []entry{
			dirEntry(inside+"/", 0o755),
			linkEntry(tar.TypeSymlink, "link", outside),
			fileEntry("link/pwned", "x", 0o644),
		}, ""},
		{"through relative symlink", []entry{
			dirEntry(inside+"/", 0o755),
			linkEntry(tar.TypeSymlink, "bin/up", "../../../../../../.."+outside),
			fileEntry("bin/up/pwned", "x", 0o644),
		}, ""},
		// ... and made there when the rootfs has no such directory yet.
		{"through dangling symlink", []entry{
			linkEntry(tar.TypeSymlink, "link", outside),
			fileEntry("link/pwned", "x", 0o644),
		}, ""},
		{"overwrite through symlink", []entry{
			linkEntry(tar.TypeSymlink, "s", secret),
			fileEntry("s", "overwritten", 0o644),
		}, ""},
		// A hard link to the host's file, reached through a symlink: the
		// target is looked up inside, where it does not exist.
		{"hard link through symlink", []entry{
			linkEntry(tar.TypeSymlink, "link", outside),
			linkEntry(tar.TypeLink, "hl", "link/secret"),
		}, "no such file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "rootfs")
			err := Import(tarball(t, false, tc.entries...), dir)
			if tc.refused != "" {
				require.ErrorContains(t, err, tc.refused)
				require.NoDirExists(t, dir, "a refused archive left a partial directory")
			} else {
				require.NoError(t, err)
			}
			ents, err := os.ReadDir(outside)
			require.NoError(t, err)
			require.Len(t, ents, 1, "a file was created outside the target")
			b, err := os.ReadFile(secret)
			require.NoError(t, err)
			require.Equal(t, "host secret", string(b), "the host's file was overwritten")
			fi, err := os.Stat(secret)
			require.NoError(t, err)
			require.Equal(t, uint64(1), nlink(fi), "the host's file got a hard link")
			if tc.refused == "" && strings.HasPrefix(tc.name, "through") {
				b, err := os.ReadFile(filepath.Join(dir, inside, "pwned"))
				require.NoError(t, err, "the file did not land inside the rootfs")
				require.Equal(t, "x", string(b))
			}
		})
	}
}

// A failed import leaves the directory as it found it: missing, or empty.
func TestImportFailureLeavesNothing(t *testing.T) {
	bad := func() io.Reader {
		return tarball(t, false, dirEntry("bin/", 0o755), fileEntry("bin/sh", "x", 0o755), fileEntry("../pwned", "x", 0o644))
	}
	dir := filepath.Join(t.TempDir(), "rootfs")
	require.Error(t, Import(bad(), dir))
	require.NoDirExists(t, dir)

	require.NoError(t, os.Mkdir(dir, 0o755))
	require.Error(t, Import(bad(), dir))
	ents, err := os.ReadDir(dir)
	require.NoError(t, err)
	require.Empty(t, ents)
}

func nlink(fi os.FileInfo) uint64 { return uint64(fi.Sys().(*syscall.Stat_t).Nlink) }
