package image_test

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"tincan.dev/pkg/image"
	"tincan.dev/pkg/image/imagetest"
	"tincan.dev/pkg/rootfs"
	"tincan.dev/pkg/testenv"
)

// TestMain builds can (../../09-full) and can-image for can_test.go.
func TestMain(m *testing.M) {
	testenv.Main(m, "can=../../09-full", "can-image=./cmd/can-image")
}

// pull pulls ref into a new DIR and returns DIR.
func pull(t *testing.T, ref string) (string, error) {
	dir := filepath.Join(t.TempDir(), "img")
	_, err := image.Pull(context.Background(), ref, dir, nil)
	return dir, err
}

func TestPullDemo(t *testing.T) {
	testenv.NeedRoot(t)
	reg := imagetest.Serve(t, "127.0.0.1:0", nil)
	imagetest.Push(t, reg+"/tincan/demo:1", imagetest.Demo(t))
	dir, err := pull(t, reg+"/tincan/demo:1")
	require.NoError(t, err)
	requireDemo(t, dir)
	leftovers, _ := filepath.Glob(filepath.Join(dir, ".pull-*"))
	require.Empty(t, leftovers)
	// A second pull into the same DIR is refused, and leaves the first.
	_, err = image.Pull(context.Background(), reg+"/tincan/demo:1", dir, nil)
	require.ErrorContains(t, err, "already holds an image")
	requireDemo(t, dir)
}

// requireDemo checks what imagetest.Demo unpacks to.
func requireDemo(t *testing.T, dir string) {
	t.Helper()
	for _, l := range []string{"0/bin/busybox", "1/srv/www/index.html", "2/srv/cache/new.txt"} {
		require.FileExists(t, filepath.Join(dir, "image", l))
	}
	var st unix.Stat_t
	require.NoError(t, unix.Lstat(filepath.Join(dir, "image/2/etc/motd"), &st))
	require.Equal(t, uint32(unix.S_IFCHR), st.Mode&unix.S_IFMT, "the whiteout of /etc/motd is no character device")
	require.Equal(t, uint64(0), st.Rdev)
	v := make([]byte, 4)
	n, err := unix.Lgetxattr(filepath.Join(dir, "image/2/srv/cache"), rootfs.OpaqueXattr(), v)
	require.NoError(t, err, "/srv/cache is not opaque")
	require.Equal(t, "y", string(v[:n]))
	link, err := os.Readlink(filepath.Join(dir, "image/1/srv/current"))
	require.NoError(t, err)
	require.Equal(t, "www", link)
	var a, b unix.Stat_t
	require.NoError(t, unix.Stat(filepath.Join(dir, "image/1/srv/www/index.html"), &a))
	require.NoError(t, unix.Stat(filepath.Join(dir, "image/1/srv/www/index.htm"), &b))
	require.Equal(t, a.Ino, b.Ino, "the hard link is a copy")
	cfg, err := os.ReadFile(filepath.Join(dir, "image.json"))
	require.NoError(t, err)
	require.Contains(t, string(cfg), `"WorkingDir":"/srv"`)
}

// An index lists one image per platform: the host's is pulled.
func TestPullPicksHostPlatform(t *testing.T) {
	testenv.NeedRoot(t)
	other := v1.Platform{OS: "linux", Architecture: "arm64"}
	if runtime.GOARCH == "arm64" {
		other.Architecture = "amd64"
	}
	mark := func(s string) v1.Image {
		img := imagetest.Image(t, v1.Config{}, imagetest.Layer(t, imagetest.Entry{Name: "platform", Body: s}))
		if s == "other" {
			cf, err := img.ConfigFile()
			require.NoError(t, err)
			cf = cf.DeepCopy()
			cf.Architecture = other.Architecture
			img, err = mutate.ConfigFile(img, cf)
			require.NoError(t, err)
		}
		return img
	}
	host := image.Host()
	// The other platform first: a client that takes the first entry fails.
	idx := mutate.AppendManifests(empty.Index,
		mutate.IndexAddendum{Add: mark("other"), Descriptor: v1.Descriptor{Platform: &other}},
		mutate.IndexAddendum{Add: mark("host"), Descriptor: v1.Descriptor{Platform: &host}})
	reg := imagetest.Serve(t, "127.0.0.1:0", nil)
	ref, err := name.ParseReference(reg + "/tincan/multi:1")
	require.NoError(t, err)
	require.NoError(t, remote.WriteIndex(ref, idx))

	dir, err := pull(t, ref.String())
	require.NoError(t, err)
	b, err := os.ReadFile(filepath.Join(dir, "image/0/platform"))
	require.NoError(t, err)
	require.Equal(t, "host", string(b))

	// A single image for another platform is refused, not unpacked.
	imagetest.Push(t, reg+"/tincan/other:1", mark("other"))
	dir, err = pull(t, reg+"/tincan/other:1")
	require.ErrorContains(t, err, "the image is for linux/"+other.Architecture)
	require.NoDirExists(t, dir)
}

// A registry (or a man in the middle) that serves other bytes than the
// digest names: the pull fails and leaves nothing.
func TestPullRefusesWrongDigest(t *testing.T) {
	testenv.NeedRoot(t)
	good := imagetest.Layer(t, imagetest.Entry{Name: "file", Body: "the real one\n"})
	evil := imagetest.Layer(t, imagetest.Entry{Name: "file", Body: "swapped in\n"})
	goodDigest, err := good.Digest()
	require.NoError(t, err)
	swap := func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Method == http.MethodGet && strings.HasSuffix(r.URL.Path, "/blobs/"+goodDigest.String()) {
				rc, _ := evil.Compressed()
				defer rc.Close()
				io.Copy(w, rc) // a valid layer, only not the one named
				return
			}
			next.ServeHTTP(w, r)
		})
	}
	reg := imagetest.Serve(t, "127.0.0.1:0", swap)
	imagetest.Push(t, reg+"/tincan/swapped:1", imagetest.Image(t, v1.Config{}, good))
	dir, err := pull(t, reg+"/tincan/swapped:1")
	require.Error(t, err)
	require.Contains(t, err.Error(), "sha256", "refused, but not for its digest: %v", err)
	require.NoDirExists(t, dir, "a layer with the wrong digest was left behind")
}

// A layer that writes, or whites out, through a symlink to an absolute path
// outside: the path is resolved inside DIR (openat2 RESOLVE_IN_ROOT), where
// the container will see it, and nothing outside changes.
func TestPullResolvesSymlinksInside(t *testing.T) {
	testenv.NeedRoot(t)
	reg := imagetest.Serve(t, "127.0.0.1:0", nil)
	outside := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(outside, "victim"), []byte("x"), 0o644))
	ref := reg + "/tincan/through:1"
	imagetest.Push(t, ref, imagetest.Image(t, v1.Config{},
		imagetest.Layer(t,
			imagetest.Entry{Name: "esc", Type: tar.TypeSymlink, Link: outside},
			imagetest.Entry{Name: "esc/pwned", Body: "x"},
			imagetest.Entry{Name: "esc/.wh.victim"})))
	dir, err := pull(t, ref)
	require.NoError(t, err)
	require.FileExists(t, filepath.Join(dir, "image/0", outside, "pwned"), "written where the container sees esc/pwned")
	ents, _ := os.ReadDir(outside)
	require.Len(t, ents, 1, "the layer wrote outside DIR")
	require.FileExists(t, filepath.Join(outside, "victim"), "the whiteout deleted a file outside DIR")
}

// Hostile layers: each must be refused and leave nothing, here or outside.
// (Writing through a symlink that points outside is not refused: the path is
// resolved inside DIR, as containerd does; TestPullResolvesSymlinksInside.)
func TestPullRefusesHostileLayers(t *testing.T) {
	testenv.NeedRoot(t)
	reg := imagetest.Serve(t, "127.0.0.1:0", nil)
	outside := t.TempDir()
	for name, entries := range map[string][]imagetest.Entry{
		"dotdot":             {{Name: "../../../../" + outside + "/pwned", Body: "x"}},
		"escaping hard link": {{Name: "passwd", Type: tar.TypeLink, Link: "../../../../etc/passwd"}},
		"hard link through a symlink": {
			{Name: "esc", Type: tar.TypeSymlink, Link: "/"},
			{Name: "h", Type: tar.TypeLink, Link: "esc/etc/passwd"},
		},
	} {
		t.Run(name, func(t *testing.T) {
			ref := reg + "/tincan/hostile:" + strings.ReplaceAll(name, " ", "-")
			// A good layer first: it must not survive the bad one.
			imagetest.Push(t, ref, imagetest.Image(t, v1.Config{},
				imagetest.Layer(t, imagetest.Entry{Name: "ok", Body: "fine"}),
				imagetest.Layer(t, entries...)))
			dir, err := pull(t, ref)
			require.Error(t, err)
			require.NoDirExists(t, dir)
			ents, _ := os.ReadDir(outside)
			require.Empty(t, ents, "the layer wrote outside DIR")
		})
	}
}

// docker save, an OCI layout directory and an OCI archive of it.
func TestImportFormats(t *testing.T) {
	testenv.NeedRoot(t)
	img := imagetest.Demo(t)
	tmp := t.TempDir()

	save := filepath.Join(tmp, "save.tar")
	tag, err := name.NewTag("tincan/demo:1")
	require.NoError(t, err)
	require.NoError(t, tarball.WriteToFile(save, tag, img))

	oci := filepath.Join(tmp, "oci")
	p, err := layout.Write(oci, empty.Index)
	require.NoError(t, err)
	require.NoError(t, p.AppendImage(img))

	archive := filepath.Join(tmp, "oci.tar")
	out, err := exec.Command("tar", "-C", oci, "-cf", archive, ".").CombinedOutput()
	require.NoError(t, err, string(out))

	for _, file := range []string{save, oci, archive} {
		t.Run(filepath.Base(file), func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "img")
			got, err := image.Import(context.Background(), file, dir)
			require.NoError(t, err)
			require.Equal(t, 3, got.Layers)
			requireDemo(t, dir)
		})
	}
}

// Files on disk are as untrusted as a registry, and go-containerregistry's
// layout reader checks no digest: each check of unpack has a case that only
// it catches.
func TestImportRefusesWrongDigest(t *testing.T) {
	testenv.NeedRoot(t)
	layer := imagetest.Layer(t, imagetest.Entry{Name: "file", Body: "the real one\n"})
	img := imagetest.Image(t, v1.Config{Cmd: []string{"true"}}, layer)
	d, err := layer.Digest()
	require.NoError(t, err)
	cd, err := img.ConfigName()
	require.NoError(t, err)
	blob := func(l v1.Layer) []byte {
		rc, err := l.Compressed()
		require.NoError(t, err)
		defer rc.Close()
		b, err := io.ReadAll(rc)
		require.NoError(t, err)
		return b
	}
	evil := blob(imagetest.Layer(t, imagetest.Entry{Name: "file", Body: "swapped in\n"}))
	// The same tar, compressed otherwise: only the blob's digest differs.
	rc, err := layer.Uncompressed()
	require.NoError(t, err)
	var same bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&same, gzip.BestCompression)
	_, err = io.Copy(zw, rc)
	require.NoError(t, err)
	require.NoError(t, zw.Close())
	require.NotEqual(t, blob(layer), same.Bytes())
	raw, err := img.RawConfigFile()
	require.NoError(t, err)

	ociWith := func(hex string, b []byte) string {
		oci := filepath.Join(t.TempDir(), "oci")
		p, err := layout.Write(oci, empty.Index)
		require.NoError(t, err)
		require.NoError(t, p.AppendImage(img))
		require.NoError(t, os.WriteFile(filepath.Join(oci, "blobs/sha256", hex), b, 0o644))
		return oci
	}
	for _, tc := range []struct{ name, file, want string }{
		{"oci swapped layer", ociWith(d.Hex, evil), "digest mismatch"},
		{"oci recompressed layer", ociWith(d.Hex, same.Bytes()), "blob: digest mismatch"},
		{"oci config", ociWith(cd.Hex, bytes.Replace(raw, []byte(`"true"`), []byte(`"evil"`), 1)), "config: digest mismatch"},
		{"docker save swapped layer", saveWith(t, img, d.Hex, evil), "diff_id: digest mismatch"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "img")
			_, err := image.Import(context.Background(), tc.file, dir)
			require.ErrorContains(t, err, tc.want)
			require.NoDirExists(t, dir)
		})
	}
}

// saveWith writes img as docker save does, then puts b in place of the
// layer file whose name starts with hex.
func saveWith(t *testing.T, img v1.Image, hex string, b []byte) string {
	var orig bytes.Buffer
	tag, err := name.NewTag("tincan/evil:1")
	require.NoError(t, err)
	require.NoError(t, tarball.Write(tag, img, &orig))
	file := filepath.Join(t.TempDir(), "save.tar")
	f, err := os.Create(file)
	require.NoError(t, err)
	defer f.Close()
	tr, tw := tar.NewReader(&orig), tar.NewWriter(f)
	replaced := false
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		require.NoError(t, err)
		body, err := io.ReadAll(tr)
		require.NoError(t, err)
		if strings.HasPrefix(h.Name, hex) {
			body, h.Size, replaced = b, int64(len(b)), true
		}
		require.NoError(t, tw.WriteHeader(h))
		_, err = tw.Write(body)
		require.NoError(t, err)
	}
	require.NoError(t, tw.Close())
	require.True(t, replaced, "no layer file %s in the tarball", hex)
	return file
}

// The tools people make images with, from Debian's packages: umoci builds
// an OCI layout (with its own whiteout and opaque directory), skopeo turns
// it into an OCI archive and a docker save tarball. Each imports.
func TestImportUmociAndSkopeo(t *testing.T) {
	testenv.NeedRoot(t)
	_, err1 := exec.LookPath("umoci")
	_, err2 := exec.LookPath("skopeo")
	if err1 != nil || err2 != nil {
		t.Skip("needs umoci and skopeo: apt-get install umoci skopeo")
	}
	tmp := t.TempDir()
	oci := filepath.Join(tmp, "oci")
	cache := filepath.Join(tmp, "cache")
	require.NoError(t, os.MkdirAll(filepath.Join(cache, "new"), 0o755))
	for _, args := range [][]string{
		{"init", "--layout", oci},
		{"new", "--image", oci + ":demo"},
		{"insert", "--image", oci + ":demo", testenv.Rootfs(t), "/"},
		{"insert", "--image", oci + ":demo", "--whiteout", "/etc/hosts"},
		{"insert", "--image", oci + ":demo", "--opaque", cache, "/usr"},
		{"config", "--image", oci + ":demo", "--config.cmd", "sh"},
	} {
		out, err := exec.Command("umoci", args...).CombinedOutput()
		require.NoError(t, err, "umoci %v: %s", args, out)
	}
	for _, dst := range []string{"", "oci-archive:" + tmp + "/oci.tar", "docker-archive:" + tmp + "/docker.tar"} {
		file := oci
		if dst != "" {
			out, err := exec.Command("skopeo", "--insecure-policy", "copy", "oci:"+oci+":demo", dst).CombinedOutput()
			require.NoError(t, err, string(out))
			file = strings.SplitN(dst, ":", 2)[1]
		}
		t.Run(filepath.Base(file), func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "img")
			got, err := image.Import(context.Background(), file, dir)
			require.NoError(t, err)
			require.Equal(t, 3, got.Layers)
			require.Equal(t, []string{"sh"}, got.Config.Config.Cmd)
			var st unix.Stat_t
			require.NoError(t, unix.Lstat(filepath.Join(dir, "image/1/etc/hosts"), &st))
			require.Equal(t, uint32(unix.S_IFCHR), st.Mode&unix.S_IFMT, "umoci's whiteout is no whiteout for overlay")
			v := make([]byte, 4)
			_, err = unix.Lgetxattr(filepath.Join(dir, "image/2/usr"), rootfs.OpaqueXattr(), v)
			require.NoError(t, err, "umoci's opaque /usr is not opaque for overlay")
			require.DirExists(t, filepath.Join(dir, "image/2/usr/new"))
		})
	}
}

func TestProgressLine(t *testing.T) {
	testenv.NeedRoot(t)
	reg := imagetest.Serve(t, "127.0.0.1:0", nil)
	imagetest.Push(t, reg+"/tincan/demo:1", imagetest.Demo(t))
	var buf bytes.Buffer
	_, err := image.Pull(context.Background(), reg+"/tincan/demo:1", filepath.Join(t.TempDir(), "img"), &buf)
	require.NoError(t, err)
	require.Regexp(t, `\rdownloading layers: [0-9.]+ MB / [0-9.]+ MB  100%  [0-9.]+ MB/s\x1b\[K\n$`, buf.String())

	f, err := os.CreateTemp(t.TempDir(), "stderr")
	require.NoError(t, err)
	require.Nil(t, image.Terminal(f), "a file is taken for a terminal: the progress line would fill logs")
}
