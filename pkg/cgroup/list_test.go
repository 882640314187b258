package cgroup

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

// List finds each tincan/<id> in any hierarchy, and tells a busy one by the
// kernel's counts (v2 cgroup.events, v1 pids.current), which see processes
// of every PID namespace.
func TestList(t *testing.T) {
	tmp := t.TempDir()
	l := &Layout{Unified: filepath.Join(tmp, "unified"), V1: map[string]string{"pids": filepath.Join(tmp, "pids"), "memory": filepath.Join(tmp, "memory")}}
	for _, d := range []string{"unified/tincan/aaa", "unified/tincan/bbb", "pids/tincan/aaa", "pids/tincan/ccc", "memory"} {
		require.NoError(t, os.MkdirAll(filepath.Join(tmp, d), 0o755))
	}
	writeFiles(t, filepath.Join(l.Unified, "tincan", "aaa"), map[string]string{"cgroup.events": "populated 0\nfrozen 0\n"})
	writeFiles(t, filepath.Join(l.Unified, "tincan", "bbb"), map[string]string{"cgroup.events": "populated 1\nfrozen 0\n"})
	writeFiles(t, filepath.Join(l.V1["pids"], "tincan", "aaa"), map[string]string{"pids.current": "0\n"})
	writeFiles(t, filepath.Join(l.V1["pids"], "tincan", "ccc"), map[string]string{"pids.current": "3\n"})
	// memory has no tincan directory.

	got, err := l.List()
	require.NoError(t, err)
	var ids []string
	busy := map[string]bool{}
	for _, e := range got {
		ids = append(ids, e.ID)
		busy[e.ID] = e.Busy
		require.False(t, e.Made.IsZero(), e.ID)
	}
	require.Equal(t, []string{"aaa", "bbb", "ccc"}, ids)
	require.Equal(t, map[string]bool{"aaa": false, "bbb": true, "ccc": true}, busy)
}
