package trace

import (
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
