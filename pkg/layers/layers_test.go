package layers

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

func mkdirs(t *testing.T, root string, dirs ...string) {
	for _, d := range dirs {
		require.NoError(t, os.MkdirAll(filepath.Join(root, d), 0o755))
	}
}

func TestLowerDirTopFirst(t *testing.T) {
	dir := t.TempDir()
	mkdirs(t, dir, "image/0", "image/1", "image/10", "image/2", "image/junk", "config")
	l := Layers{Dir: dir}
	got, err := l.LowerDir()
	require.NoError(t, err)
	require.Equal(t, dir+"/config:"+dir+"/image/10:"+dir+"/image/2:"+dir+"/image/1:"+dir+"/image/0", got)
}

func TestNoLayers(t *testing.T) {
	dir := t.TempDir()
	_, err := Layers{Dir: dir}.LowerDir()
	require.ErrorContains(t, err, "a layered root needs")
	mkdirs(t, dir, "image")
	_, err = Layers{Dir: dir}.LowerDir()
	require.ErrorContains(t, err, "no layers in")
}

func TestCommit(t *testing.T) {
	dir := t.TempDir()
	mkdirs(t, dir, "image/0", "container")
	require.NoError(t, os.WriteFile(filepath.Join(dir, "container/new"), []byte("x"), 0o644))
	l := Layers{Dir: dir}
	next, err := l.Commit()
	require.NoError(t, err)
	require.Equal(t, filepath.Join(dir, "image/1"), next)
	require.FileExists(t, filepath.Join(dir, "image/1/new"))
	ents, err := os.ReadDir(filepath.Join(dir, "container"))
	require.NoError(t, err)
	require.Empty(t, ents)
}

func TestCommitRefusedWhileInUse(t *testing.T) {
	dir := t.TempDir()
	mkdirs(t, dir, "image/0", "container")
	l := Layers{Dir: dir}
	running, err := l.Lock(false)
	require.NoError(t, err)
	_, err = l.Commit()
	require.ErrorContains(t, err, "is busy: a container is using it")
	running.Close()
	_, err = l.Commit()
	require.NoError(t, err)
}

// Two containers on one DIR would share its upper layer: the second lock is
// refused. The lock is on DIR itself: a failed commit leaves nothing in DIR.
func TestOneContainerAtATime(t *testing.T) {
	dir := t.TempDir()
	mkdirs(t, dir, "image/0")
	l := Layers{Dir: dir}
	first, err := l.Lock(false)
	require.NoError(t, err)
	_, err = l.Lock(false)
	require.ErrorContains(t, err, "is busy: another container runs on it")
	first.Close()
	second, err := l.Lock(false)
	require.NoError(t, err)
	second.Close()

	empty := t.TempDir()
	_, err = Layers{Dir: empty}.Commit()
	require.Error(t, err)
	ents, err := os.ReadDir(empty)
	require.NoError(t, err)
	require.Empty(t, ents)
}
