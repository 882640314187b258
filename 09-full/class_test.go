package main

import (
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"tincan.dev/pkg/cgroup"
	"tincan.dev/pkg/testenv"
)

// asStudent makes cmd run for uid, as root started by that user's sudo:
// pkg/owner then names what it makes after uid.
func asStudent(cmd *exec.Cmd, uid string) *exec.Cmd {
	cmd.Env = append(os.Environ(), "SUDO_UID="+uid)
	if uid == "" {
		cmd.Env = append(os.Environ(), "SUDO_UID=")
	}
	return cmd
}

// holding starts cmd with a pipe on stdin, on which its command waits (read),
// and returns a func that lets it end and returns what it printed.
func holding(t *testing.T, cmd *exec.Cmd, ready string) func() string {
	t.Helper()
	in, err := cmd.StdinPipe()
	require.NoError(t, err)
	out, err := cmd.StdoutPipe()
	require.NoError(t, err)
	var errb strings.Builder
	cmd.Stderr = &errb
	require.NoError(t, cmd.Start())
	t.Cleanup(func() { in.Close(); cmd.Wait() })
	// The command prints ready once it is set up, then waits.
	buf := make([]byte, len(ready))
	_, err = io.ReadFull(out, buf)
	require.NoError(t, err, "%v: %s", cmd.Args, errb.String())
	require.Equal(t, ready, string(buf))
	return func() string {
		in.Close()
		rest, _ := io.ReadAll(out)
		require.NoError(t, cmd.Wait(), errb.String())
		return string(buf) + string(rest)
	}
}

// A class on one server: students who run the lessons through sudo at the
// same time (uids 2001 and 2002 here, and root itself) each get their own
// veth, subnet, cgroups, bridge and state, so none meets or removes what
// another made.
func TestClassSideBySide(t *testing.T) {
	testenv.NeedRoot(t)
	students := []string{"2001", "2002", ""} // "" is root's own names

	// 01-net --veth: each holds its cable while the next one plugs in theirs.
	var ends []func() string
	for _, uid := range students {
		cmd := asStudent(exec.Command(filepath.Join(testenv.Bin, "01-net"), "--veth", "--",
			"sh", "-c", "echo up; ip -4 -o addr show eth0; read x || true"), uid)
		ends = append(ends, holding(t, cmd, "up\n"))
	}
	for _, l := range []string{"tincan-v2001", "tincan-v2002", "tincan-veth0"} {
		_, err := net.InterfaceByName(l)
		require.NoError(t, err, "no host end %s", l)
	}
	seen := map[string]bool{}
	for i, end := range ends {
		out := end()
		f := strings.Fields(out)
		require.GreaterOrEqual(t, len(f), 5, out)
		addr := f[4] // up, index, eth0, inet, ADDRESS/PREFIX
		require.False(t, seen[addr], "two students got %s", addr)
		seen[addr] = true
		if students[i] == "" {
			require.Equal(t, "10.201.0.2/24", addr)
		}
	}

	// can: each student's container has its cgroup at tincan/<uid>-<id>,
	// and a cleanup by one leaves the others' running containers alone.
	root := rootWithProbe(t)
	var cans []func() string
	for _, uid := range students[:2] {
		cmd := asStudent(exec.Command(canBin(), "--pids", "32", "--chroot", root, "--",
			"sh", "-c", "echo up; read x || true"), uid)
		cans = append(cans, holding(t, cmd, "up\n"))
	}
	cgs, err := cgroup.List()
	require.NoError(t, err)
	var ids []string
	for _, c := range cgs {
		ids = append(ids, c.ID)
	}
	for _, uid := range students[:2] {
		r := testenv.Run(t, asStudent(exec.Command(canBin(), "cleanup", "--all"), uid))
		require.Equal(t, 0, r.Code, r.Stderr)
	}
	for _, end := range cans {
		require.Equal(t, "up\n", end(), "a cleanup stopped another student's container")
	}
	prefixes := map[string]int{}
	for _, id := range ids {
		if uid, _, ok := strings.Cut(id, "-"); ok {
			prefixes[uid]++
		}
	}
	require.Equal(t, 1, prefixes["2001"], "%v", ids)
	require.Equal(t, 1, prefixes["2002"], "%v", ids)
}
