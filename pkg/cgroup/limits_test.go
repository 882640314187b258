package cgroup

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestParseLimits(t *testing.T) {
	l, err := ParseLimits("8M", "0.5", "16")
	require.NoError(t, err)
	require.Equal(t, Limits{Memory: 8 << 20, CPUs: 0.5, Pids: 16}, l)
	l, err = ParseLimits("", "", "")
	require.NoError(t, err)
	require.Equal(t, Limits{}, l)
	for _, bad := range [][3]string{{"12XB", "", ""}, {"0", "", ""}, {"", "lots", ""}, {"", "0", ""}, {"", "", "-1"}, {"", "", "1.5"}} {
		_, err := ParseLimits(bad[0], bad[1], bad[2])
		require.Error(t, err, "%q", bad)
	}
	_, err = ParseLimits("12XB", "", "")
	require.ErrorContains(t, err, `--memory: invalid size "12XB"`)
}
