package container

import (
	"fmt"
	"os"
	"testing"

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
