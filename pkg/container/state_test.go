package container

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"
)

// state.json, written without encoding/json on can run's path, is what
// encoding/json would write, byte for byte, and reads back the same.
func TestStateEncode(t *testing.T) {
	for _, s := range []State{
		{ID: "d28c12dbca7f", Owner: 3126, OwnerTime: 98765},
		{ID: "web", Owner: 1, OwnerTime: 2, Pid: 3127, WorkDir: "/var/lib/can/work/web"},
		{ID: "q", WorkDir: `/a "quoted" \\ dir`},
		{ID: "x", WorkDir: "/tmp/<&>"},         // json's HTML escapes
		{ID: "x", WorkDir: "/tmp/tab\there\n"}, // control characters
		{ID: "x", WorkDir: "/tmp/caf\u00e9"},   // not ASCII
		{ID: "oci", Pid: 9, OCI: &OCIState{Bundle: "/b"}},
	} {
		want, err := json.MarshalIndent(&s, "", "  ")
		require.NoError(t, err)
		require.Equal(t, string(want), string(s.encode()))
		var back State
		require.NoError(t, json.Unmarshal(s.encode(), &back))
		require.Equal(t, s, back)
	}
	// Not UTF-8: json writes U+FFFD for the byte, as it would before.
	s := State{ID: "x", WorkDir: "/tmp/\xff"}
	want, _ := json.MarshalIndent(&s, "", "  ")
	require.Equal(t, string(want), string(s.encode()))
}
