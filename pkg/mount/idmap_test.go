package mount

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestIDMapped(t *testing.T) {
	file := filepath.Join(t.TempDir(), "gid_map")
	require.NoError(t, os.WriteFile(file, []byte("         0      65534          1\n         1     100000      65536\n"), 0o644))
	require.True(t, idMapped(file, 0))
	require.True(t, idMapped(file, 5))
	require.True(t, idMapped(file, 65536))
	require.False(t, idMapped(file, 65537))
	require.NoError(t, os.WriteFile(file, []byte("0 1000 1\n"), 0o644))
	require.False(t, idMapped(file, 5), "gid 5 is not mapped by a one-line map")
}
