package image_test

import (
	"os"
	"os/exec"
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

// can's side of the story: pull and import through can, then run what they
// made with can --fs. These tests live here, not in 09-full, so that only this
// module needs go-containerregistry's Go 1.25 (README.md, "Go versions").

// canBin is the can under test, built from ../../09-full by TestMain.
func canBin() string { return filepath.Join(testenv.Bin, "can") }

func can(t *testing.T, args ...string) testenv.Result {
	t.Helper()
	return testenv.Run(t, exec.Command(canBin(), args...))
}

// TestTranscripts runs testdata/image.ct, the transcript that 09-full's
// README shows.
func TestTranscripts(t *testing.T) {
	testenv.NeedRoot(t)
	serveDemo(t)
	testenv.Transcripts(t, "can")
}

func TestREADMEShowsTranscripts(t *testing.T) {
	testenv.DocumentedTranscripts(t, "../../09-full/README.md")
}

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
			imagetest.Entry{Name: "../../../../" + outside + "/pwned", Body: "x"})))
	dir := filepath.Join(t.TempDir(), "hostile")
	r := can(t, "pull", reg+"/tincan/hostile:1", "--fs", dir)
	require.Equal(t, 125, r.Code)
	require.Equal(t, 1, strings.Count(r.Stderr, "\n"), "want one line: %q", r.Stderr)
	require.Contains(t, r.Stderr, `can: layer 2 of 2: tar entry "../../../../`)
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

// The image's User is the default; --user wins (09-full's TestUser tests
// --user itself).
func TestImageUser(t *testing.T) {
	testenv.NeedRoot(t)
	reg := imagetest.Serve(t, "127.0.0.1:0", nil)
	imagetest.Push(t, reg+"/tincan/user:1", imagetest.Image(t, v1.Config{User: "nobody", Cmd: []string{"id", "-u"}}, imagetest.Busybox(t)))
	dir := filepath.Join(t.TempDir(), "user")
	r := can(t, "pull", reg+"/tincan/user:1", "--fs", dir)
	require.Equal(t, 0, r.Code, r.Stderr)
	r = can(t, "--fs", dir)
	require.Equal(t, "65534\n", r.Stdout, r.Stderr)
	r = can(t, "--fs", dir, "--user", "0")
	require.Equal(t, "0\n", r.Stdout, r.Stderr)
}
