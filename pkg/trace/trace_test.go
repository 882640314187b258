package trace

import (
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestFlags(t *testing.T) {
	names := []Flag{{Bit: 1, Name: "A"}, {Bit: 4, Name: "C"}}
	require.Equal(t, "0", Flags(0, names))
	require.Equal(t, "A|C", Flags(5, names))
	require.Equal(t, "A|0x2", Flags(3, names))
}

func TestStr(t *testing.T) {
	require.Equal(t, "NULL", Str(""))
	require.Equal(t, `"/proc"`, Str("/proc"))
}

func TestArgv(t *testing.T) {
	require.Equal(t, `["ps", "-o", "pid"]`, Argv([]string{"ps", "-o", "pid"}))
}

// The kernel's files are written, never created; errors keep the errno.
func TestWriteFileAndMkdir(t *testing.T) {
	dir := t.TempDir()
	f := filepath.Join(dir, "limit")
	require.NoError(t, os.WriteFile(f, nil, 0o644))
	require.NoError(t, WriteFile(f, "16"))
	b, err := os.ReadFile(f)
	require.NoError(t, err)
	require.Equal(t, "16", string(b))
	err = WriteFile(filepath.Join(dir, "missing"), "1")
	require.ErrorIs(t, err, fs.ErrNotExist)
	require.EqualError(t, err, `write "1" to `+dir+`/missing: no such file or directory`)

	require.NoError(t, Mkdir(filepath.Join(dir, "cg"), 0o755))
	require.ErrorIs(t, Mkdir(filepath.Join(dir, "cg"), 0o755), fs.ErrExist)
}

func TestMountErrorNamesTheFix(t *testing.T) {
	err := Mount("proc", "/nonexistent-tincan-test/proc", "proc", 0, "")
	require.Error(t, err)
	require.Contains(t, err.Error(), "mount proc on /nonexistent-tincan-test/proc: ")
}
