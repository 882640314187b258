package container

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"tincan.dev/pkg/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// The sweep every can makes as it starts, with 20 containers running,
// against the whole of can cleanup.
func BenchmarkSweep(b *testing.B) {
	testenv.NeedRoot(b)
	for i := 0; i < 20; i++ {
		st, err := newState("", fmt.Sprintf("%012x", 0xbe00+i), "", nil)
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { st.remove() })
	}
	b.Run("start", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			if err := sweepDead(""); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("cleanup", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			if err := Cleanup(false); err != nil {
				b.Fatal(err)
			}
		}
	})
	if _, err := os.Stat(StateRoot()); err != nil {
		b.Fatal(err)
	}
}

// The sweep of every start passes over a directory whose can holds its
// lock, without reading its record; once the lock is let go, it reads it.
func TestSweepPassesLocked(t *testing.T) {
	testenv.NeedRoot(t)
	st, err := newState("", "tincan-test-lock", "", nil)
	require.NoError(t, err)
	t.Cleanup(func() { st.remove() })
	// A record no sweep could read: only a sweep that reads it fails.
	require.NoError(t, os.WriteFile(filepath.Join(st.dir, "state.json"), []byte("{"), 0o600))
	require.NoError(t, sweepDead(""))
	st.release()
	require.ErrorContains(t, sweepDead(""), "tincan-test-lock")
}
