package reexec

import (
	"testing"
	"unsafe"

	"github.com/stretchr/testify/require"
)

// TestGrowStackOnce checks GrowStack's promise the way the runtime keeps it:
// a stack that grows is copied elsewhere, so a local's address changes.
// After GrowStack, 12 KiB of calls fit where the goroutine stands; without
// it, the same calls move the stack (the control, which shows the test can
// fail).
func TestGrowStackOnce(t *testing.T) {
	moved := func(grow bool) bool {
		done := make(chan bool)
		go func() {
			if grow {
				GrowStack()
			}
			var here byte
			before := uintptr(unsafe.Pointer(&here))
			descend(12)
			done <- before != uintptr(unsafe.Pointer(&here))
		}()
		return <-done
	}
	require.True(t, moved(false), "control: a new goroutine's stack should move for 12 KiB of calls")
	require.False(t, moved(true), "after GrowStack the stack moved: the runtime sized it smaller than 16 KiB")
}

// TestGrowStackStays checks the frame is on the stack: were the array moved
// to the heap, GrowStack would grow nothing.
func TestGrowStackStays(t *testing.T) {
	require.Zero(t, testing.AllocsPerRun(10, GrowStack))
}

// descend takes n KiB of stack, one frame of a little under 1 KiB at a time.
//
//go:noinline
func descend(n int) byte {
	var frame [900]byte
	if n > 0 {
		frame[n] = descend(n - 1)
	}
	return frame[n]
}
