package testenv

import (
	"bytes"
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"testing"
)

// Result is what a command printed and how it ended.
type Result struct {
	Args           []string // the command line, as cmd.Args
	Stdout, Stderr string
	Code           int
}

// String is the whole result, for a failing test's message.
func (r Result) String() string {
	return fmt.Sprintf("%s: exit %d\nstdout: %q\nstderr: %q", strings.Join(r.Args, " "), r.Code, r.Stdout, r.Stderr)
}

// Command prepares name (found in Bin first, through $PATH) with args.
func Command(name string, args ...string) *exec.Cmd {
	return exec.Command(name, args...)
}

// Run runs cmd to completion and returns its output and exit code. It fails
// t only when cmd could not be started at all.
func Run(t testing.TB, cmd *exec.Cmd) Result {
	t.Helper()
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		t.Fatalf("run %v: %v", cmd.Args, err)
	}
	return Result{Args: cmd.Args, Stdout: out.String(), Stderr: errb.String(), Code: cmd.ProcessState.ExitCode()}
}

// RunArgs is Run(t, Command(name, args...)).
func RunArgs(t testing.TB, name string, args ...string) Result {
	t.Helper()
	return Run(t, Command(name, args...))
}
