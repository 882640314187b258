package network

import (
	"testing"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// A dump the kernel marked interrupted is asked for again; one that keeps
// changing ends in an error that says so; other errors are not retried.
func TestDumpAsksAgain(t *testing.T) {
	calls := 0
	l, err := dump(func() ([]int, error) {
		if calls++; calls < 3 {
			return nil, unix.EINTR
		}
		return []int{1, 2}, nil
	})
	require.NoError(t, err)
	require.Equal(t, []int{1, 2}, l)
	require.Equal(t, 3, calls)

	calls = 0
	_, err = dump(func() ([]int, error) { calls++; return nil, unix.EINTR })
	require.ErrorIs(t, err, unix.EINTR)
	require.ErrorContains(t, err, "changed while it was read, 10 times")
	require.Equal(t, 10, calls)

	calls = 0
	_, err = dump(func() ([]int, error) { calls++; return nil, unix.EPERM })
	require.ErrorIs(t, err, unix.EPERM)
	require.Equal(t, 1, calls)
}
