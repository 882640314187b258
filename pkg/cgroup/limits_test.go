package cgroup

import (
	"fmt"
	"runtime"
	"strings"
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
	l, err = ParseLimits("6M", "0.01", "1")
	require.NoError(t, err, "the lowest values allowed")
	require.Equal(t, Limits{Memory: MinMemory, CPUs: 0.01, Pids: 1}, l)
	n := runtime.NumCPU()
	_, err = ParseLimits("", fmt.Sprint(n), "")
	require.NoError(t, err, "every CPU here")
}

// Each bad value is refused in one line that names the flag, the value and
// what is allowed.
func TestParseLimitsRefuses(t *testing.T) {
	n := runtime.NumCPU()
	low := "the minimum is 0.01 (a quota of 1ms per 100ms period)"
	high := fmt.Sprintf("the maximum is %d, the CPUs this machine has (a bigger quota limits nothing)", n)
	for _, tc := range []struct{ memory, cpus, pids, want string }{
		{"12XB", "", "", `--memory: invalid size "12XB": use bytes or a whole number with K, M, G or T`},
		{"1", "", "", "--memory 1: the minimum memory limit allowed is 6 MiB, as in Docker"},
		{"0", "", "", "--memory 0: the minimum memory limit allowed is 6 MiB"},
		{"6291455", "", "", "--memory 6291455: the minimum memory limit allowed is 6 MiB"},
		{"", "lots", "", `--cpus: invalid CPU count "lots"`},
		{"", "0", "", "--cpus 0: " + low},
		{"", "0.001", "", "--cpus 0.001: " + low},
		{"", "-1", "", "--cpus -1: " + low},
		{"", "1e308", "", "--cpus 1e308: " + high}, // once "at least 0.01": the quota overflowed
		{"", fmt.Sprint(n + 1), "", fmt.Sprintf("--cpus %d: %s", n+1, high)},
		{"", "", "-1", `--pids "-1": give a whole number of processes from 1 up`},
		{"", "", "1.5", `--pids "1.5": give a whole number`},
	} {
		_, err := ParseLimits(tc.memory, tc.cpus, tc.pids)
		require.Error(t, err, "%+v", tc)
		require.True(t, strings.HasPrefix(err.Error(), tc.want), "%+v: got %q", tc, err)
		require.NotContains(t, err.Error(), "\n")
	}
}
