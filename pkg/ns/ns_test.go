package ns

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestCheckHostname(t *testing.T) {
	require.NoError(t, CheckHostname("box"))
	require.NoError(t, CheckHostname(strings.Repeat("a", 64)))
	require.ErrorContains(t, CheckHostname(""), "hostname is empty")
	require.ErrorContains(t, CheckHostname(strings.Repeat("a", 65)), "is 65 bytes: the kernel takes at most 64")
}

func TestInodeSelf(t *testing.T) {
	a, err := Inode(0, "uts")
	require.NoError(t, err)
	require.NotZero(t, a)
	_, err = Inode(0, "nosuch")
	require.Error(t, err)
}
