package cgroup

import (
	"math"
	"runtime"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestParseSize(t *testing.T) {
	for in, want := range map[string]int64{
		"4096": 4096, "100b": 100, "512K": 512 << 10, "512k": 512 << 10, "8M": 8 << 20,
		"8MiB": 8 << 20, "8mb": 8 << 20, "1g": 1 << 30, "1GiB": 1 << 30, "2T": 2 << 40, "0": 0,
	} {
		got, err := ParseSize(in)
		require.NoError(t, err, in)
		require.Equal(t, want, got, in)
	}
	for _, in := range []string{"", "M", "8X", "8 M", "-1", "+8M", "1.5G", "8MM", "0x10", "1e6", "8Mi", "9999999999T", "9223372036854775808"} {
		_, err := ParseSize(in)
		require.ErrorContains(t, err, `invalid size "`+in+`"`, in)
	}
}

func TestFormatSize(t *testing.T) {
	require.Equal(t, "8 MiB", FormatSize(8<<20))
	require.Equal(t, "512 KiB", FormatSize(512<<10))
	require.Equal(t, "1000 bytes", FormatSize(1000))
	require.Equal(t, "7.9 MiB", FormatBytes(8<<20-100<<10))
	require.Equal(t, "812 KiB", FormatBytes(812<<10))
	require.Equal(t, "10 bytes", FormatBytes(10))
}

func TestParseCPUs(t *testing.T) {
	c, err := ParseCPUs("0.2")
	require.NoError(t, err)
	require.Equal(t, 0.2, c)
	for _, in := range []string{"", "x", "NaN", "Inf", "1/2"} {
		_, err := ParseCPUs(in)
		require.ErrorContains(t, err, `invalid CPU count "`+in+`"`)
	}
}

func TestValidate(t *testing.T) {
	require.NoError(t, Limits{}.Validate())
	require.NoError(t, Limits{Memory: 1, CPUs: 0.01, Pids: 1}.Validate())
	require.ErrorContains(t, Limits{CPUs: 0.001}.Validate(), "CPU limit 0.001: the minimum is 0.01 (a quota of 1ms per 100ms period)")
	require.ErrorContains(t, Limits{CPUs: float64(runtime.NumCPU()) + 1}.Validate(), "the CPUs this machine has")
	require.ErrorContains(t, Limits{CPUs: 1e308}.Validate(), "CPU limit 1e+308: the maximum is")
	require.ErrorContains(t, Limits{CPUs: math.NaN()}.Validate(), "CPU limit NaN: the minimum is 0.01")
	require.NoError(t, Limits{CPUs: float64(runtime.NumCPU())}.Validate())
	require.ErrorContains(t, Limits{CPUs: -1}.Validate(), "CPU limit -1")
	require.ErrorContains(t, Limits{Memory: -1}.Validate(), "memory limit -1")
	require.ErrorContains(t, Limits{Pids: -1}.Validate(), "pids limit -1")
}

func TestQuota(t *testing.T) {
	require.Equal(t, int64(20000), quota(0.2))
	require.Equal(t, int64(150000), quota(1.5))
}
