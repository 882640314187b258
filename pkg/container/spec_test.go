package container

import (
	"testing"

	"github.com/stretchr/testify/require"

	"tincan.dev/pkg/cgroup"
)

// Limits the kernel would refuse are refused by check, before Run makes a
// state directory or anything else: bad input leaves nothing behind.
func TestCheckRefusesBadLimits(t *testing.T) {
	for _, l := range []cgroup.Limits{{CPUs: -1}, {CPUs: 0.001}, {Memory: -1}, {Pids: -1}} {
		spec := Spec{Args: []string{"true"}, Limits: l}
		require.Error(t, spec.check(), "%+v", l)
	}
	spec := Spec{Args: []string{"true"}, Limits: cgroup.Limits{CPUs: 0.5}}
	require.NoError(t, spec.check())
}
