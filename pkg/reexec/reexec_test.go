package reexec

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

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
	args := os.Args[len(os.Args)-1:]
	for i, a := range os.Args {
		if a == "--" {
			args = os.Args[i+1:]
			break
		}
	}
	RunChild(func() error {
		switch args[0] {
		case "fail":
			return errors.New("setup failed on purpose")
		case "procs": // the child's Ps, then CMD's GOMAXPROCS, into args[1]
			return Exec([]string{"sh", "-c", `echo "$0 ${GOMAXPROCS-unset}" >"$1"`, strconv.Itoa(runtime.GOMAXPROCS(0)), args[1]})
		}
		return Exec(args)
	})
}

// The child's Go runtime starts with one P, and CMD does not inherit the
// GOMAXPROCS that did it; a GOMAXPROCS the caller set is left to both.
func TestChildOneProc(t *testing.T) {
	if os.Getenv("REEXEC_TEST_CHILD") != "" {
		return
	}
	for _, tc := range []struct{ env, want string }{{"", "1 unset"}, {"GOMAXPROCS=3", "3 3"}} {
		out := filepath.Join(t.TempDir(), "procs")
		cmd := Command(os.Args[0], "-test.run=TestHelperChild", "--", "procs", out)
		cmd.Env = append(without(os.Environ(), "GOMAXPROCS"), "REEXEC_TEST_CHILD=1")
		if tc.env != "" {
			cmd.Env = append(cmd.Env, tc.env)
		}
		code, err := cmd.Run()
		require.NoError(t, err)
		require.Equal(t, 0, code)
		b, err := os.ReadFile(out)
		require.NoError(t, err)
		require.Equal(t, tc.want, strings.TrimSpace(string(b)), "caller's environment: %q", tc.env)
	}
}

// helper is a Cmd whose child runs CMD (TestHelperChild), with the signals
// it forwards caught from now.
func helper(t *testing.T, cmd ...string) *Cmd {
	c := Command(append([]string{os.Args[0], "-test.run=TestHelperChild", "--"}, cmd...)...)
	c.Env = append(os.Environ(), "REEXEC_TEST_CHILD=1")
	c.Signals = Notify()
	t.Cleanup(func() { signal.Stop(c.Signals) })
	return c
}

// A signal that comes while the child is being set up, before Wait, is
// caught (the test survives its own SIGTERM) and passed on once Wait runs.
func TestSignalBeforeGoForwarded(t *testing.T) {
	if os.Getenv("REEXEC_TEST_CHILD") != "" {
		return
	}
	cmd := helper(t, "sleep", "60")
	require.NoError(t, cmd.Start())
	require.NoError(t, syscall.Kill(os.Getpid(), syscall.SIGTERM))
	code, err := cmd.ContinueAndWait()
	require.NoError(t, err)
	require.Equal(t, 143, code)
}

// After a SIGHUP, and a SIGTERM, that the child ignores, Wait still kills it
// once StopTimeout has passed.
func TestStopTimeoutAfterSIGHUP(t *testing.T) {
	if os.Getenv("REEXEC_TEST_CHILD") != "" {
		return
	}
	ready := filepath.Join(t.TempDir(), "ready")
	cmd := helper(t, "sh", "-c", `trap "" HUP TERM; touch "$0"; exec sleep 60`, ready)
	cmd.StopTimeout = 100 * time.Millisecond
	require.NoError(t, cmd.Start())
	require.NoError(t, cmd.Continue())
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		if _, err := os.Stat(ready); err == nil {
			break
		}
		require.False(t, time.Now().After(deadline), "the child never got ready")
	}
	syscall.Kill(os.Getpid(), syscall.SIGHUP)
	syscall.Kill(os.Getpid(), syscall.SIGTERM)
	code, err := cmd.Wait()
	require.NoError(t, err)
	require.Equal(t, 137, code, "not killed after the stop timeout")
}

// The marker alone does not make a child: it must name the socket on fd 3.
func TestChildMarkerNeedsSocket(t *testing.T) {
	t.Setenv(childEnv, "1")
	require.False(t, IsChild())
	t.Setenv(childEnv, Inode(syncFD))
	require.False(t, IsChild(), "fd 3 of a test is no sync socket")
}
