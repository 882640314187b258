package step

import (
	"flag"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"tincan.dev/pkg/reexec"
	"tincan.dev/pkg/testenv"
)

// stepEnv makes the test binary a lesson: Main with one flag of its own, and
// a parent that never starts a child.
const stepEnv = "STEP_TEST_LESSON"

func TestMain(m *testing.M) {
	if os.Getenv(stepEnv) == "1" {
		os.Args = append([]string{"tincan-test-step"}, os.Args[1:]...)
		flag.String("hostname", "box", "a flag of the lesson's own")
		Main("tincan-test-step", "[--hostname NAME] [--] [CMD [ARG...]]",
			func(*reexec.Cmd) (int, error) { return 0, nil },
			func([]string) error { return nil })
	}
	testenv.Main(m)
}

func lesson(t *testing.T, args ...string) testenv.Result {
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(), stepEnv+"=1")
	return testenv.Run(t, cmd)
}

// A mistyped flag: one line naming it, exit 125, not the whole usage.
func TestFlagError(t *testing.T) {
	r := lesson(t, "-x")
	require.Equal(t, reexec.CodeFailed, r.Code)
	require.Equal(t, "tincan-test-step: flag provided but not defined: -x (see tincan-test-step --help)\n", r.Stderr)
	r = lesson(t, "-v=maybe")
	require.Equal(t, reexec.CodeFailed, r.Code)
	require.Equal(t, 1, strings.Count(r.Stderr, "\n"), r.Stderr)
}

// --help: the whole usage on stdout, exit 0. (The test binary's own -test.*
// flags are in the same flag set, so they are listed too.)
func TestHelp(t *testing.T) {
	r := lesson(t, "--help")
	require.Equal(t, 0, r.Code, r.Stderr)
	require.True(t, strings.HasPrefix(r.Stdout, "usage: tincan-test-step [--hostname NAME] [--] [CMD [ARG...]]\n"), r.Stdout)
	require.Contains(t, r.Stdout, "  -hostname string\n    \ta flag of the lesson's own (default \"box\")\n")
	require.Contains(t, r.Stdout, "  -v\ttrace each kernel call (same as TINCAN_TRACE=1)\n")
	require.Empty(t, r.Stderr)
}
