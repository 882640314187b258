// Package imagetest builds images and serves them from an in-process
// registry (go-containerregistry's pkg/registry), for the tests of
// pkg/image and can: no test touches the internet.
package imagetest

import (
	"archive/tar"
	"bytes"
	"io"
	"io/fs"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/stretchr/testify/require"

	"tincan.dev/pkg/image"
	"tincan.dev/pkg/testenv"
)

// Entry is one tar entry of a test layer: a regular file holds Body, a
// symlink or hard link points to Link.
type Entry struct {
	Name string
	Type byte // tar.TypeReg (0 is taken as it), TypeDir, TypeSymlink, TypeLink
	Body string
	Link string
}

// Layer builds a layer from entries.
func Layer(t testing.TB, entries ...Entry) v1.Layer {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		h := &tar.Header{Name: e.Name, Typeflag: e.Type, Linkname: e.Link, Mode: 0o644}
		switch e.Type {
		case 0, tar.TypeReg:
			h.Typeflag, h.Size = tar.TypeReg, int64(len(e.Body))
		case tar.TypeDir:
			h.Mode = 0o755
		}
		require.NoError(t, tw.WriteHeader(h))
		_, err := io.WriteString(tw, e.Body)
		require.NoError(t, err)
	}
	require.NoError(t, tw.Close())
	return fromBytes(t, buf.Bytes())
}

func fromBytes(t testing.TB, b []byte) v1.Layer {
	l, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(b)), nil
	})
	require.NoError(t, err)
	return l
}

// Busybox is testenv's busybox root filesystem as a layer, owned by root.
func Busybox(t testing.TB) v1.Layer {
	t.Helper()
	root := testenv.Rootfs(t)
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil || path == root {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		link, _ := os.Readlink(path)
		h, err := tar.FileInfoHeader(fi, link)
		if err != nil {
			return err
		}
		h.Name, _ = filepath.Rel(root, path)
		h.Uid, h.Gid, h.Uname, h.Gname = 0, 0, "", ""
		if err := tw.WriteHeader(h); err != nil {
			return err
		}
		if fi.Mode().IsRegular() {
			b, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			_, err = tw.Write(b)
			return err
		}
		return nil
	})
	require.NoError(t, err)
	require.NoError(t, tw.Close())
	return fromBytes(t, buf.Bytes())
}

// Image stacks layers (bottom first) into an image for this host, with cfg
// as its run defaults.
func Image(t testing.TB, cfg v1.Config, layers ...v1.Layer) v1.Image {
	t.Helper()
	img, err := mutate.AppendLayers(empty.Image, layers...)
	require.NoError(t, err)
	cf, err := img.ConfigFile()
	require.NoError(t, err)
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture, cf.Config = image.Host().OS, image.Host().Architecture, cfg
	img, err = mutate.ConfigFile(img, cf)
	require.NoError(t, err)
	return img
}

// Demo is the README's image: busybox, then a layer of files, then a layer
// that deletes /etc/motd (a whiteout), makes /srv/cache opaque (the files
// below it are gone, new.txt is there), with a symlink and a hard link.
func Demo(t testing.TB) v1.Image {
	t.Helper()
	app := Layer(t,
		Entry{Name: "etc/motd", Body: "welcome\n"},
		Entry{Name: "srv/", Type: tar.TypeDir},
		Entry{Name: "srv/www/", Type: tar.TypeDir},
		Entry{Name: "srv/www/index.html", Body: "<h1>hello</h1>\n"},
		Entry{Name: "srv/www/index.htm", Type: tar.TypeLink, Link: "srv/www/index.html"},
		Entry{Name: "srv/current", Type: tar.TypeSymlink, Link: "www"},
		Entry{Name: "srv/cache/", Type: tar.TypeDir},
		Entry{Name: "srv/cache/old.txt", Body: "stale\n"},
	)
	update := Layer(t,
		Entry{Name: "etc/.wh.motd"},
		Entry{Name: "srv/cache/", Type: tar.TypeDir},
		Entry{Name: "srv/cache/.wh..wh..opq"},
		Entry{Name: "srv/cache/new.txt", Body: "fresh\n"},
	)
	return Image(t, v1.Config{
		Env:        []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "GREETING=hello from an image"},
		WorkingDir: "/srv",
		Cmd:        []string{"sh", "-c", `echo "$GREETING, in $(pwd)"; ls cache; cat current/index.html`},
	}, Busybox(t), app, update)
}

// Serve starts an in-process registry on addr ("127.0.0.1:0" for any port),
// stopped when t ends, and returns its host:port. wrap, if not nil, sits in
// front of it (to serve what a real registry would not).
func Serve(t testing.TB, addr string, wrap func(http.Handler) http.Handler) string {
	t.Helper()
	var h http.Handler = registry.New(registry.Logger(discard()))
	if wrap != nil {
		h = wrap(h)
	}
	l, err := net.Listen("tcp", addr)
	require.NoError(t, err)
	s := httptest.NewUnstartedServer(h)
	s.Listener.Close()
	s.Listener = l
	s.Start()
	t.Cleanup(s.Close)
	return strings.TrimPrefix(s.URL, "http://")
}

// Push puts img in the registry under ref.
func Push(t testing.TB, ref string, img v1.Image) {
	t.Helper()
	r, err := name.ParseReference(ref)
	require.NoError(t, err)
	require.NoError(t, remote.Write(r, img))
}

func discard() *log.Logger { return log.New(io.Discard, "", 0) }
