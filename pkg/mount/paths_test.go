package mount

import (
	"testing"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// statfs's ST_* flags are not mount's MS_* flags: ST_RELATIME (0x1000) is
// MS_BIND's bit. Each must come out as its own mount flag, and no ST_ bit may
// pass through unchanged when the MS_ flag differs.
func TestMountFlags(t *testing.T) {
	for _, tc := range []struct {
		st   int64
		want uintptr
	}{
		{0, 0},
		{unix.ST_RELATIME, unix.MS_RELATIME},
		{unix.ST_RDONLY | unix.ST_NOSUID | unix.ST_NODEV | unix.ST_NOEXEC | unix.ST_RELATIME,
			unix.MS_RDONLY | unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC | unix.MS_RELATIME},
		{unix.ST_NOATIME | unix.ST_NODIRATIME, unix.MS_NOATIME | unix.MS_NODIRATIME},
		{unix.ST_SYNCHRONOUS | unix.ST_MANDLOCK, unix.MS_SYNCHRONOUS | unix.MS_MANDLOCK},
		{1 << 30, 0}, // a flag with no mount flag of its own is dropped
	} {
		got := mountFlags(tc.st)
		require.Equal(t, tc.want, got, "statfs flags %#x: got %#x, want %#x", tc.st, got, tc.want)
		require.Zero(t, got&unix.MS_BIND, "statfs flags %#x became MS_BIND", tc.st)
	}
}
