package main

import (
	"archive/tar"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/stretchr/testify/require"

	"tincan.dev/pkg/image/imagetest"
	"tincan.dev/pkg/testenv"
)

// serveDemo serves imagetest.Demo as localhost:5000/tincan/demo:1 for
// testdata/image.ct. A fixed port is safe: privileged tests run in a network
// namespace of their own (pkg/testenv), where nothing else listens.
func serveDemo(t *testing.T) {
	reg := imagetest.Serve(t, "127.0.0.1:5000", nil)
	imagetest.Push(t, reg+"/tincan/demo:1", imagetest.Demo(t))
}

// The whole story: pull, run with the image's defaults, override them,
// commit on top.
func TestPullRunCommit(t *testing.T) {
	testenv.NeedRoot(t)
	reg := imagetest.Serve(t, "127.0.0.1:0", nil)
	imagetest.Push(t, reg+"/tincan/demo:1", imagetest.Demo(t))
	dir := filepath.Join(t.TempDir(), "demo")
	r := can(t, "pull", reg+"/tincan/demo:1", "--fs", dir)
	require.Equal(t, 0, r.Code, r.Stderr)
	require.Empty(t, r.Stderr, "a progress line when stderr is no terminal")
	require.Contains(t, r.Stdout, ": 3 layers in "+dir+"/image")

	// The image's Cmd, with its Env and WorkingDir; /srv/cache is opaque in
	// the top layer, so the old.txt below is hidden; current is a symlink.
	r = can(t, "--fs", dir)
	require.Equal(t, 0, r.Code, r.Stderr)
	require.Equal(t, "hello from an image, in /srv\nnew.txt\n<h1>hello</h1>\n", r.Stdout)

	r = can(t, "--fs", dir, "--", "sh", "-c", "stat -c %h www/index.html; cat /etc/motd")
	require.Equal(t, "2\n", r.Stdout, "the hard link is lost")
	require.Contains(t, r.Stderr, "can't open '/etc/motd': No such file or directory", "the whiteout did not delete /etc/motd")

	// Flags win, as with docker run.
	r = can(t, "--fs", dir, "-e", "GREETING=hi", "-w", "/etc", "--", "sh", "-c", `echo "$GREETING $(pwd) $PATH"`)
	require.Equal(t, "hi /etc /usr/sbin:/usr/bin:/sbin:/bin\n", r.Stdout, r.Stderr)
	r = can(t, "--fs", dir, "--entrypoint", "echo")
	require.Equal(t, "\n", r.Stdout, "--entrypoint must drop the image's Cmd: %s", r.Stderr)
	r = can(t, "--fs", dir, "--entrypoint", "echo", "--", "a", "b")
	require.Equal(t, "a b\n", r.Stdout, r.Stderr)

	r = can(t, "--fs", dir, "--", "sh", "-c", "echo note > note.txt")
	require.Equal(t, 0, r.Code, r.Stderr)
	r = can(t, "commit", "--fs", dir)
	require.Equal(t, 0, r.Code, r.Stderr)
	require.Equal(t, "committed: the container layer is now image/3\n", r.Stdout)
	r = can(t, "--fs", dir, "--", "cat", "note.txt", "cache/new.txt")
	require.Equal(t, "note\nfresh\n", r.Stdout, r.Stderr)
}

// A hostile image: can pull fails with one line, and DIR is not made.
func TestPullHostileLeavesNothing(t *testing.T) {
	testenv.NeedRoot(t)
	reg := imagetest.Serve(t, "127.0.0.1:0", nil)
	outside := t.TempDir()
	imagetest.Push(t, reg+"/tincan/hostile:1", imagetest.Image(t, v1.Config{},
		imagetest.Busybox(t),
		imagetest.Layer(t,
			imagetest.Entry{Name: "esc", Type: tar.TypeSymlink, Link: outside},
			imagetest.Entry{Name: "esc/pwned", Body: "x"})))
	dir := filepath.Join(t.TempDir(), "hostile")
	r := can(t, "pull", reg+"/tincan/hostile:1", "--fs", dir)
	require.Equal(t, 125, r.Code)
	require.Equal(t, 1, strings.Count(r.Stderr, "\n"), "want one line: %q", r.Stderr)
	require.Contains(t, r.Stderr, `can: layer 2 of 2: tar entry "esc/pwned"`)
	require.NoDirExists(t, dir)
	ents, _ := os.ReadDir(outside)
	require.Empty(t, ents)

	r = can(t, "pull", "--fs", dir)
	require.Equal(t, 125, r.Code)
	require.Equal(t, "can: usage: can pull REF --fs DIR\n", r.Stderr)
}

func TestImportRun(t *testing.T) {
	testenv.NeedRoot(t)
	save := filepath.Join(t.TempDir(), "demo.tar")
	tag, err := name.NewTag("tincan/demo:1")
	require.NoError(t, err)
	require.NoError(t, tarball.WriteToFile(save, tag, imagetest.Demo(t)))
	dir := filepath.Join(t.TempDir(), "demo")
	r := can(t, "import", save, "--fs", dir)
	require.Equal(t, 0, r.Code, r.Stderr)
	r = can(t, "--fs", dir)
	require.Equal(t, "hello from an image, in /srv\nnew.txt\n<h1>hello</h1>\n", r.Stdout, r.Stderr)
}

// --user and the image's User: the ids, the groups of /etc/group, and no
// capabilities left for a user that is not root.
func TestUser(t *testing.T) {
	testenv.NeedRoot(t)
	root := rootWithProbe(t)
	f, err := os.OpenFile(filepath.Join(root, "etc/group"), os.O_APPEND|os.O_WRONLY, 0)
	require.NoError(t, err)
	_, err = f.WriteString("staff:x:50:nobody\n")
	require.NoError(t, err)
	require.NoError(t, f.Close())
	const show = `echo $(id -u) $(id -g); grep -e Groups -e CapPrm -e CapEff /proc/self/status`
	for _, tc := range []struct {
		args []string
		want string
	}{
		// nobody's groups are exactly its /etc/group ones: root's are gone.
		{[]string{"--user", "nobody"}, "65534 65534\nGroups:\t50 \nCapPrm:\t0000000000000000\nCapEff:\t0000000000000000\n"},
		{[]string{"--user", "1000:1000"}, "1000 1000\nGroups:\t \nCapPrm:\t0000000000000000\nCapEff:\t0000000000000000\n"},
		{[]string{"--user", "1000"}, "1000 0\nGroups:\t \nCapPrm:\t0000000000000000\nCapEff:\t0000000000000000\n"},
		{[]string{"--user", "nobody:staff", "--init"}, "65534 50\nGroups:\t50 \nCapPrm:\t0000000000000000\nCapEff:\t0000000000000000\n"},
		{[]string{"--user", "0"}, "0 0\nGroups:\t \nCapPrm:\t00000000a80425fb\nCapEff:\t00000000a80425fb\n"},
	} {
		r := can(t, append(append([]string{"--chroot", root}, tc.args...), "--", "sh", "-c", show)...)
		require.Equal(t, 0, r.Code, "%v: %s", tc.args, r.Stderr)
		require.Equal(t, tc.want, r.Stdout, "%v", tc.args)
	}
	r := can(t, "--chroot", root, "--user", "nosuch", "true")
	require.Equal(t, 125, r.Code)
	require.Equal(t, "can: --user nosuch: no user \"nosuch\" in the container's /etc/passwd: give a number, or add the user to the image\n", r.Stderr)

	// The image's User is the default; --user wins.
	reg := imagetest.Serve(t, "127.0.0.1:0", nil)
	imagetest.Push(t, reg+"/tincan/user:1", imagetest.Image(t, v1.Config{User: "nobody", Cmd: []string{"id", "-u"}}, imagetest.Busybox(t)))
	dir := filepath.Join(t.TempDir(), "user")
	r = can(t, "pull", reg+"/tincan/user:1", "--fs", dir)
	require.Equal(t, 0, r.Code, r.Stderr)
	r = can(t, "--fs", dir)
	require.Equal(t, "65534\n", r.Stdout, r.Stderr)
	r = can(t, "--fs", dir, "--user", "0")
	require.Equal(t, "0\n", r.Stdout, r.Stderr)
}
