package reexec

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestCode(t *testing.T) {
	require.Equal(t, 125, Code(errors.New("x")))
	require.Equal(t, 127, Code(fmt.Errorf("wrapped: %w", &Error{Code: 127, Err: errors.New("x")})))
}

func TestExitCode(t *testing.T) {
	for script, want := range map[string]int{"exit 0": 0, "exit 3": 3, "kill -KILL $$": 137, "kill -TERM $$": 143} {
		cmd := exec.Command("sh", "-c", script)
		cmd.Run()
		require.Equal(t, want, ExitCode(cmd.ProcessState), script)
	}
}

// A child that fails during setup reports its error to the parent, with its
// code, and one that execs reports nothing. No namespaces needed: clone flags
// 0 is an ordinary child.
func TestChildErrorReachesParent(t *testing.T) {
	if os.Getenv("REEXEC_TEST_CHILD") != "" {
		return
	}
	junk := t.TempDir() + "/junk"
	require.NoError(t, os.WriteFile(junk, []byte{0, 1, 2, 3}, 0o755))
	for _, tc := range []struct {
		arg      string
		wantErr  string
		wantCode int
	}{
		{"fail", "setup failed on purpose", 125},
		{"nosuch-command-tincan", `exec "nosuch-command-tincan": executable file not found in $PATH`, 127},
		{junk, `exec "` + junk + `": exec format error`, 126},
		{"true", "", 0},
	} {
		cmd := Command(os.Args[0], "-test.run=TestHelperChild", "--", tc.arg)
		cmd.Env = append(os.Environ(), "REEXEC_TEST_CHILD=1")
		code, err := cmd.Run()
		if tc.wantErr == "" {
			require.NoError(t, err)
			require.Equal(t, 0, code)
			continue
		}
		require.EqualError(t, err, tc.wantErr)
		require.Equal(t, tc.wantCode, Code(err))
	}
}

// TestHelperChild is the child side of TestChildErrorReachesParent.
func TestHelperChild(t *testing.T) {
	if !IsChild() {
		t.Skip("runs only as the child of TestChildErrorReachesParent")
	}
	arg := os.Args[len(os.Args)-1]
	RunChild(func() error {
		if arg == "fail" {
			return errors.New("setup failed on purpose")
		}
		return Exec([]string{arg})
	})
}
