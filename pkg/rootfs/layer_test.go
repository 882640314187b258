package rootfs

import (
	"archive/tar"
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// layerTar writes a tar stream of the given headers (regular files get
// their Linkname as content, to keep the table short).
func layerTar(t *testing.T, hs ...tar.Header) *bytes.Buffer {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, h := range hs {
		if h.Mode == 0 {
			h.Mode = 0o755
		}
		var body []byte
		if h.Typeflag == tar.TypeReg {
			body = []byte(h.Linkname)
			h.Linkname, h.Size = "", int64(len(body))
		}
		require.NoError(t, tw.WriteHeader(&h))
		_, err := tw.Write(body)
		require.NoError(t, err)
	}
	require.NoError(t, tw.Close())
	return &buf
}

func TestImportLayerWhiteouts(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "layer")
	err := ImportLayer(layerTar(t,
		tar.Header{Name: "etc/", Typeflag: tar.TypeDir},
		tar.Header{Name: "etc/.wh.motd", Typeflag: tar.TypeReg},
		tar.Header{Name: "var/cache/.wh..wh..opq", Typeflag: tar.TypeReg},
		tar.Header{Name: "var/cache/new", Typeflag: tar.TypeReg, Linkname: "new\n"},
		// Whiteouts never hide their own layer: keep/ stays, made opaque;
		// file stays as it is.
		tar.Header{Name: ".wh.keep", Typeflag: tar.TypeReg},
		tar.Header{Name: "keep/", Typeflag: tar.TypeDir},
		tar.Header{Name: "file", Typeflag: tar.TypeReg, Linkname: "mine"},
		tar.Header{Name: ".wh.file", Typeflag: tar.TypeReg},
		// umoci writes rooted names: they are the layer's, as for docker.
		tar.Header{Name: "/rooted", Typeflag: tar.TypeReg, Linkname: "in the layer"},
	), dir)
	if os.Geteuid() != 0 && err != nil {
		t.Skipf("as a user the test's filesystem must take user xattrs: %v", err)
	}
	require.NoError(t, err)

	var st unix.Stat_t
	require.NoError(t, unix.Lstat(filepath.Join(dir, "etc/motd"), &st))
	require.Equal(t, uint32(unix.S_IFCHR), st.Mode&unix.S_IFMT, ".wh.motd did not become a character device")
	require.Equal(t, uint64(0), st.Rdev, "a whiteout is device 0/0")
	require.NoFileExists(t, filepath.Join(dir, "etc/.wh.motd"))

	for _, d := range []string{"var/cache", "keep"} {
		v := make([]byte, 8)
		n, err := unix.Lgetxattr(filepath.Join(dir, d), OpaqueXattr(), v)
		require.NoError(t, err, "%s is not opaque", d)
		require.Equal(t, "y", string(v[:n]))
	}
	b, err := os.ReadFile(filepath.Join(dir, "var/cache/new"))
	require.NoError(t, err)
	require.Equal(t, "new\n", string(b), "an opaque directory keeps its own layer's files")
	b, err = os.ReadFile(filepath.Join(dir, "file"))
	require.NoError(t, err)
	require.Equal(t, "mine", string(b))
	require.FileExists(t, filepath.Join(dir, "rooted"))
}

// Writing or whiting out through a symlink that points outside lands inside
// the layer, where the container will see the path (RESOLVE_IN_ROOT).
func TestImportLayerResolvesSymlinksInside(t *testing.T) {
	outside := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(outside, "victim"), []byte("x"), 0o644))
	dir := filepath.Join(t.TempDir(), "layer")
	require.NoError(t, ImportLayer(layerTar(t,
		tar.Header{Name: "esc", Typeflag: tar.TypeSymlink, Linkname: outside},
		tar.Header{Name: "esc/pwned", Typeflag: tar.TypeReg},
		tar.Header{Name: "esc/.wh.victim", Typeflag: tar.TypeReg},
	), dir))
	require.FileExists(t, filepath.Join(dir, outside, "pwned"))
	ents, _ := os.ReadDir(outside)
	require.Len(t, ents, 1, "the layer wrote outside its directory")
	require.FileExists(t, filepath.Join(outside, "victim"), "a whiteout removed a file outside")
}

// A layer is untrusted input: the same refusals as Import, whiteouts included.
func TestImportLayerRefusesEscapes(t *testing.T) {
	outside := t.TempDir()
	for name, hs := range map[string][]tar.Header{
		"dotdot":        {{Name: "../x", Typeflag: tar.TypeReg}},
		"rooted dotdot": {{Name: "/../x", Typeflag: tar.TypeReg}},
		"whiteout up":   {{Name: "a/../../.wh.x", Typeflag: tar.TypeReg}},
		"whiteout dots": {{Name: "a/.wh...", Typeflag: tar.TypeReg}},
		"hardlink up":   {{Name: "h", Typeflag: tar.TypeLink, Linkname: "../../etc/passwd"}},
		"hardlink through symlink": {
			{Name: "esc", Typeflag: tar.TypeSymlink, Linkname: "/"},
			{Name: "h", Typeflag: tar.TypeLink, Linkname: "esc/etc/passwd"},
		},
	} {
		t.Run(name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "layer")
			require.Error(t, ImportLayer(layerTar(t, hs...), dir))
			ents, _ := os.ReadDir(outside)
			require.Empty(t, ents, "the layer wrote outside its directory")
		})
	}
}
