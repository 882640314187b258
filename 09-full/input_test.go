package main

import (
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"tincan.dev/pkg/testenv"
)

// Bad input gets exit code 125 and one line naming the flag and the value,
// before anything is made: no state dir, no cgroup. Each case was once
// accepted, or answered with the wrong reason.
func TestRefusedInput(t *testing.T) {
	testenv.NeedRoot(t)
	root := rootWithProbe(t)
	cpus := strconv.Itoa(runtime.NumCPU())
	for _, tc := range []struct {
		args []string
		want string
	}{
		// A newline would add a line to the container's /etc/hosts.
		{[]string{"--hostname", "box\n6.6.6.6 bank"}, `can: hostname "box\n6.6.6.6 bank": '\n' is not allowed: use letters, digits, '-' and '.' (RFC 1123)` + "\n"},
		{[]string{"--hostname", "-box"}, `can: hostname "-box": label "-box" starts or ends with '-'`},
		// Was accepted, then CMD was OOM-killed before it started.
		{[]string{"--memory", "1"}, "can: --memory 1: the minimum memory limit allowed is 6 MiB, as in Docker"},
		{[]string{"--memory", "12XB"}, `can: --memory: invalid size "12XB": use bytes or a whole number with K, M, G or T`},
		// Was "must be at least 0.01": the quota overflowed.
		{[]string{"--cpus", "1e308"}, "can: --cpus 1e308: the maximum is " + cpus + ", the CPUs this machine has"},
		{[]string{"--stop-timeout", "-5s"}, "can: --stop-timeout -5s: give a duration of 0 or more, such as 10s\n"},
		// Was "executable file not found": the tmpfs hid the whole root.
		{[]string{"--tmpfs", "/"}, "can: --tmpfs /: cannot hide the container's root: give a directory in it, such as /tmp"},
		{[]string{"--tmpfs", "//:size=1m"}, "can: --tmpfs //:size=1m: cannot hide the container's root"},
		// Was the reason followed by the whole usage, 45 lines.
		{[]string{"-x"}, "can: flag provided but not defined: -x (see can --help)\n"},
		{[]string{"--stop-timeout", "soon"}, `can: invalid value "soon" for flag -stop-timeout: parse error (see can --help)` + "\n"},
	} {
		args := append([]string{"--chroot", root}, tc.args...)
		r := can(t, append(args, "--", "/probe", "hostname")...)
		require.Equal(t, 125, r.Code, "%q: %s", tc.args, r.Stderr)
		require.Empty(t, r.Stdout, "%q: CMD ran", tc.args)
		require.Equal(t, 1, strings.Count(r.Stderr, "\n"), "%q: want one line, got %q", tc.args, r.Stderr)
		require.True(t, strings.HasPrefix(r.Stderr, tc.want), "%q: got %q, want %q", tc.args, r.Stderr, tc.want)
	}
	requireNoState(t)

	// The lowest values still work.
	r := can(t, "--chroot", root, "--memory", "6M", "--cpus", "0.01", "--stop-timeout", "0s", "--hostname", "a-1.b", "--", "/probe", "hostname")
	require.Equal(t, 0, r.Code, r.Stderr)
	require.Equal(t, "a-1.b\n", r.Stdout)
}

// --help (and -h) prints the whole usage, to stdout, and exits 0.
func TestHelp(t *testing.T) {
	for _, flag := range []string{"--help", "-h"} {
		r := testenv.Run(t, exec.Command(canBin(), flag))
		require.Equal(t, 0, r.Code, r.Stderr)
		require.Empty(t, r.Stderr)
		require.True(t, strings.HasPrefix(r.Stdout, "usage: can [flags] [--] [CMD [ARG...]]\n"), r.Stdout)
		require.Greater(t, strings.Count(r.Stdout, "\n"), 30, "the whole usage")
		require.Contains(t, r.Stdout, "  -stop-timeout duration\n")
	}
}
